#!/usr/bin/env bash
# Section 13 of bench/run.sh: a sandbox on another machine's engine, reached over SSH
# (scripts/remote-engine.sh: a second engine in a network namespace, an sshd beside
# it). Called by run.sh with K (kinfra), W (work dir), OUT (results dir), HF
# (hyperfine with its JSON export), SLOW_RUNS and RUNS set; runnable alone:
#   K=target/release/kinfra W=$(mktemp -d) OUT=$W/out SLOW_RUNS=3 RUNS=10 bench/remote.sh
# Rows: up against `docker -H ssh://… compose up -d --wait` of the same project; the
# first mirror of a 2,400-file tree against a plain `rsync -a` of it; change-to-visible
# (an edit in the worktree until the engine serves it); a request through the
# forwarded port against one on the engine's machine (its loopback, where it publishes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p "$OUT"
if [ -z "${HF+x}" ]; then HF=(hyperfine --style none --export-json); fi
was_up=0
[ -S /var/tmp/kinfra-remote/run/docker.sock ] && DOCKER_HOST=unix:///var/tmp/kinfra-remote/run/docker.sock docker version >/dev/null 2>&1 && was_up=1
if ! RIG=$(scripts/remote-engine.sh start 2>/dev/null); then
  echo "remote engine rig unavailable (needs root): row 13 not measured" >&2
  exit 0
fi
eval "$RIG"
URL=$KINFRA_TEST_REMOTE_URL
SSH_PORT=${URL##*:}
USER_HOST=${URL#ssh://}; USER_HOST=${USER_HOST%:*}
export KINFRA_HOME="$W/remote-home"
R="$W/remote"
mkdir -p "$R/src/rbench"
PORT=17931
cat > "$R/src/rbench/compose.yaml" <<YML
services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports:
      - "$PORT:80"
    volumes:
      - ./site:/www:ro
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/index.html"]
      interval: 1s
      timeout: 2s
      retries: 30
YML
mkdir -p "$R/src/rbench/site"
echo start > "$R/src/rbench/site/index.html"
# A 2,400-file tree beside it (the code an agent edits).
python3 - "$R/src/rbench/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(40):
    p = os.path.join(root, f"pkg{d:02}")
    os.makedirs(p, exist_ok=True)
    for f in range(60):
        with open(os.path.join(p, f"mod{f:02}.py"), "w") as fh:
            fh.write(f"# module {d}/{f}\n" + "x = 1\n" * 40)
PY
(cd "$R/src/rbench" && git init -q -b main && git add -A && git -c user.email=b@example.invalid -c user.name=b commit -qm remote)
git clone -q "$R/src/rbench" "$R/rbench"
cleanup_remote() {
  (cd "$R/rbench" 2>/dev/null && "$K" -q sandbox destroy rb --force >/dev/null 2>&1) || true
  DOCKER_HOST="$URL" docker compose -p rbench-base -f "$R/rbench/compose.yaml" down >/dev/null 2>&1 || true
  ssh -o BatchMode=yes -p "$SSH_PORT" "$USER_HOST" 'rm -rf "$HOME/plain-mirror"' >/dev/null 2>&1 || true
  "$K" -q engine rm rem >/dev/null 2>&1 || true
  [ "$was_up" = 1 ] || scripts/remote-engine.sh stop
}
trap cleanup_remote EXIT
"$K" -q engine add rem "$URL" >/dev/null
(cd "$R/rbench" && "$K" -q sandbox create rb --on rem >/dev/null)
WT="$R/rbench--rb"
KPORT=$(sed -n 's/^PORT_WEB_80=//p' "$WT/.env.sandbox")
MIRROR="$KINFRA_TEST_REMOTE_HOME/.kinfra/mirrors/rbench--rb"

# 13a. up against compose through Docker's SSH transport, same files (the baseline's
# bind mount names this machine's path, which the rig's engine shares: the fairest
# baseline there is), each from down.
cat > "$W/remote-base-down.sh" <<SH
DOCKER_HOST="$URL" docker compose -p rbench-base -f "$WT/compose.yaml" down -t 1 >/dev/null 2>&1 || true
(cd "$WT" && "$K" -q sandbox down >/dev/null 2>&1) || true
SH
(cd "$WT" && "${HF[@]}" "$OUT/remote-up.json" --warmup 1 --runs "$SLOW_RUNS" --prepare "bash $W/remote-base-down.sh" \
  "env DOCKER_HOST=$URL docker compose -p rbench-base -f $WT/compose.yaml up -d --wait" "$K -q sandbox up --no-secrets" >/dev/null)
# Down for 13b: while up, its keeper would mirror into the directory being measured.
(cd "$WT" && "$K" -q sandbox down >/dev/null)

# 13b. The first mirror of the tree against a plain rsync -a of it, each into an
# empty directory there.
RSH="ssh -o BatchMode=yes -p $SSH_PORT"
(cd "$WT" && "${HF[@]}" "$OUT/remote-mirror.json" --warmup 1 --runs "$SLOW_RUNS" \
  --prepare "$RSH $USER_HOST 'rm -rf \"\$HOME/plain-mirror\" $MIRROR'" \
  "rsync -a -e '$RSH' $WT/ $USER_HOST:plain-mirror/" "$K -q sandbox sync-code" >/dev/null)

# 13c. Change to visible: an edit in the worktree until the forwarded port serves it.
(cd "$WT" && "$K" -q sandbox up --no-secrets >/dev/null)
: > "$OUT/remote-visible.txt"
for i in $(seq 1 10); do
  echo "edit $i $RANDOM" > "$WT/site/index.html.new" && mv "$WT/site/index.html.new" "$WT/site/index.html"
  want=$(cat "$WT/site/index.html")
  start=$(date +%s%N)
  for _ in $(seq 1 200); do
    [ "$(curl -s "http://127.0.0.1:$KPORT/index.html")" = "$want" ] && break
    sleep 0.02
  done
  echo $(( ($(date +%s%N) - start) / 1000000 )) >> "$OUT/remote-visible.txt"
done

# 13d. A request through the forwarded port against one to the engine's own address.
# The engine publishes on its machine's loopback only, so the baseline asks it there,
# from inside the rig's namespace (nsenter's own start is counted against it).
"${HF[@]}" "$OUT/remote-request.json" -N --warmup 5 --runs "$RUNS" \
  "nsenter --net=/var/run/netns/${KINFRA_REMOTE_NS:-kinfraremote} curl -s http://127.0.0.1:$KPORT/index.html" \
  "curl -s http://127.0.0.1:$KPORT/index.html" >/dev/null
