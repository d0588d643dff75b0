#!/usr/bin/env bash
# Entrypoint of localhost/platform-postgres:<major>, in the spirit of the official image's
# docker-entrypoint.sh: on an empty $PGDATA run initdb with POSTGRES_USER/POSTGRES_PASSWORD,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sql|*.sh, allow password
# (scram-sha-256) logins from any host, then exec postgres so it receives signals directly.
# A data directory of another major is refused first (pg-version-guard), with a pointer to the
# upgrade runbook, instead of the server's own crash. Runs as the image's user (999); it never
# switches users.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# `docker run IMAGE -c foo=bar` passes server options, as with the official image.
if [[ ${1:-} == -* ]]; then
    set -- postgres "$@"
fi
if [[ ${1:-} != postgres ]]; then
    exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export PGDATA

# PGDATA may be a not-yet-existing subdirectory of a mounted volume (the manifests use one).
mkdir -p "$PGDATA"
chmod 0700 "$PGDATA" 2>/dev/null || :
if [[ ! -w $PGDATA ]]; then
    log "PGDATA=$PGDATA is not writable by uid $(id -u); give the volume to 999:999 (fsGroup)"
    exit 1
fi

pg-version-guard

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
        log "database is uninitialised and POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)"
        exit 1
    fi
    log "initialising $PGDATA"
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as upstream.
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host="$POSTGRES_HOST_AUTH_METHOD" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

    # A temporary server on the Unix socket only, so nothing connects before setup is done.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start >/dev/null
    psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
    if [[ $POSTGRES_DB != postgres ]]; then
        exists=$("${psql[@]}" --dbname postgres -tA -v db="$POSTGRES_DB" \
            <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
        if [[ -z $exists ]]; then
            "${psql[@]}" --dbname postgres -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
        fi
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
        *.sh)
            log "running $f"
            # shellcheck source=/dev/null # user-supplied init scripts, sourced as upstream does
            . "$f"
            ;;
        *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
        *) [[ -e $f ]] && log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    log "initialisation complete"
fi

exec "$@"
