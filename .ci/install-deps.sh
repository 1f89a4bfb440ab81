#!/usr/bin/env bash
# Installs what virtwork's tests need: Debian packages for the validators
# (cloud-init, systemd-analyze, fio) and the local cluster (etcd), and the
# kube-apiserver binary (built once, cached outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v etcd >/dev/null            || need+=(etcd-server)
command -v cloud-init >/dev/null      || need+=(cloud-init)
command -v fio >/dev/null             || need+=(fio)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v /usr/bin/time >/dev/null 2>&1 || [ -x /usr/bin/time ] || need+=(time)
for extra in $(cat .ci/apt-packages 2>/dev/null); do
  dpkg -s "$extra" >/dev/null 2>&1 || need+=("$extra")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -x .ci/install-cluster-deps.sh ]; then
  ./.ci/install-cluster-deps.sh
else
  ./tools/kube-apiserver/build.sh >/dev/null
fi
