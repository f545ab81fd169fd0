#!/usr/bin/env bash
# A test lane: a Docker engine of its own in a network namespace of its own, where a
# test binary runs beside the main engine's tests instead of after them. The main
# engine's Docker tests take turns (they publish host ports, and each test's kinfra
# picks the same ones); in a lane, the host ports, loopback and `localhost` are the
# namespace's, the engine is the lane's, so a lane's tests take turns only among
# themselves. Root only (a namespace, a daemon, a mount).
#
#   scripts/lane-engine.sh start N        # idempotent; N a small number (1, 2, ...)
#   scripts/lane-engine.sh run N CMD ...  # CMD in lane N: its network namespace, and a
#                                         # mount namespace where the default socket
#                                         # (/run/docker.sock) is the lane's engine
#   scripts/lane-engine.sh stop N
#
# The command sees the machine as a user's: `docker` with no DOCKER_HOST, compose,
# kinfra and the tests' harness all reach /run/docker.sock, which there is the lane's
# engine, so nothing in the tests knows it runs in a lane but the harness's Docker
# lock, which is the lane's own (KINFRA_TEST_LANE). The other test engines (the
# copy-on-write and data engines) are reached by their sockets' paths as before; the
# SSH rig's address is not routed into a lane, so its tests stay on the main one.
# nsenter, not `ip netns exec` (which remounts /sys and hides the cgroups dockerd
# needs). The images the tests start from are copied in from the main engine.
set -euo pipefail
N="${2:-}"
[[ "$N" =~ ^[1-9][0-9]?$ ]] || { echo "usage: $0 start|run|stop N [CMD ...]  (N: 1 to 99)" >&2; exit 2; }
DIR="/var/tmp/kinfra-lane$N"
NS="kinfralane$N"
SOCK="$DIR/docker.sock"
IMAGES=("${KINFRA_DEMO_IMAGE:-busybox:1.35}" "${KINFRA_TEST_POSTGRES_IMAGE:-kinfra-test/postgres:15-bookworm}")
NSENTER=(nsenter "--net=/var/run/netns/$NS")

up() { DOCKER_HOST="unix://$SOCK" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  [ "$(id -u)" = 0 ] || { echo "error: a test lane needs root (a namespace, a daemon)" >&2; exit 1; }
  mkdir -p "$DIR"
  [ -e "/var/run/netns/$NS" ] || ip netns add "$NS"
  ip -n "$NS" link set lo up
  if ! up; then
    # The main engine's settings (MTU, logs) but not its data root or storage
    # driver: a directory of its own, overlay2 on this disk where it works.
    echo '{"mtu": 1400, "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}' >"$DIR/daemon.json"
    "${NSENTER[@]}" nohup dockerd --config-file "$DIR/daemon.json" --data-root "$DIR/data" \
      --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" -H "unix://$SOCK" \
      >"$DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do up && break; sleep 0.2; done
    up || { tail -20 "$DIR/dockerd.log" >&2; echo "error: the lane-$N engine at $SOCK did not start" >&2; exit 1; }
  fi
  for i in "${IMAGES[@]}"; do
    if ! DOCKER_HOST="unix://$SOCK" docker image inspect "$i" >/dev/null 2>&1; then
      docker save "$i" | DOCKER_HOST="unix://$SOCK" docker load -q >/dev/null
    fi
  done
}

run() {
  shift 2
  [ "$#" -gt 0 ] || { echo "usage: $0 run N CMD ..." >&2; exit 2; }
  up || { echo "error: lane $N is not started ($0 start $N)" >&2; exit 1; }
  # DOCKER_HOST and a context would send docker past the socket: the lane's engine
  # is the default one there.
  unset DOCKER_HOST DOCKER_CONTEXT
  export KINFRA_TEST_LANE="$N"
  exec "${NSENTER[@]}" -- unshare --mount --propagation private -- \
    bash -c 'mount --bind "$1" /run/docker.sock && shift && exec "$@"' lane "$SOCK" "$@"
}

# Returns once the lane's dockerd is gone (a start right after must not find it
# shutting down), then removes the namespace; the data root stays, as a cache of
# the copied images.
stop() {
  local pid
  pid=$(cat "$DIR/docker.pid" 2>/dev/null || true)
  # Only the lane's own dockerd (a dockerd in the lane's namespace): a pid file left
  # by a crash may name another process by now.
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] \
    && [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/var/run/netns/$NS" 2>/dev/null)" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  [ ! -e "/var/run/netns/$NS" ] || ip netns del "$NS" 2>/dev/null || true
}

case "${1:-}" in
start) start ;;
run) run "$@" ;;
stop) stop ;;
*) echo "usage: $0 start|run|stop N [CMD ...]" >&2; exit 2 ;;
esac
