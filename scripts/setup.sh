#!/usr/bin/env bash
# Installs what kyoka needs, only when missing: npm packages (npm ci) and, with --test, the Debian
# packages the test suite drives for real (ClamAV, exFAT/FAT FUSE, cryptsetup, P2P clients in
# network namespaces). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--test" ]; then
  # command → Debian package
  declare -A need=(
    [dpkg-deb]=dpkg [ip]=iproute2 [openssl]=openssl [losetup]=mount [mkfs.ext4]=e2fsprogs
    [mkfs.exfat]=exfatprogs [mount.exfat-fuse]=exfat-fuse [fusefat]=fusefat [cryptsetup]=cryptsetup-bin
    [clamscan]=clamav [qbittorrent-nox]=qbittorrent-nox [transmission-daemon]=transmission-daemon
    [lsblk]=util-linux [unshare]=util-linux [dmidecode]=dmidecode [who]=coreutils
    [script]=bsdutils [chromium]=chromium [pdfinfo]=poppler-utils [pdftotext]=poppler-utils
    [wixl]=wixl [msibuild]=msitools [msiinfo]=msitools [systemd-analyze]=systemd [flock]=util-linux
    [deb-systemd-helper]=init-system-helpers [debconf-set-selections]=debconf
    [psql]=postgresql-client [pg_ctlcluster]=postgresql
  )
  missing=()
  for cmd in "${!need[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
  done
  # a Japanese font, so the dashboard's screenshots (test-artifacts/) show text, not boxes
  [ -e /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ] || missing+=(fonts-ipafont-gothic)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "the tests need these Debian packages (install them as root): ${missing[*]}" >&2
      exit 1
    fi
    echo "== apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
  fi
fi

if [ "${1:-}" = "--test" ]; then
  # Wine + the Windows node.exe + one prefix, for the Windows agent/installer tests (cached)
  bash scripts/wine-setup.sh >/dev/null
fi
