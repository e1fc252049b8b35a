#!/usr/bin/env bash
# Installs what Backstop needs on a fresh Debian 12 machine with Node 20, then the workspace.
#   scripts/setup.sh           runtime + build tools (quick start)
#   scripts/setup.sh --test    plus everything the full test suite drives for real
#                              (btrfs, zfs-fuse, mosquitto, VictoriaMetrics, REAR, sanoid, btrbk, smartmontools,
#                              OpenSSH server, restic, rclone; moto's S3 emulator from pip)
# Idempotent; needs root for apt (uses sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found: $(node -v 2>/dev/null || echo none))." >&2
  echo "setup: install it from Debian's nodesource/nodejs package, then run this again." >&2
  exit 1
fi

pkgs=(build-essential python3 tar gzip ca-certificates)
if [ "$want_test" = 1 ]; then
  # udev: rear's `format` needs udevadm; cpio: rear needs it but does not depend on it (env-feasibility §6).
  pkgs+=(btrfs-progs zfs-fuse mosquitto mosquitto-clients victoria-metrics smartmontools sanoid btrbk
         rear extlinux cpio udev util-linux e2fsprogs dosfstools parted
         openssh-server openssh-client restic rclone iproute2)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  # Tests start their own sshd/mosquitto on loopback ports: keep apt from starting the system daemons
  # (policy-rc.d exit 101 = "action forbidden"), and only remove a policy-rc.d this script wrote.
  policy=/usr/sbin/policy-rc.d
  wrote_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && wrote_policy=1
    trap '[ "$wrote_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# moto's S3 server: an S3 EMULATOR with the object-lock API, for the S3 object-lock probe's tests (no real S3 server
# with object lock installs from Debian: env-feasibility-wave2.md §3). Debian 12's pip refuses to touch the system
# Python (PEP 668) unless told; moto and its dependencies go to /usr/local, apart from Debian's packages.
if [ "$want_test" = 1 ] && ! command -v moto_server >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  echo "setup: pip install moto[server]==5.2.1"
  $SUDO python3 -m pip install --quiet 'moto[server]==5.2.1' 2>/dev/null ||
    $SUDO python3 -m pip install --quiet --break-system-packages 'moto[server]==5.2.1'
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v | cut -d. -f1)" != "10" ]; then
  echo "setup: npm install -g pnpm@10.34.9"
  $SUDO npm install -g pnpm@10.34.9 >/dev/null
fi

# Offline native builds (better-sqlite3): node-gyp uses the local headers, never downloads them.
export npm_config_nodedir=/usr
pnpm install --frozen-lockfile
