#!/usr/bin/env bash
# Installs what the tests need on a fresh machine: Debian's busybox-static (the demo
# image is built from it, and tests use its wget), git and openssl (the https clone
# test makes a throwaway CA), uv (from PyPI), and the demo image.
# Idempotent: anything already present is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v busybox >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # a throwaway CA for the https clone test
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

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "error: the Docker engine is not reachable (docker version failed)" >&2
  exit 1
fi
scripts/demo-image.sh
