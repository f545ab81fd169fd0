#!/usr/bin/env bash
# Builds the image the demo stack names (busybox:1.35) from Debian's busybox-static,
# because no registry can be pulled from here. A machine with Docker Hub access can
# simply `docker pull busybox:1.35` instead; the demo only needs sh, httpd and wget.
set -euo pipefail
TAG="${KINFRA_DEMO_IMAGE:-busybox:1.35}"
if docker image inspect "$TAG" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "demo image $TAG already present"
  exit 0
fi
BB=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [ -x "$candidate" ] && ldd "$candidate" 2>&1 | grep -q "not a dynamic"; then
    BB="$candidate"; break
  fi
done
if [ -z "$BB" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing busybox-static (Debian package) to build the demo image"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
    BB=/bin/busybox
  else
    echo "error: a static busybox is needed to build $TAG; install Debian's busybox-static (sudo apt-get install busybox-static) or docker pull $TAG" >&2
    exit 1
  fi
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/app" "$root/root"
cp "$BB" "$root/bin/busybox"
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$TAG" >/dev/null
echo "built demo image $TAG from $BB"
