#!/bin/sh
# pg-version-guard: refuse to start PostgreSQL on a data directory of another major version.
#
# A new major cannot open an old major's files: without this check the server exits with
# "database files are incompatible with server" and the pod restarts forever. Run it before the
# server (the stand-in images' entrypoint does; the chart runs it as an initContainer in the
# database image, whatever that image is): it exits 0 on an empty volume or a matching data
# directory, and 1 with one line pointing at the upgrade runbook otherwise. It only reads.
# POSIX sh, so it runs in the official images (dash) as well as the stand-ins.
set -eu

pgdata=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$pgdata/PG_VERSION" ]; then
    exit 0 # no cluster yet: initdb will create one of this image's major
fi
data_major=$(cat "$pgdata/PG_VERSION")
server_major=$(postgres --version | sed -n 's/^postgres (PostgreSQL) \([0-9][0-9]*\).*/\1/p')
if [ -z "$server_major" ]; then
    echo "pg-version-guard: cannot tell this image's PostgreSQL major from 'postgres --version'" >&2
    exit 1
fi
if [ "$data_major" != "$server_major" ]; then
    echo "pg-version-guard: $pgdata holds a PostgreSQL $data_major cluster and this image runs" \
        "PostgreSQL $server_major, which cannot open it; nothing was changed. Run the $data_major" \
        "image, or upgrade with docs/runbooks/postgres-major-upgrade.md (back up, restore into" \
        "a new $server_major volume)." >&2
    exit 1
fi
