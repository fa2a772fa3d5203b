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
    [script]=bsdutils [chromium]=chromium [firefox-esr]=firefox-esr [pdfinfo]=poppler-utils [pdftotext]=poppler-utils
    [wixl]=wixl [msibuild]=msitools [msiinfo]=msitools [systemd-analyze]=systemd [flock]=util-linux [setpriv]=util-linux
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
  # PostgreSQL for test/server/postgres.test.ts: the machine's own on 127.0.0.1:5432 when one
  # answers there; else a cluster of the tests' own (trust auth, port 54329, database `test`),
  # made once and started here — scripts/test.sh then points the test at it
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
    pgver=$(ls /usr/lib/postgresql | sort -V | tail -1)
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$pgver kyokatest"; then
      echo "== PostgreSQL: a test cluster on 127.0.0.1:54329"
      pg_createcluster "$pgver" kyokatest -p 54329 -- --auth=trust >/dev/null
    fi
    pg_ctlcluster "$pgver" kyokatest start 2>/dev/null || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 54329 && break; sleep 1; done
    psql -h 127.0.0.1 -p 54329 -U postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1 \
      || psql -h 127.0.0.1 -p 54329 -U postgres -qc "create database test"
  fi
fi
