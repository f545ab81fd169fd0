#!/usr/bin/env bash
# Builds a real PostgreSQL image for the data tests (no registry can be pulled here):
# a Debian 12 base made by debootstrap with Debian's postgresql package, imported with
# `docker import`. Cached by tag: a machine that has the tag skips all of it (~1 min
# otherwise). The image runs like the official one as far as the tests need: PGDATA
# in /var/lib/postgresql/data (initialised on first start, trust auth), `postgres`
# as PID 1 under the postgres user, psql/pg_amcheck/pg_dump on PATH.
set -euo pipefail
TAG="${KINFRA_TEST_POSTGRES_IMAGE:-kinfra-test/postgres:15-bookworm}"
if docker image inspect "$TAG" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "postgres image $TAG already present"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing debootstrap (Debian package) to build $TAG"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  else
    echo "error: debootstrap is needed to build $TAG (sudo apt-get install debootstrap)" >&2
    exit 1
  fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "building $TAG: debootstrap bookworm with postgresql (about a minute)"
debootstrap --variant=minbase --include=postgresql bookworm "$root" \
  "${KINFRA_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale \
  "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
cat >"$root/usr/local/bin/pg-start" <<'SH'
#!/bin/sh
# Initialise PGDATA on first start, then run postgres as PID 1 (docker stop's SIGTERM
# reaches it: a clean "smart" shutdown).
set -e
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups \
    initdb -D "$PGDATA" -A trust -U postgres >/dev/null
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA"
SH
chmod 0755 "$root/usr/local/bin/pg-start"
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV PGDATA=/var/lib/postgresql/data' \
  -c 'CMD ["/usr/local/bin/pg-start"]' - "$TAG" >/dev/null
echo "built postgres image $TAG"
