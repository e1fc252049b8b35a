#!/usr/bin/env bash
# Brings zfs-fuse up once per machine (it allows one daemon) and waits until `zpool` answers. Idempotent, and
# safe to call from parallel test files: the whole check-and-start runs under one flock.
#   scripts/zfs-fuse-up.sh [wait-seconds]     exit 0 = up; exit 1 = not up, with the reason on stderr
# Why this is more than `zfs-fuse --pidfile …`: a pidfile left by a daemon that no longer runs (a killed
# session, a machine restored from a snapshot without its processes) makes zfs-fuse exit 0 at once, silently,
# and a stale socket looks like a daemon that never answers. Both are removed when no zfs-fuse owns them.
set -uo pipefail

wait_s=${1:-30}
pidfile=/run/zfs-fuse.pid
socket=/run/zfs/zfs_socket
lock=/run/lock/backstop-zfs-fuse.lock

if [ "$(id -u)" -ne 0 ]; then
  echo "zfs-fuse-up: needs root" >&2
  exit 1
fi
for c in zfs-fuse zpool flock; do
  command -v "$c" >/dev/null 2>&1 || { echo "zfs-fuse-up: command not found: $c (scripts/setup.sh --test installs it)" >&2; exit 1; }
done

# (zpool aborts, loudly, while the daemon is still coming up: that noise is silenced.)
answers() { [ -S "$socket" ] && { timeout 10 zpool list -H; } >/dev/null 2>&1; } 2>/dev/null

mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
flock -w 120 9 || { echo "zfs-fuse-up: timed out waiting for $lock" >&2; exit 1; }

# Start only when no zfs-fuse runs at all: one that runs but does not answer yet is starting (or stopping,
# after a kill: then it is gone on a later turn and we start ours). A few attempts, never a pile of daemons.
attempts=0
said=""
for _ in $(seq 1 $((wait_s * 10))); do
  answers && exit 0
  if [ "$attempts" -lt 3 ] && ! pgrep -x zfs-fuse >/dev/null; then
    attempts=$((attempts + 1))
    rm -f "$pidfile" "$socket"
    # 9>&-: the daemon must not inherit (and so hold) the lock.
    err=$(zfs-fuse --pidfile "$pidfile" 2>&1 9>&-)
    said="started zfs-fuse ${attempts}× (last rc=$?${err:+, said: $err})."
  fi
  sleep 0.1
done

{
  echo "zfs-fuse-up: zfs-fuse did not answer within ${wait_s} s. ${said}"
  echo "  pidfile: $(cat "$pidfile" 2>/dev/null || echo none); running: $(pgrep -a zfs-fuse | tr '\n' ';' || true)"
  echo "  socket: $(ls -l "$socket" 2>&1); /dev/fuse: $(ls -l /dev/fuse 2>&1)"
  echo "  zpool list: $(timeout 10 zpool list -H 2>&1 | head -3 | tr '\n' ';')"
} >&2
exit 1
