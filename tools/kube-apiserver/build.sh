#!/usr/bin/env bash
# Builds kube-apiserver for the local test cluster and caches it outside the
# clone, keyed by version, so CI runs and later sessions reuse it.
# Prints the path of the binary on stdout.
set -euo pipefail
version=v1.37.2
here=$(cd "$(dirname "$0")" && pwd)
cache=${VIRTWORK_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME, XDG_CACHE_HOME or VIRTWORK_TOOLS_CACHE}/.cache}/virtwork}
out=$cache/kube-apiserver-$version/kube-apiserver
if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
echo "building kube-apiserver $version (first time only, ~10 min on 2 cores)..." >&2
(cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
mv "$out.tmp" "$out"
echo "$out"
