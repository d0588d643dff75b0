#!/usr/bin/env bash
# Install (once) and start (once) a Docker engine on a machine without systemd.
#
# Idempotent. Debian's docker.io (its 20.10 CLI has BuildKit built in, unlike the v28 CLI in
# /usr/local/bin), debootstrap and docker-compose are installed when missing; then, unless
# `docker info` already answers, a private containerd and dockerd are started in the background
# with pidfiles and logs under $DOCKER_STATE_DIR.
#
# The engine gets its own containerd (socket, root and state dirs below) so it neither depends on
# nor disturbs a system containerd another harness (the Kubernetes test cluster) starts and stops.
set -euo pipefail

DOCKER=${DOCKER:-/usr/bin/docker}
STATE_DIR=${DOCKER_STATE_DIR:-/var/lib/platform-docker}
RUN_DIR=${DOCKER_RUN_DIR:-/run/platform-docker}
READY_TIMEOUT=${DOCKER_READY_TIMEOUT:-60}

log() { printf 'engine: %s\n' "$*" >&2; }

engine_ready() { "$DOCKER" info >/dev/null 2>&1; }

missing=()
[[ -x /usr/bin/docker && -x /usr/sbin/dockerd ]] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# Compose v1 (Debian's 1.29, compose-spec aware): validates and runs docker/compose.yaml.
command -v docker-compose >/dev/null || missing+=(docker-compose)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        log "installing ${missing[*]} needs root"
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if engine_ready; then
    log "docker engine already running"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    log "starting the engine needs root"
    exit 1
fi

mkdir -p "$STATE_DIR" "$RUN_DIR"

# Start a process in the background unless its pidfile names a live process.
start_daemon() {
    local name=$1
    shift
    local pidfile=$RUN_DIR/$name.pid
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        return 0
    fi
    log "starting $name (log: $STATE_DIR/$name.log)"
    (close_inherited_fds && exec setsid "$@" >>"$STATE_DIR/$name.log" 2>&1 </dev/null) &
    echo $! >"$pidfile"
}

# A daemon outlives its caller: it must not keep the caller's descriptors, such as the one
# `flock LOCK make ...` holds its lock on (the lock would then never be released).
close_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        ((fd > 2)) && eval "exec $fd>&-"
    done 2>/dev/null
    return 0
}

containerd_sock=$RUN_DIR/containerd.sock
cat >"$STATE_DIR/containerd.toml" <<TOML
version = 2
root = "$STATE_DIR/containerd"
state = "$RUN_DIR/containerd"
# The CRI plugin is for kubelets, not for dockerd; disabling it avoids clashing with the
# Kubernetes harness's containerd (and its oom_score_adj restriction on these machines).
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$containerd_sock.ttrpc"
[debug]
  address = "$containerd_sock.debug"
TOML
start_daemon containerd containerd --config "$STATE_DIR/containerd.toml"
for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
    [[ -S $containerd_sock ]] && break
    sleep 0.1
done

# cgroupfs: these machines run cgroup v1 without systemd.
start_daemon dockerd dockerd \
    --containerd "$containerd_sock" \
    --exec-opt native.cgroupdriver=cgroupfs \
    --pidfile "$RUN_DIR/dockerd.own.pid"

for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
    if engine_ready; then
        log "docker engine ready ($("$DOCKER" version --format '{{.Server.Version}}'))"
        exit 0
    fi
    sleep 0.1
done
log "docker engine not ready after ${READY_TIMEOUT}s; last lines of the logs:"
tail -n 20 "$STATE_DIR/containerd.log" "$STATE_DIR/dockerd.log" >&2 || true
exit 1
