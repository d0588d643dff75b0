#!/usr/bin/env bash
# CI stage "walkthrough": `make demo` as a newcomer runs it, on a machine with no cluster running
# (the e2e stage took its cluster down): the first run starts the test cluster, installs the
# chart, prints the final state and serves through the port-forward; Ctrl-C; a second run skips
# every done step; `make demo-down` leaves nothing behind (tests/demo). Images and the cluster
# build are warm from the earlier stages, which is what the demo's own skip checks find.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/local/go/bin"

started=$SECONDS
stage() { printf '\n== walkthrough: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

trap 'make demo-down >/dev/null 2>&1 || make cluster-down' EXIT
stage "make demo-test"
make demo-test
stage "done"
