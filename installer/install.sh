#!/bin/sh
# kinfra installer.
#
#   curl -fsSL https://github.com/kpiteira/kinfra/releases/latest/download/install.sh | sh
#   curl -fsSL …/install.sh | sh -s -- --non-interactive --path=~/dev/ktrdr-prod --start
#
# Downloads the kinfra and kinfra-setup binaries for this OS and CPU, checks their
# SHA-256, installs them into $KINFRA_INSTALL_DIR (default ~/.local/bin) and runs
# kinfra-setup with the arguments given after `sh -s --`.
#
# Options (before the kinfra-setup arguments):
#   --install-only   install the binaries, do not run kinfra-setup
#   --modify-path    add the install directory to PATH in your shell's rc file
# Environment:
#   KINFRA_INSTALL_BASE_URL  where releases are served (default: the project's releases)
#   KINFRA_VERSION           a version to pin, such as 0.1.0 (default: the latest)
#   KINFRA_INSTALL_DIR       where to put the binaries (default: ~/.local/bin)
#
# The whole script is functions called on its last line, so a truncated download
# runs nothing.

set -u

say() { printf '%s\n' "kinfra-install: $*" >&2; }
fail() { say "error: $*"; exit 1; }

detect_target() {
  os=$(uname -s 2>/dev/null || echo unknown)
  arch=$(uname -m 2>/dev/null || echo unknown)
  case "$os" in
    Linux) os=linux ;;
    Darwin) os=macos ;;
    *) fail "unsupported operating system '$os' (kinfra supports Linux and macOS)" ;;
  esac
  case "$arch" in
    x86_64|amd64) arch=x86_64 ;;
    arm64|aarch64) arch=arm64 ;;
    *) fail "unsupported CPU '$arch' (kinfra supports x86_64 and arm64)" ;;
  esac
  # A shell under Rosetta on Apple silicon reports x86_64: take the native binary.
  if [ "$os" = macos ] && [ "$arch" = x86_64 ] \
    && [ "$(sysctl -n hw.optional.arm64 2>/dev/null)" = 1 ]; then
    arch=arm64
  fi
  TARGET="$os-$arch"
}

download() { # url dest
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "neither curl nor wget is installed"
  fi
}

sha256_of() { # file
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    return 1
  fi
}

release_url() { # asset
  base="${KINFRA_INSTALL_BASE_URL:-https://github.com/kpiteira/kinfra/releases}"
  base="${base%/}"
  if [ -n "${KINFRA_VERSION:-}" ]; then
    printf '%s/download/v%s/%s' "$base" "${KINFRA_VERSION#v}" "$1"
  else
    printf '%s/latest/download/%s' "$base" "$1"
  fi
}

install_binaries() {
  asset="kinfra-$TARGET.tar.gz"
  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t kinfra) || fail "cannot create a temporary directory"
  trap 'rm -rf "$tmp"' EXIT INT TERM
  say "downloading $asset"
  download "$(release_url "$asset")" "$tmp/$asset" \
    || fail "download of $(release_url "$asset") failed: either no kinfra release exists for $TARGET${KINFRA_VERSION:+ at version $KINFRA_VERSION} (releases are built for linux-x86_64, linux-arm64, macos-x86_64 and macos-arm64), or the network is unreachable"
  download "$(release_url "$asset.sha256")" "$tmp/$asset.sha256" || fail "download of the checksum $(release_url "$asset.sha256") failed"
  want=$(cut -d' ' -f1 < "$tmp/$asset.sha256")
  got=$(sha256_of "$tmp/$asset") || fail "no SHA-256 tool (sha256sum or shasum) found; refusing to install unchecked binaries"
  [ -n "$want" ] && [ "$want" = "$got" ] || fail "checksum mismatch for $asset (expected $want, got $got); nothing was installed"
  mkdir -p "$tmp/x" && tar -xzf "$tmp/$asset" -C "$tmp/x" || fail "could not unpack $asset"
  for b in kinfra kinfra-setup; do
    [ -f "$tmp/x/$b" ] || fail "$asset does not contain $b; nothing was installed"
  done
  dir="${KINFRA_INSTALL_DIR:-$HOME/.local/bin}"
  mkdir -p "$dir" || fail "cannot create $dir"
  # Stage both next to their destination, then rename: never a half-written binary.
  for b in kinfra kinfra-setup; do
    cp "$tmp/x/$b" "$dir/.$b.partial.$$" && chmod 755 "$dir/.$b.partial.$$" \
      || { rm -f "$dir/.kinfra.partial.$$" "$dir/.kinfra-setup.partial.$$"; fail "cannot write to $dir"; }
  done
  for b in kinfra kinfra-setup; do
    mv -f "$dir/.$b.partial.$$" "$dir/$b" || fail "cannot install $dir/$b"
  done
  INSTALL_DIR="$dir"
  say "installed kinfra and kinfra-setup into $dir"
}

path_hint() {
  case ":${PATH}:" in
    *":$INSTALL_DIR:"*) return 0 ;;
  esac
  line="export PATH=\"$INSTALL_DIR:\$PATH\""
  if [ "$MODIFY_PATH" = 1 ]; then
    # The file the user's login shell reads: macOS terminals open login shells,
    # which read ~/.bash_profile, never ~/.bashrc.
    case "${SHELL:-}" in
      */zsh) rc="${ZDOTDIR:-$HOME}/.zshrc" ;;
      */bash) if [ "$(uname -s)" = Darwin ]; then rc="$HOME/.bash_profile"; else rc="$HOME/.bashrc"; fi ;;
      */fish) rc="$HOME/.config/fish/conf.d/kinfra.fish"; line="fish_add_path $INSTALL_DIR"; mkdir -p "${rc%/*}" ;;
      *) rc="$HOME/.profile" ;;
    esac
    if ! grep -qs "$INSTALL_DIR" "$rc"; then
      printf '\n# added by the kinfra installer\n%s\n' "$line" >> "$rc"
      say "added $INSTALL_DIR to PATH in $rc (open a new shell to use it)"
    fi
  else
    say "$INSTALL_DIR is not on your PATH; add it with:"
    say "  $line"
    say "(or rerun with --modify-path to add it to your shell's rc file)"
  fi
}

main() {
  INSTALL_ONLY=0
  MODIFY_PATH=0
  # Our own options come first; everything else goes to kinfra-setup.
  while [ $# -gt 0 ]; do
    case "$1" in
      --install-only) INSTALL_ONLY=1; shift ;;
      --modify-path) MODIFY_PATH=1; shift ;;
      *) break ;;
    esac
  done
  detect_target
  install_binaries
  path_hint
  if [ "$INSTALL_ONLY" = 1 ]; then
    say "done; run kinfra-setup to set up local-prod"
    return 0
  fi
  # Piped into sh, our stdin is the script: give kinfra-setup the terminal instead.
  if [ ! -t 0 ] && [ -r /dev/tty ] && (: </dev/tty) 2>/dev/null; then
    exec "$INSTALL_DIR/kinfra-setup" "$@" </dev/tty
  fi
  exec "$INSTALL_DIR/kinfra-setup" "$@"
}

main "$@"
