#!/usr/bin/env bash
# Builds the release archive and its checksum for this host into OUT_DIR, laid out so
# OUT_DIR can be served as KINFRA_INSTALL_BASE_URL:
#   OUT_DIR/latest/download/{install.sh, kinfra-<os>-<arch>.tar.gz, .sha256}
#   OUT_DIR/download/v<version>/…                  (the same, pinned)
# Usage: installer/package.sh OUT_DIR [--bin-dir DIR]   (DIR: prebuilt binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: installer/package.sh OUT_DIR [--bin-dir DIR]}"
bin_dir=""
if [ "${2:-}" = "--bin-dir" ]; then bin_dir="${3:?--bin-dir needs a directory}"; fi

case "$(uname -s)" in Linux) os=linux ;; Darwin) os=macos ;; *) echo "unsupported OS" >&2; exit 1 ;; esac
case "$(uname -m)" in x86_64|amd64) arch=x86_64 ;; arm64|aarch64) arch=arm64 ;; *) echo "unsupported CPU" >&2; exit 1 ;; esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

if [ -z "$bin_dir" ]; then
  cargo build --release --locked --bins
  bin_dir=target/release
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin_dir/kinfra" "$bin_dir/kinfra-setup" "$stage/"
asset="kinfra-$os-$arch.tar.gz"
tar -C "$stage" -czf "$stage/$asset" kinfra kinfra-setup
sum=$( (sha256sum "$stage/$asset" 2>/dev/null || shasum -a 256 "$stage/$asset") | cut -d' ' -f1)
for d in "$out/latest/download" "$out/download/v$version"; do
  mkdir -p "$d"
  cp "$stage/$asset" "$d/$asset"
  printf '%s  %s\n' "$sum" "$asset" > "$d/$asset.sha256"
  cp installer/install.sh "$d/install.sh"
done
echo "packaged $asset (kinfra $version, sha256 $sum) into $out"
