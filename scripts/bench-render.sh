#!/usr/bin/env bash
# bench-render.sh: how long `virtwork render` takes and how much memory it
# needs for 10, 100, 1,000 and 10,000 VMs (--workloads cpu --vm-count N:
# N VMs, one Secret, the Namespace), then the Go benchmarks of render vs.
# encoding alone (render/bench_test.go), whose render/encode column is the
# ratio from the same iterations.
#
# Goals (2 cores): 1,000 VMs < 0.3 s; 10,000 VMs < 2 s and < 300 MiB peak
# RSS; render/encode <= 2. The machine may be shared: compare within a run.
#
# Usage: scripts/bench-render.sh [RUNS]   (RUNS per size, best kept; default 3)
# CPU is user + system time, less disturbed by other load than wall time.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
sizes=(10 100 1000 10000)

if [ ! -x /usr/bin/time ]; then
	echo "bench-render: /usr/bin/time is missing; install the 'time' package (apt-get install time)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/virtwork" ./cmd/virtwork

printf '%-8s %10s %10s %16s %12s\n' "VMs" "wall (s)" "CPU (s)" "peak RSS (MiB)" "output (MB)"
for n in "${sizes[@]}"; do
	best_wall="" best_cpu="" best_rss=""
	for _ in $(seq "$runs"); do
		/usr/bin/time -v -o "$tmp/time" "$tmp/virtwork" render --workloads cpu --vm-count "$n" >"$tmp/out.yaml"
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
			n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tmp/time")
		cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$tmp/time")
		rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time")
		if [ -z "$best_wall" ] || awk "BEGIN { exit !($wall < $best_wall) }"; then best_wall=$wall; fi
		if [ -z "$best_cpu" ] || awk "BEGIN { exit !($cpu < $best_cpu) }"; then best_cpu=$cpu; fi
		if [ -z "$best_rss" ] || [ "$rss" -lt "$best_rss" ]; then best_rss=$rss; fi
	done
	size=$(stat -c %s "$tmp/out.yaml")
	printf '%-8s %10.2f %10.2f %16.1f %12.1f\n' "$n" "$best_wall" "$best_cpu" "$(awk "BEGIN { print $best_rss / 1024 }")" "$(awk "BEGIN { print $size / 1e6 }")"
done

echo
echo "go test -bench (ns/op; render/encode = (render + encode) / encode, same iterations):"
go test -run '^$' -bench '^Benchmark(Render|Encode)$' -benchtime 1s ./render | grep -E '^Benchmark'
