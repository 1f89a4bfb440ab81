# make e2e: virtwork's lifecycle on a real KubeVirt (or OpenShift
# Virtualization) cluster, the one $KUBECONFIG (or ~/.kube/config) selects:
# render a small set (E2E_WORKLOADS, default cpu,network), apply it, wait for
# the guest agents, check the guests run and their Services answer, destroy
# it. It creates and deletes a namespace virtwork-e2e-NNNNN. `make test`
# never runs it (build tag e2e).
E2E_TIMEOUT ?= 45m

.PHONY: e2e
## e2e: lifecycle test on a real KubeVirt cluster ($KUBECONFIG).
e2e:
	@if [ -z "$${KUBECONFIG:-}" ] && [ ! -f "$$HOME/.kube/config" ]; then \
		echo "make e2e needs a KubeVirt cluster: set KUBECONFIG"; exit 2; fi
	$(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/
