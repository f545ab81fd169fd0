#!/usr/bin/env bash
# A "remote" Docker engine on this machine, reached only over SSH, for the remote-engine
# tests and bench rows: a network namespace joined to this one by a veth pair
# (10.253.0.1/30 here, 10.253.0.2/30 there), a dockerd inside it (vfs storage, no
# iptables, its own data, exec root, containerd and socket), and an sshd beside it
# listening only on the namespace side, key-only, whose sessions get
# DOCKER_HOST=unix://SOCK so that `docker system dial-stdio` over SSH reaches that engine
# and never this machine's. Root only (a namespace, a user, two daemons).
#
#   scripts/remote-engine.sh start   # idempotent; prints the export lines to eval
#   scripts/remote-engine.sh stop    # stops both daemons, removes the namespace and veth
#   scripts/remote-engine.sh kill-ssh     # drops every SSH session (sshd keeps listening)
#   scripts/remote-engine.sh stop-docker  # stops only the engine (sshd stays: "engine gone")
#
# Facts this leans on: nsenter (not `ip netns exec`, which remounts /sys and hides the
# cgroups dockerd needs); OpenSSH finds ~/.ssh through the user database, not $HOME, so
# the client side is an include in /etc/ssh/ssh_config.d scoped to the namespace's
# address (Docker's SSH transport reads the user's ssh config and nothing else); sshd
# without PAM refuses an account whose password field is `!`, so the user gets `*`.
set -euo pipefail
DIR="${KINFRA_REMOTE_DIR:-/var/tmp/kinfra-remote}"
NS="${KINFRA_REMOTE_NS:-kinfraremote}"
HOST_IF=kre0
NS_IF=kre1
HOST_IP=10.253.0.1
NS_IP=10.253.0.2
PORT=2222
USER_NAME="${KINFRA_REMOTE_USER:-kinfrarem}"
GROUP=kinfraremote
HOME_DIR="$DIR/home"
SOCK="$DIR/run/docker.sock"
CLIENT_CONF=/etc/ssh/ssh_config.d/kinfra-remote-test.conf
IMAGES=("${KINFRA_DEMO_IMAGE:-busybox:1.35}")
NSENTER=(nsenter "--net=/var/run/netns/$NS")

engine_up() { DOCKER_HOST="unix://$SOCK" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
ssh_up() {
  ssh -o BatchMode=yes -o ConnectTimeout=3 -p "$PORT" "$USER_NAME@$NS_IP" true >/dev/null 2>&1
}
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || { echo "error: the remote-engine rig needs root" >&2; exit 1; }
  command -v sshd >/dev/null && command -v rsync >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync >/dev/null
  }
  # The rig's files are root's, not writable by the test user; sshd runs with
  # StrictModes off only because /var/tmp above them is world-writable (sticky).
  mkdir -p "$DIR" "$DIR/run" "$DIR/client" "$DIR/sshd"
  chmod 755 "$DIR" "$DIR/run" "$DIR/sshd"
  chmod 700 "$DIR/client"

  # The network: a namespace with its loopback up (sshd forwards to 127.0.0.1 there,
  # where docker's proxy publishes the containers' ports) and a veth to this side.
  [ -e "/var/run/netns/$NS" ] || ip netns add "$NS"
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name "$NS_IF"
    ip link set "$NS_IF" netns "$NS"
    ip addr add "$HOST_IP/30" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    ip -n "$NS" addr add "$NS_IP/30" dev "$NS_IF"
    ip -n "$NS" link set "$NS_IF" up
  fi
  ip -n "$NS" link set lo up

  # The user: its own group (the socket's), its own home, a `*` password field.
  getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
  mkdir -p "$HOME_DIR" && chmod 755 "$HOME_DIR"
  if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --home-dir "$HOME_DIR/$USER_NAME" --create-home --shell /bin/sh \
      --gid "$GROUP" "$USER_NAME"
  fi
  usermod -p '*' "$USER_NAME"

  # The engine.
  if ! engine_up; then
    echo '{}' >"$DIR/daemon.json"
    "${NSENTER[@]}" nohup dockerd --config-file "$DIR/daemon.json" --data-root "$DIR/data" \
      --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" -H "unix://$SOCK" \
      --storage-driver vfs --iptables=false --ip6tables=false --group "$GROUP" \
      >"$DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do engine_up && break; sleep 0.2; done
    engine_up || { tail -20 "$DIR/dockerd.log" >&2; echo "error: the remote engine did not start" >&2; exit 1; }
  fi
  for i in "${IMAGES[@]}"; do
    if ! DOCKER_HOST="unix://$SOCK" docker image inspect "$i" >/dev/null 2>&1; then
      docker save "$i" | DOCKER_HOST="unix://$SOCK" docker load -q >/dev/null
    fi
  done

  # Keys: the server's host key, the client's key (its public half authorized).
  [ -f "$DIR/sshd/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/sshd/host_ed25519"
  [ -f "$DIR/client/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/client/id_ed25519"
  install -m 644 "$DIR/client/id_ed25519.pub" "$DIR/sshd/authorized_keys"
  echo "[$NS_IP]:$PORT $(cut -d' ' -f1,2 "$DIR/sshd/host_ed25519.pub")" >"$DIR/client/known_hosts"
  cat >"$DIR/sshd/sshd_config" <<EOF
ListenAddress $NS_IP:$PORT
HostKey $DIR/sshd/host_ed25519
PidFile $DIR/sshd/sshd.pid
AuthorizedKeysFile $DIR/sshd/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $USER_NAME
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 64
MaxStartups 64:30:128
SetEnv DOCKER_HOST=unix://$SOCK
Subsystem sftp internal-sftp
EOF
  # The client side, scoped to the namespace's address: Docker's SSH transport, rsync
  # and kinfra's own ssh read it like any user's config.
  cat >"$CLIENT_CONF" <<EOF
# kinfra's remote-engine test rig (scripts/remote-engine.sh); removed by its stop.
Host $NS_IP
  IdentityFile $DIR/client/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/client/known_hosts
  StrictHostKeyChecking yes
EOF
  mkdir -p /run/sshd && chmod 755 /run/sshd
  if ! pid_alive "$DIR/sshd/sshd.pid"; then
    "${NSENTER[@]}" /usr/sbin/sshd -f "$DIR/sshd/sshd_config" -E "$DIR/sshd/sshd.log"
  fi
  for _ in $(seq 1 50); do ssh_up && break; sleep 0.2; done
  ssh_up || { tail -20 "$DIR/sshd/sshd.log" >&2; echo "error: sshd in the namespace does not let $USER_NAME in" >&2; exit 1; }
  # Through SSH, docker must reach the namespace's engine (its data root, not this one's).
  local here there
  here=$(docker info --format '{{.DockerRootDir}}')
  there=$(docker -H "ssh://$USER_NAME@$NS_IP:$PORT" info --format '{{.DockerRootDir}}')
  [ "$here" != "$there" ] || { echo "error: docker over SSH reached this machine's engine" >&2; exit 1; }

  echo "export KINFRA_TEST_REMOTE_URL=ssh://$USER_NAME@$NS_IP:$PORT"
  echo "export KINFRA_TEST_REMOTE_HOME=$HOME_DIR/$USER_NAME"
  echo "export KINFRA_TEST_REMOTE_DOCKER_HOST=unix://$SOCK"
}

# Returns once the engine's dockerd is gone: a `start` right after must not find
# it still shutting down (answering, so not restarted; or holding its pid file,
# so the new one refuses), which left the engine down for the tests after.
stop_docker() {
  if pid_alive "$DIR/docker.pid"; then
    local pid
    pid=$(cat "$DIR/docker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$DIR/docker.pid"
  fi
}

# Every sshd session process of the rig's user (the listener runs as root and stays).
kill_ssh() {
  local pids
  pids=$(pgrep -u "$USER_NAME" -x sshd || true)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
}

case "${1:-start}" in
start) start ;;
stop-docker) stop_docker ;;
kill-ssh) kill_ssh ;;
stop)
  kill_ssh
  if pid_alive "$DIR/sshd/sshd.pid"; then kill "$(cat "$DIR/sshd/sshd.pid")" 2>/dev/null || true; fi
  stop_docker
  rm -f "$CLIENT_CONF"
  ip link del "$HOST_IF" 2>/dev/null || true
  [ -e "/var/run/netns/$NS" ] && ip netns del "$NS" 2>/dev/null || true
  ;;
*)
  echo "usage: $0 start|stop|kill-ssh|stop-docker" >&2; exit 2 ;;
esac
