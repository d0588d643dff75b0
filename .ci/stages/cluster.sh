#!/usr/bin/env bash
# CI stage: build the one-node test cluster from scratch, run the smoke suite, tear it down.
# Runs as root from the repo root on a fresh machine (Debian 12, Go 1.26 in /usr/local/go).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The harness installs its Debian packages itself when missing (cluster/lifecycle.py);
# installing them up front keeps the timing of `cluster-up` honest.
export DEBIAN_FRONTEND=noninteractive
if ! command -v etcd >/dev/null || ! command -v containerd >/dev/null \
  || ! command -v runc >/dev/null || [ ! -x /usr/lib/cni/bridge ] || [ ! -x /bin/busybox ]; then
  # Package scripts must not start etcd/containerd as services: the harness runs its own.
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    etcd-server containerd runc containernetworking-plugins busybox-static iptables openssl
  [ -z "$policy_added" ] || rm -f /usr/sbin/policy-rc.d
fi
export PATH="$PATH:/usr/local/go/bin"

trap 'make cluster-down' EXIT
start=$SECONDS
make cluster-build
echo "cluster-build: $((SECONDS - start)) s"
start=$SECONDS
make cluster-up
echo "cluster-up: $((SECONDS - start)) s"
make cluster-test
