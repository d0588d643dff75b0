#!/usr/bin/env bash
# CI stage "image": on a fresh machine, as root, from the repository root.
# 1. install (Debian docker.io, debootstrap, docker-compose) and start a Docker engine;
# 2. build the air-gapped base images from Debian packages (no registry is reachable);
# 3. build the app image on the Debian python stand-in and the versitygw image (its binary is
#    the one the test stage built into .cache/), test them with real containers (tests/image:
#    the PostgreSQL 15 and 17 stand-ins, the 15 -> 17 upgrade), then print the image report
#    (size vs base, start time vs bare uvicorn).
set -euo pipefail

started=$SECONDS
stage() { printf '\n== image: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

stage "docker engine"
make docker-engine
stage "base images"
make base-images
stage "image-test"
make image-test
stage "done"
