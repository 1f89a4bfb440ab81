# virtwork — make targets. `make run` and `make test` are all a newcomer needs.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X github.com/virtwork/virtwork/internal/version.Version=$(VERSION)
BIN       := bin/virtwork
# Arguments for `make run`, e.g. make run ARGS="render --workloads cpu".
ARGS      ?= render

.PHONY: all build run test test-unit test-faults deps lint bench clean cue-gen

all: build

build:
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/virtwork

## run: print the default manifest set (or run ARGS); stdout holds only
## virtwork's output, so `make run > set.yaml` works.
run: build
	@./$(BIN) $(ARGS)

## deps: install what the tests need (etcd, kube-apiserver, cloud-init, fio, ...).
deps:
	./.ci/install-deps.sh

## test: formatting, vet, and every test, including those against a local
## kube-apiserver and the validators (cloud-init, systemd-analyze, fio);
## then the guest lab (mk/guestlab.mk), after the Go tests, not beside them.
# -p 1: one package at a time. Several packages each start their own
# kube-apiserver and etcd; two of them beside each other on 2 cores once
# starved the API server past its 60 s request timeout.
test: deps lint
	$(GO) test -p 1 -count=1 -timeout 40m ./...
	@$(MAKE) --no-print-directory test-faults
	$(MAKE) guestlab

## test-faults: the fault suite (build tag faults): SIGINT/SIGKILL, races,
## an API server restart and an etcd pause under virtwork, checking the
## README's Guarantees after every scenario (~4 min on 2 cores).
test-faults:
	$(GO) vet -tags faults ./faults
	$(GO) test -tags faults -count=1 -timeout 15m ./faults

## test-unit: the tests that need nothing installed.
test-unit:
	VIRTWORK_SKIP_CLUSTER=1 $(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: render, guest exporter/runner, results and apply benchmarks; figures go to the README.
bench: build
	./scripts/bench-render.sh
	./scripts/bench-guest.py
	$(GO) test ./results -run '^$$' -bench DirectThousandVMs -benchtime 3x
	@if [ -x ./scripts/bench-apply.sh ]; then ./scripts/bench-apply.sh; fi

## cue-gen: regenerate cue/gen, the CUE definitions of the KubeVirt, CDI and
## Kubernetes API types that VM overlays and cue/templates are checked against (cue get go).
cue-gen:
	./scripts/cue-gen.sh

clean:
	rm -rf bin

-include mk/*.mk
