#!/usr/bin/env bash
# A second Docker engine whose data root (volumes included) is on a copy-on-write
# filesystem: an XFS image made with `mkfs.xfs -m reflink=1`, loop-mounted. It is the
# machine a user gets by putting /var/lib/docker on XFS or btrfs, for the data tests
# and bench rows of the reflink path. Root only (loop devices, a daemon).
#
#   scripts/cow-engine.sh start   # idempotent; prints the export line for its socket
#   scripts/cow-engine.sh stop
#   scripts/cow-engine.sh start plain   # the same engine with its data root on this
#   scripts/cow-engine.sh stop plain    # machine's own disk (no reflink): the data
#                                       # tests' lane beside the main engine's tests
#
# Its own exec root, pid file, socket, containerd and default bridge (kinfracow0,
# made here: `--bridge=none` would make dockerd delete docker0, the main engine's),
# and no iptables rules, so it never touches the main engine's networks. The images the
# tests use are copied in from the main engine (docker save | docker load).
set -euo pipefail
if [ "${2:-}" = plain ]; then
  # The data tests' project publishes no host port and names its own objects: on an
  # engine of their own they run beside the main engine's tests (which take turns
  # for host ports), a few minutes off the suite. Plain disk: the copy path the
  # main engine takes, not the reflink one.
  DIR="${KINFRA_DATA_ENGINE_DIR:-/var/tmp/kinfra-data-engine}"
  BRIDGE=kinfradata0
  BRIDGE_IP=10.254.253.1/24
  PLAIN=1
  VAR=KINFRA_TEST_DATA_DOCKER_HOST
else
  DIR="${KINFRA_COW_DIR:-/var/tmp/kinfra-cow}"
  # A second one beside it (KINFRA_COW_DIR elsewhere) needs its own bridge.
  BRIDGE="${KINFRA_COW_BRIDGE:-kinfracow0}"
  BRIDGE_IP="${KINFRA_COW_BRIDGE_IP:-10.254.254.1/24}"
  PLAIN=0
  VAR=KINFRA_TEST_COW_DOCKER_HOST
fi
MNT="$DIR/mnt"
SOCK="unix://$DIR/docker.sock"
IMAGES=("${KINFRA_DEMO_IMAGE:-busybox:1.35}" "${KINFRA_TEST_POSTGRES_IMAGE:-kinfra-test/postgres:15-bookworm}")

up() { DOCKER_HOST="$SOCK" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case "${1:-start}" in
start)
  if ! up; then
    [ "$(id -u)" = 0 ] || { echo "error: the copy-on-write engine needs root" >&2; exit 1; }
    mkdir -p "$MNT"
    if [ "$PLAIN" = 0 ]; then
      command -v mkfs.xfs >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs >/dev/null
      }
      if ! mountpoint -q "$MNT"; then
        [ -f "$DIR/xfs.img" ] || { truncate -s 12G "$DIR/xfs.img" && mkfs.xfs -q -m reflink=1 "$DIR/xfs.img"; }
        mount -o loop "$DIR/xfs.img" "$MNT"
      fi
    fi
    echo '{}' >"$DIR/daemon.json"
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
      ip link add "$BRIDGE" type bridge
      ip addr add "$BRIDGE_IP" dev "$BRIDGE"
      ip link set "$BRIDGE" up
    fi
    nohup dockerd --config-file "$DIR/daemon.json" --data-root "$MNT/docker" \
      --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" -H "$SOCK" \
      --bridge="$BRIDGE" --iptables=false --ip6tables=false --mtu 1400 \
      >"$DIR/dockerd.log" 2>&1 &
    for _ in $(seq 1 100); do up && break; sleep 0.2; done
    up || { tail -20 "$DIR/dockerd.log" >&2; echo "error: the engine at $SOCK did not start" >&2; exit 1; }
  fi
  for i in "${IMAGES[@]}"; do
    if ! DOCKER_HOST="$SOCK" docker image inspect "$i" >/dev/null 2>&1; then
      docker save "$i" | DOCKER_HOST="$SOCK" docker load -q >/dev/null
    fi
  done
  echo "export $VAR=$SOCK"
  ;;
stop)
  if [ -f "$DIR/docker.pid" ]; then
    kill "$(cat "$DIR/docker.pid")" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -f "$DIR/docker.pid" ] || break; sleep 0.2; done
  fi
  if [ "$PLAIN" = 0 ] && mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT"; fi
  ip link del "$BRIDGE" 2>/dev/null || true
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
