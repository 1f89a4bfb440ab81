#!/usr/bin/env bash
# Installs what the local cluster (internal/testcluster, make devcluster)
# needs: etcd from Debian's etcd-server package, and kube-apiserver built
# from the Go module proxy by tools/kube-apiserver (cached outside the clone,
# keyed by version: ~7-10 minutes on 2 cores the first time, then instant).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "etcd not found; install it with: sudo apt-get install etcd-server" >&2
    exit 1
  fi
  echo "installing etcd-server" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
fi
# The package may start a system etcd on the default ports; the test
# cluster uses its own on free ports, so that one is harmless.
etcd --version | sed -n 1p >&2
./tools/kube-apiserver/build.sh >&2
