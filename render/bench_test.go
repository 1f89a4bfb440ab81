package render

import (
	"fmt"
	"io"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/workload"
)

// benchSizes are the VM counts of the performance goals.
var benchSizes = []int{10, 100, 1000, 10000}

// benchInput is `virtwork render --workloads cpu --vm-count n` with the
// built-in workloads: n VMs plus a Namespace and one Secret.
func benchInput(b *testing.B, n int) (*config.Config, []workload.Workload) {
	b.Helper()
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: config.DefaultNamespace}})
	if err != nil {
		b.Fatal(err)
	}
	return &config.Config{Namespace: config.DefaultNamespace, Workloads: []string{"cpu"}, VMCount: n}, ws
}

// BenchmarkRender measures render + encode of n cpu VMs (what `virtwork
// render` does after loading) and reports, from the same iterations, the
// ratio of that time to the encoding alone (goal: at most 2).
func BenchmarkRender(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			cfg, ws := benchInput(b, n)
			b.ReportAllocs()
			var encode time.Duration
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				objs, err := Render(cfg, ws)
				if err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				if err := manifest.Encode(io.Discard, objs); err != nil {
					b.Fatal(err)
				}
				encode += time.Since(t)
			}
			total := time.Since(start)
			b.ReportMetric(float64(total)/float64(encode), "render/encode")
		})
	}
}

// BenchmarkEncode measures encoding alone of the objects of n cpu VMs.
func BenchmarkEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			cfg, ws := benchInput(b, n)
			objs, err := Render(cfg, ws)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := manifest.Encode(io.Discard, objs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckVM measures Check of one rendered VM with a data disk,
// the cost that checking every stamped copy would add per VM.
func BenchmarkCheckVM(b *testing.B) {
	cfg := &config.Config{Workloads: []string{"database"}}
	var vm *unstructured.Unstructured
	for _, o := range mustRender(b, cfg, builtins(b)) {
		if o.GetKind() == "VirtualMachine" {
			vm = o
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(vm); err != nil {
			b.Fatal(err)
		}
	}
}
