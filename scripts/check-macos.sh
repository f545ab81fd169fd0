#!/usr/bin/env bash
# Type-checks and lints kinfra for macOS (Apple silicon; `--all`: and Intel) from Linux, so
# nothing that only Linux understands slips in. The C parts (ring, libgit2) are
# compiled by zig (PyPI's `ziglang`), which ships macOS's libc headers. Linking needs
# Apple's SDK, which cannot be had here: this checks, it does not build binaries.
# Needs: rustup, python3 with ziglang (scripts/test-deps.sh installs both targets).
set -euo pipefail
cd "$(dirname "$0")/.."
wrappers="$PWD/target/zig-wrappers"
mkdir -p "$wrappers"
for arch in aarch64 x86_64; do
  triple="$arch-apple-darwin"
  cat >"$wrappers/cc-$triple" <<EOF
#!/bin/sh
# zig cc for $arch-macos; cc-rs's own --target=… is dropped (zig spells it differently).
for a in "\$@"; do
  shift
  case "\$a" in --target=*) ;; *) set -- "\$@" "\$a" ;; esac
done
exec python3 -m ziglang cc -target $arch-macos "\$@"
EOF
  printf '#!/bin/sh\nexec python3 -m ziglang ar "$@"\n' >"$wrappers/ar-$triple"
  chmod +x "$wrappers/cc-$triple" "$wrappers/ar-$triple"
  var=$(echo "$triple" | tr '-' '_')
  export "CC_$var=$wrappers/cc-$triple" "AR_$var=$wrappers/ar-$triple"
done
# kinfra's own code has no per-architecture code (no `target_arch`), so one macOS
# target checks it; `--all` adds Intel's (the release workflow builds both).
triples=(aarch64-apple-darwin)
[ "${1:-}" = "--all" ] && triples+=(x86_64-apple-darwin)
for triple in "${triples[@]}"; do
  echo "==> cargo clippy --target $triple (check only: linking needs Apple's SDK)"
  cargo clippy --locked --target "$triple" --all-targets -- -D warnings
done
