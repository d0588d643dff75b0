#!/usr/bin/env bash
# CI stage: build the test cluster from scratch, bring it up with NODES nodes (default 3: the
# host and two worker containers), run the smoke suite, take it down; then the lifecycle test
# (1 node and NODES nodes, a worker lost and restored, nothing left behind after `down`).
# Runs as root from the repo root on a fresh machine (Debian 12, Go 1.26 in /usr/local/go).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/local/go/bin"
NODES=${NODES:-3}
export NODES

started=$SECONDS
stage() { printf '\n== cluster: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

# Up front, so that the timings of the steps below are their own.
stage "Debian packages, docker engine"
python3 -m cluster packages --nodes "$NODES"
make docker-engine

trap 'make cluster-down' EXIT
stage "build (binaries, images, node image)"
make cluster-build
stage "up ($NODES nodes)"
make cluster-up
stage "smoke suite"
make cluster-test
stage "down"
make cluster-down
stage "lifecycle: up, lose and restore a worker, down, nothing left"
make cluster-lifecycle
stage "done"
