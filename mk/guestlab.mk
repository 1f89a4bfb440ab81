# make guestlab: boot the rendered cloud-init of every built-in workload
# (render --guest-os debian) in real guests under qemu and check inside
# them that the load runs (internal/guestlab). The Debian 12 guest image
# is built once with mmdebstrap into ~/.cache/virtwork/guestlab/ (keyed by
# a hash of the build script and the workloads' packages; needs root and
# deb.debian.org the first time). `make test` runs it after the Go tests.
#   make guestlab GUESTLAB_FLAGS="-workloads cpu,database -work /tmp/lab"
GUESTLAB_FLAGS ?=

.PHONY: guestlab

## guestlab: boot every workload's user data in qemu guests and check the load runs.
guestlab: build
	@$(GO) build -o bin/guestlab ./cmd/guestlab
	./bin/guestlab -virtwork ./$(BIN) $(GUESTLAB_FLAGS)
