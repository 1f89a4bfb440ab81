#!/usr/bin/env bash
# Regenerates cue/gen: CUE definitions of the KubeVirt (kubevirt.io/api),
# CDI and Kubernetes core/meta API types, from the Go modules go.mod pins,
# with CUE's own Go import (cue get go, cuelang.org/go at go.mod's version).
#
# cue get go turns a type with its own UnmarshalJSON into "_" (anything),
# which would leave VirtualMachineInstanceSpec, PodNetwork and
# DHCPOptions unchecked; the script imports a copy of kubevirt.io/api in
# which those methods are renamed, so the struct fields are kept.
# k8s.io/api marks its embedded structs json:"" where cue get go expects
# json:",inline" (without it, Service, Secret and Namespace would get a
# field named TypeMeta instead of apiVersion and kind): the copy of
# k8s.io/api it imports says ",inline".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cuever=$(go list -m -f '{{.Version}}' cuelang.org/go)
kvdir=$(go list -m -f '{{.Dir}}' kubevirt.io/api)
k8sdir=$(go list -m -f '{{.Dir}}' k8s.io/api)
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

cp go.mod go.sum "$work"/
cp -r "$kvdir" "$work/kubevirt-api"
chmod -R u+w "$work/kubevirt-api"
sed -i 's/) UnmarshalJSON(/) unmarshalJSONForCUEGen(/' "$work"/kubevirt-api/core/v1/*.go
cp -r "$k8sdir" "$work/k8s-api"
chmod -R u+w "$work/k8s-api"
sed -i 's/`json:""/`json:",inline"/' "$work"/k8s-api/core/v1/*.go
cd "$work"
go mod edit -replace kubevirt.io/api="./kubevirt-api" -replace k8s.io/api="./k8s-api"
cat > deps.go <<'GO'
package gen

import (
	_ "k8s.io/api/core/v1"
	_ "kubevirt.io/api/core/v1"
	_ "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)
GO
mkdir cue.mod
printf 'module: "virtwork.local/gen@v0"\nlanguage: version: "v0.17.0"\n' > cue.mod/module.cue
GOFLAGS=-mod=mod go run "cuelang.org/go/cmd/cue@$cuever" get go \
	kubevirt.io/api/core/v1 \
	kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1 \
	k8s.io/api/core/v1
rm -rf "$repo/cue/gen"
cp -r cue.mod/gen "$repo/cue/gen"
echo "cue/gen: $(find "$repo/cue/gen" -name '*.cue' | wc -l) files, $(du -sh "$repo/cue/gen" | cut -f1)"
