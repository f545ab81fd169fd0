#!/usr/bin/env bash
# Builds the static Linux release binaries (x86_64 musl, linked by zig through
# cargo-zigbuild) and checks they run anywhere: on this host, and alone in an empty
# `FROM scratch` image (no libc, no loader, nothing). Packages them as the release
# archive into target/dist. Needs: rustup's musl target, ziglang, cargo-zigbuild
# (scripts/test-deps.sh installs them) and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
installer/package.sh target/dist --target "$target"
bin="target/$target/release"
for b in kinfra kinfra-setup; do
  if ldd "$bin/$b" >/dev/null 2>&1; then
    echo "error: $bin/$b is dynamically linked:" >&2
    ldd "$bin/$b" >&2
    exit 1
  fi
  "$bin/$b" --version
done
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"; docker rmi -f kinfra-musl-check >/dev/null 2>&1 || true' EXIT
cp "$bin/kinfra" "$bin/kinfra-setup" "$ctx/"
printf 'FROM scratch\nCOPY kinfra kinfra-setup /\nENTRYPOINT ["/kinfra"]\n' >"$ctx/Dockerfile"
docker build -q -t kinfra-musl-check "$ctx" >/dev/null
out=$(docker run --rm kinfra-musl-check --version)
echo "in an empty image: $out"
case "$out" in kinfra\ *) ;; *) echo "error: unexpected output" >&2; exit 1 ;; esac
# A real command path too: the registry in an empty home, nothing registered.
# Captured first: `| grep -q` would close the pipe at its first match, and under
# pipefail docker's "broken pipe" on the rest would fail the check at random.
list=$(docker run --rm -e KINFRA_HOME=/tmp/k --entrypoint /kinfra kinfra-musl-check sandbox list --json) \
  || { echo "error: sandbox list failed in the empty image" >&2; exit 1; }
case "$list" in
  *'"instances": []'*) ;;
  *) echo "error: sandbox list in the empty image printed: $list" >&2; exit 1 ;;
esac
docker run --rm --entrypoint /kinfra-setup kinfra-musl-check --version
echo "static binaries OK: $(du -h "$bin/kinfra" | cut -f1) kinfra, $(du -h "$bin/kinfra-setup" | cut -f1) kinfra-setup"
