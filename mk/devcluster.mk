# Local cluster targets (included by the Makefile).
#   make kube-apiserver   build kube-apiserver once into the cache (~7-10 min cold)
#   make devcluster       run etcd + kube-apiserver + the KubeVirt simulator until Ctrl-C
# Pass simulator flags with DEVCLUSTER_FLAGS, e.g. DEVCLUSTER_FLAGS="-boot-delay 10s -fault ErrImagePull".
DEVCLUSTER_FLAGS ?=

.PHONY: kube-apiserver devcluster

## kube-apiserver: build kube-apiserver (cached outside the clone, keyed by version).
kube-apiserver:
	@echo "kube-apiserver: $$(./tools/kube-apiserver/build.sh)"

## devcluster: a local KubeVirt-like cluster in the foreground; prints the KUBECONFIG to export.
devcluster: kube-apiserver
	@command -v etcd >/dev/null || { echo "etcd not found: run ./.ci/install-cluster-deps.sh (or apt-get install etcd-server)" >&2; exit 1; }
	@$(GO) build -o bin/devcluster ./cmd/devcluster
	@./bin/devcluster $(DEVCLUSTER_FLAGS)
