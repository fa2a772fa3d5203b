#!/bin/sh
# Removes the kyoka agent from a Mac (run as root). --keep-data keeps the config and the state.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo)" >&2; exit 1; }
support="/Library/Application Support/kyoka"
launchctl bootout system/jp.kyoka.agent 2>/dev/null || true
rm -f /Library/LaunchDaemons/jp.kyoka.agent.plist
if [ "${1:-}" != "--keep-data" ] && [ -x /usr/local/kyoka/kyoka ]; then
  KYOKA_RUNTIME_DIR="$support/runtime" /usr/local/kyoka/kyoka purge --config "$support/agent.yaml" --state-dir "$support" || true
  rm -rf "$support" /Library/Logs/kyoka /Library/Caches/kyoka
fi
rm -rf /usr/local/kyoka
pkgutil --forget jp.kyoka.agent >/dev/null 2>&1 || true
echo "kyoka agent removed"
