#!/usr/bin/env bash
# CI stage "e2e": the end-to-end suite (tests/e2e, issue 7) on the test cluster (make cluster-up: NODES nodes, default 3),
# then the tutorial's commands (make tutorial).
# Runs as root from the repo root on a fresh machine, after the image stage. Every step is
# idempotent, so the stage also works alone: engine, base images and app image are built when
# missing (a no-op when the image stage already built them), then the e2e images, the cluster,
# the image load and `make e2e`; the cluster goes down in an EXIT trap whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/local/go/bin"

started=$SECONDS
stage() { printf '\n== e2e: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

stage "images: docker engine, base images, app image, e2e images"
make docker-engine
if ! /usr/bin/docker image inspect localhost/platform-python:3.11-slim localhost/platform-postgres:15 \
  >/dev/null 2>&1; then
  make base-images
fi
make image e2e-images

stage "cluster: build, up"
trap 'make cluster-down' EXIT
make cluster-build
make cluster-up

stage "cluster: load images"
make e2e-load

stage "make e2e"
make e2e

# The reader's path on the same cluster: its own namespace, its own image load.
stage "make tutorial (docs/tutorial.md, every command block)"
make tutorial
stage "done"
