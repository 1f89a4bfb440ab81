#!/usr/bin/env bash
# Builds kubectl at the version of the local test cluster's kube-apiserver
# (for the apply bench's kubectl comparison) and caches it outside the clone.
# Prints the path of the binary on stdout.
set -euo pipefail
version=v1.37.2
here=$(cd "$(dirname "$0")" && pwd)
cache=${VIRTWORK_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME, XDG_CACHE_HOME or VIRTWORK_TOOLS_CACHE}/.cache}/virtwork}
out=$cache/kubectl-$version/kubectl
if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
echo "building kubectl $version (first time only, several minutes on 2 cores)..." >&2
(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl)
mv "$out.tmp" "$out"
echo "$out"
