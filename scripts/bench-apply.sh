#!/usr/bin/env bash
# The apply bench (see apply/bench_test.go): against one local API server,
# kubectl apply --server-side / delete --wait vs a 32-worker parallel
# server-side-apply floor vs virtwork, for BENCH_VMS VMs (default 1000), and
# virtwork's peak memory for BENCH_MEMVMS VMs (default 10000; 0 skips).
# Prints "bench:" lines with the figures and the ratios against the goals.
set -euo pipefail
cd "$(dirname "$0")/.."
vms=${BENCH_VMS:-1000}
memvms=${BENCH_MEMVMS:-10000}
extra=()
if [ "${BENCH_KUBECTL_DELETE:-1}" = 0 ]; then extra+=(-bench.kubectl-delete=false); fi
go test ./apply -run '^TestBench$' -count=1 -v -timeout 90m \
  -bench.vms "$vms" -bench.memvms "$memvms" "${extra[@]}" 2>&1 | grep -E '^(bench:|--- |FAIL|ok )'
