#!/usr/bin/env bash
# Build the air-gapped stand-in base images from Debian packages only (no container registry).
#
#   docker/base/build.sh python       -> localhost/platform-python:3.11-slim    (bookworm)
#   docker/base/build.sh postgres     -> localhost/platform-postgres:15         (bookworm)
#   docker/base/build.sh postgres-17  -> localhost/platform-postgres:17         (trixie)
#   docker/base/build.sh              -> all three
#
# debootstrap (minbase) builds a root filesystem from the apt mirror this machine already uses,
# the script strips what a container never needs, and a two-line Dockerfile (`FROM scratch`,
# `ADD rootfs.tar /`) turns it into an image with a proper config (ENV, USER, STOPSIGNAL...).
# Root filesystems are cached as tarballs keyed by everything that goes into them, so a rerun
# costs one `docker build` cache hit. Needs root (debootstrap, chroot) and a running engine.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER=${DOCKER:-/usr/bin/docker}
SUITE=${DEBIAN_SUITE:-bookworm}
CACHE_DIR=${BASE_CACHE_DIR:-/var/cache/platform-base-images}
PYTHON_IMAGE=${PYTHON_STANDIN_IMAGE:-localhost/platform-python:3.11-slim}
POSTGRES_IMAGE=${POSTGRES_STANDIN_IMAGE:-localhost/platform-postgres:15}
POSTGRES17_IMAGE=${POSTGRES17_STANDIN_IMAGE:-localhost/platform-postgres:17}
# Debian suite of each PostgreSQL major: the release whose main archive ships it.
POSTGRES17_SUITE=${POSTGRES17_SUITE:-trixie}

log() { printf 'base-images: %s\n' "$*" >&2; }

# The first Debian archive in apt's sources (deb822 or one-line format), unless DEBIAN_MIRROR is set.
debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | sed -nE 's/^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\3/p' \
        | grep -E '/debian/?$' | head -n 1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# Remove what no container needs: docs, man pages, locales, apt lists and caches, logs.
strip_rootfs() {
    local root=$1
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/lintian "$root"/usr/share/linda \
        "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
        "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
    find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
    find "$root" -xdev -name '__pycache__' -type d -prune -exec rm -rf {} +
    # Machine identity must be per container, not baked in.
    : >"$root"/etc/machine-id
    rm -f "$root"/etc/hostname "$root"/etc/resolv.conf
}

# Build (or reuse) a rootfs tarball. Args: name, suite, customise-function, packages...
rootfs_tarball() {
    local name=$1 suite=$2 customise=$3
    shift 3
    local mirror key tarball root
    mirror=$(debian_mirror)
    key=$({
        echo "$suite $mirror $*"
        declare -f strip_rootfs "$customise"
    } | sha256sum | cut -c1-16)
    tarball=$CACHE_DIR/$name-$suite-$key.tar
    if [[ -s $tarball ]]; then
        log "$name: reusing $tarball"
        echo "$tarball"
        return
    fi
    mkdir -p "$CACHE_DIR"
    root=$(mktemp -d "$CACHE_DIR/$name-root.XXXXXX")
    log "$name: debootstrap $suite from $mirror (+ $*)"
    local include
    include=$(
        IFS=,
        echo "$*"
    )
    debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
        tail -n 30 "$root.log" >&2
        return 1
    }
    "$customise" "$root"
    strip_rootfs "$root"
    tar -C "$root" --numeric-owner --xattrs -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root" "$root.log"
    # Keep only the newest tarball per image.
    find "$CACHE_DIR" -maxdepth 1 -name "$name-$suite-*.tar" ! -path "$tarball" -delete
    echo "$tarball"
}

customise_python() {
    local root=$1
    # ensurepip's bundled wheels stay (python3 -m venv needs them); pip itself is not installed:
    # Debian's pip refuses system installs anyway, every install goes into a venv.
    rm -rf "$root"/usr/lib/python3.11/test "$root"/usr/lib/python3/dist-packages/*/tests
}

# The PostgreSQL major the next customise_postgres call prepares (its packages are named after it).
PG_MAJOR=15

customise_postgres() {
    local root=$1 major=$PG_MAJOR
    # The official image's numeric user and group (999:999); Debian picked a dynamic system id.
    local old_uid old_gid
    old_uid=$(chroot "$root" id -u postgres)
    old_gid=$(chroot "$root" id -g postgres)
    chroot "$root" groupmod -g 999 postgres
    chroot "$root" usermod -u 999 -g 999 postgres
    find "$root" -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:999 {} +
    # Debian's postinst created a cluster under /etc/postgresql and /var/lib/postgresql/MAJOR/main;
    # the entrypoint runs initdb on $PGDATA instead, like the official image.
    rm -rf "$root/etc/postgresql/$major" "$root/var/lib/postgresql/$major"
    # Listen on every address by default, as the official image does (via the sample config
    # initdb copies into a new data directory).
    sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" \
        "$root/usr/share/postgresql/$major/postgresql.conf.sample"
    grep -F "listen_addresses = '*'" "$root/usr/share/postgresql/$major/postgresql.conf.sample" >/dev/null
    install -d -o 999 -g 999 -m 3777 "$root"/var/run/postgresql
    install -d -o 999 -g 999 -m 0777 "$root"/var/lib/postgresql/data
    install -d -o 999 -g 999 -m 0755 "$root"/docker-entrypoint-initdb.d
    # Perl is only needed by Debian's cluster wrappers (pg_ctlcluster, pg_wrapper): PATH points at
    # the real binaries instead, so the image does not rely on them.
}

# Args: image, Dockerfile, rootfs tarball, extra `docker build` arguments...
build_image() {
    local image=$1 dockerfile=$2 tarball=$3
    shift 3
    local context
    context=$(mktemp -d)
    ln "$tarball" "$context/rootfs.tar" 2>/dev/null || cp "$tarball" "$context/rootfs.tar"
    cp "$HERE"/docker-entrypoint.sh "$HERE"/pg-version-guard.sh "$context/"
    log "building $image"
    DOCKER_BUILDKIT=1 "$DOCKER" build --quiet "$@" -f "$dockerfile" -t "$image" "$context" >/dev/null
    rm -rf "$context"
    # Drop the previous build of this image if the new one replaced it (dangling, same title).
    local title
    title=$("$DOCKER" image inspect --format '{{index .Config.Labels "org.opencontainers.image.title"}}' "$image")
    # Both postgres images share a title: prune only what no tag points at any more.
    "$DOCKER" image prune -f --filter "label=org.opencontainers.image.title=$title" >/dev/null
    log "$image: $("$DOCKER" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
}

build_python() {
    local tarball
    tarball=$(rootfs_tarball python "$SUITE" customise_python python3 python3-venv ca-certificates)
    build_image "$PYTHON_IMAGE" "$HERE/python.Dockerfile" "$tarball"
}

# Args: major, Debian suite, image.
build_postgres() {
    local major=$1 suite=$2 image=$3 tarball
    PG_MAJOR=$major
    # One major per suite, so "postgres-<suite>" names each cache entry.
    tarball=$(rootfs_tarball postgres "$suite" customise_postgres "postgresql-$major" ca-certificates)
    build_image "$image" "$HERE/postgres.Dockerfile" "$tarball" \
        --build-arg "PG_MAJOR=$major" --build-arg "DEBIAN_SUITE=$suite"
}

if [[ $(id -u) -ne 0 ]]; then
    log "needs root (debootstrap and chroot)"
    exit 1
fi
targets=("$@")
((${#targets[@]})) || targets=(python postgres postgres-17)
for target in "${targets[@]}"; do
    case $target in
    python) build_python ;;
    postgres) build_postgres 15 "$SUITE" "$POSTGRES_IMAGE" ;;
    postgres-17) build_postgres 17 "$POSTGRES17_SUITE" "$POSTGRES17_IMAGE" ;;
    *)
        log "unknown image: $target (python, postgres or postgres-17)"
        exit 2
        ;;
    esac
done
