#!/bin/sh
# The macOS recipe — run ON A MAC (arm64 or x64) from the repository, with the same Node version
# as the Linux build (a SEA blob only works in the Node that made it), after `npm ci`:
#
#   bash installers/build.sh linux   # only to make installers/out/work/kyoka.cjs + server.cjs (the
#                                    # bundles); or run installers/sea/bundle.mjs as build.sh does
#   sh installers/macos/build-pkg.sh arm64      (or x64; the Mac's own architecture)
#
# → installers/out/kyoka-darwin-<arch> (the single executable, ad-hoc signed; sign it with your
#   Developer ID and notarize for distribution) and installers/out/kyoka-<version>-darwin-<arch>.pkg
#   (pkgbuild: /usr/local/kyoka/kyoka + the launchd plist; postinstall = install.sh's steps with a
#   config pre-seeded by the MDM in /Library/Application Support/kyoka/agent.yaml).
set -eu
arch="${1:?usage: build-pkg.sh arm64|x64}"
cd "$(dirname "$0")/../.."
out=installers/out
work="$out/work/darwin-$arch"
version="$(node -p 'require("./package.json").version')"
[ "$(uname -s)" = Darwin ] || { echo "build-pkg.sh runs on macOS (codesign, pkgbuild)" >&2; exit 1; }
[ -f "$out/work/kyoka.cjs" ] && [ -f "$out/work/server.cjs" ] || { echo "no bundles: run the bundle step of installers/build.sh first" >&2; exit 1; }
mkdir -p "$work"

# 1. the SEA: blob from this node (with koffi's darwin library), injected into a copy of it
node installers/sea/sea-config.mjs "$work" "$out/work/kyoka.cjs" "$work/sea.blob" yes "node_modules/koffi/build/koffi/darwin_$arch/koffi.node"
node --experimental-sea-config "$work/sea-config.json"
cp "$(node -p process.execPath)" "$out/kyoka-darwin-$arch"
codesign --remove-signature "$out/kyoka-darwin-$arch"
npx postject "$out/kyoka-darwin-$arch" NODE_SEA_BLOB "$work/sea.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 --macho-segment-name NODE_SEA
codesign --sign - "$out/kyoka-darwin-$arch"

# 2. the package
root="$work/root"
scripts="$work/scripts"
rm -rf "$root" "$scripts"
mkdir -p "$root/usr/local/kyoka" "$root/Library/LaunchDaemons" "$scripts"
cp "$out/kyoka-darwin-$arch" "$root/usr/local/kyoka/kyoka"
cp installers/macos/jp.kyoka.agent.plist "$root/Library/LaunchDaemons/"
cat > "$scripts/postinstall" <<'POST'
#!/bin/sh
# config pre-seeded by the MDM (or written before with `kyoka configure`); enroll; start
support="/Library/Application Support/kyoka"
install -d -m 0700 "$support" /Library/Logs/kyoka /Library/Caches/kyoka
if [ -f "$support/agent.yaml" ]; then
  chmod 0600 "$support/agent.yaml"
  KYOKA_RUNTIME_DIR="$support/runtime" /usr/local/kyoka/kyoka enroll --config "$support/agent.yaml" || true
fi
launchctl bootout system/jp.kyoka.agent 2>/dev/null || true
launchctl bootstrap system /Library/LaunchDaemons/jp.kyoka.agent.plist
exit 0
POST
chmod 0755 "$scripts/postinstall"
pkgbuild --root "$root" --scripts "$scripts" --identifier jp.kyoka.agent --version "$version" \
  --install-location / "$out/kyoka-$version-darwin-$arch.pkg"
echo "built $out/kyoka-darwin-$arch and $out/kyoka-$version-darwin-$arch.pkg"
