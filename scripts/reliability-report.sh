#!/usr/bin/env bash
# Copies the last reliability run's report (target/tmp/RELIABILITY.md, written by
# `cargo test --test reliability`) into docs/, on purpose: a test run never rewrites
# a tracked file.
set -euo pipefail
cd "$(dirname "$0")/.."
src=target/tmp/RELIABILITY.md
[ -s "$src" ] || { echo "no report at $src: run scripts/test (or cargo test --test reliability) first" >&2; exit 1; }
cp "$src" docs/RELIABILITY.md
echo "docs/RELIABILITY.md updated from $src"
