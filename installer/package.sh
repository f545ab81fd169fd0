#!/usr/bin/env bash
# Builds a release archive and its checksum into OUT_DIR, laid out so OUT_DIR can be
# served as KINFRA_INSTALL_BASE_URL:
#   OUT_DIR/latest/download/{install.sh, kinfra-<os>-<arch>.tar.gz, .sha256}
#   OUT_DIR/download/v<version>/…                  (the same, pinned)
# Usage: installer/package.sh OUT_DIR [--bin-dir DIR] [--target TRIPLE]
#   --bin-dir DIR     prebuilt binaries (default: build them)
#   --target TRIPLE   a Rust target: names the archive after it and, without
#                     --bin-dir, builds for it (musl targets with cargo-zigbuild)
# Runs on Linux and macOS (BSD tar, shasum).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: installer/package.sh OUT_DIR [--bin-dir DIR] [--target TRIPLE]}"
shift
bin_dir=""
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; shift 2 ;;
    --target) target="${2:?--target needs a Rust target triple}"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# The archive's name: <os>-<arch> of the target (or of this host).
asset_name() { # triple-or-empty
  local os arch
  case "$1" in
    "") case "$(uname -s)" in Linux) os=linux ;; Darwin) os=macos ;; *) echo "unsupported OS" >&2; exit 1 ;; esac
        case "$(uname -m)" in x86_64|amd64) arch=x86_64 ;; arm64|aarch64) arch=arm64 ;; *) echo "unsupported CPU" >&2; exit 1 ;; esac ;;
    *) case "$1" in *-linux-*) os=linux ;; *-apple-darwin) os=macos ;; *) echo "unsupported target $1" >&2; exit 1 ;; esac
       case "$1" in x86_64-*) arch=x86_64 ;; aarch64-*) arch=arm64 ;; *) echo "unsupported target $1" >&2; exit 1 ;; esac ;;
  esac
  printf 'kinfra-%s-%s.tar.gz' "$os" "$arch"
}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
asset=$(asset_name "$target")

if [ -z "$bin_dir" ]; then
  if [ -z "$target" ]; then
    cargo build --release --locked --bins
    bin_dir=target/release
  else
    case "$target" in
      *-linux-musl) cargo zigbuild --release --locked --bins --target "$target" ;;
      *) cargo build --release --locked --bins --target "$target" ;;
    esac
    bin_dir="target/$target/release"
  fi
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin_dir/kinfra" "$bin_dir/kinfra-setup" "$stage/"
# BSD tar on macOS adds AppleDouble `._*` files unless told not to.
COPYFILE_DISABLE=1 tar -C "$stage" -czf "$stage/$asset" kinfra kinfra-setup
sum=$( (sha256sum "$stage/$asset" 2>/dev/null || shasum -a 256 "$stage/$asset") | cut -d' ' -f1)
for d in "$out/latest/download" "$out/download/v$version"; do
  mkdir -p "$d"
  cp "$stage/$asset" "$d/$asset"
  printf '%s  %s\n' "$sum" "$asset" > "$d/$asset.sha256"
  cp installer/install.sh "$d/install.sh"
done
echo "packaged $asset (kinfra $version, sha256 $sum) into $out"
