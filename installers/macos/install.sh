#!/bin/sh
# Installs the kyoka agent on a Mac (run as root): the executable, the config, enrollment, the
# launchd daemon. What the .pkg's postinstall does too (build-pkg.sh).
#   sudo sh install.sh ./kyoka-darwin-arm64 wss://kyoka.example:8443 ENROLLTOKEN
# (or without URL and token when /Library/Application Support/kyoka/agent.yaml is already there,
# e.g. put there by an MDM). The MDM must also grant the privacy permissions in README.md.
set -eu
exe="${1:?usage: install.sh <kyoka executable> [server URL] [enrollment token]}"
server="${2:-}"
token="${3:-}"
here="$(cd "$(dirname "$0")" && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

support="/Library/Application Support/kyoka"
plist=/Library/LaunchDaemons/jp.kyoka.agent.plist

# an upgrade: stop the running agent first (its state is kept)
launchctl bootout system/jp.kyoka.agent 2>/dev/null || true

install -d -m 0755 -o root -g wheel /usr/local/kyoka
install -m 0755 -o root -g wheel "$exe" /usr/local/kyoka/kyoka
install -d -m 0700 -o root -g wheel "$support" /Library/Logs/kyoka /Library/Caches/kyoka

if [ -n "$server" ]; then
  /usr/local/kyoka/kyoka configure --config "$support/agent.yaml" --state-dir "$support" --server "$server" ${token:+--enroll-token "$token"}
fi
[ -f "$support/agent.yaml" ] || { echo "no $support/agent.yaml: give the server URL and token" >&2; exit 1; }
chmod 0600 "$support/agent.yaml"
KYOKA_RUNTIME_DIR="$support/runtime" /usr/local/kyoka/kyoka enroll --config "$support/agent.yaml" \
  || echo "kyoka could not enroll now; the agent retries at each start" >&2

install -m 0644 -o root -g wheel "$here/jp.kyoka.agent.plist" "$plist"
launchctl bootstrap system "$plist"
launchctl enable system/jp.kyoka.agent
echo "kyoka agent installed: /usr/local/kyoka/kyoka, $plist"
