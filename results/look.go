package results

import (
	"context"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/virtwork/virtwork/internal/kube"
)

// Source reads the figures of vms; the time is when they were read.
type Source interface {
	Read(ctx context.Context, vms []VM) (map[string]Reading, time.Time, error)
}

// Looker looks at an instance's figures, once or again and again
// (--watch): between looks it remembers each VM's failures counter, so a
// rise between two looks marks the VM failing.
type Looker struct {
	Dynamic   dynamic.Interface
	Namespace string
	Name      string
	Source    Source
	// SourceName ("direct" or "prometheus") and Since describe the source
	// in the report.
	SourceName string
	Since      string
	// Host is the API server's URL, which errors reaching it name.
	Host string

	failures map[string]float64
}

// Look reads the expected VMs from the inventory, reads their figures and
// judges them. Errors from the API server come worded as apply's
// (kube.Explain): unreachable, no permission, bad credentials; Prometheus's
// are its own.
func (l *Looker) Look(ctx context.Context) (*Report, error) {
	vms, err := Expected(ctx, l.Dynamic, l.Namespace, l.Name)
	if err != nil {
		return nil, kube.Explain(err, l.Host)
	}
	readings, at, err := l.Source.Read(ctx, vms)
	if _, direct := l.Source.(*Direct); err != nil && direct {
		return nil, kube.Explain(err, l.Host)
	}
	if err != nil {
		return nil, err // Prometheus's, not the API server's
	}
	l.remember(vms, readings)
	return &Report{
		Namespace: l.Namespace, Name: l.Name, Source: l.SourceName, Since: l.Since,
		At: at.UTC(), Groups: Evaluate(at, vms, readings),
	}, nil
}

// remember marks the VMs whose failures counter rose since the previous
// look as such, and keeps the counters for the next look.
func (l *Looker) remember(vms []VM, readings map[string]Reading) {
	failures := make(map[string]float64, len(readings))
	for _, vm := range vms {
		r := readings[vm.Name]
		f, ok := failuresOf(vm.Workload, r.Samples)
		if !ok {
			continue
		}
		failures[vm.Name] = f
		if before, seen := l.failures[vm.Name]; seen && f > before {
			r.FailuresRose = true
			readings[vm.Name] = r
		}
	}
	l.failures = failures
}

func failuresOf(workload string, samples []Sample) (float64, bool) {
	for _, s := range samples {
		if s.Name == metricFailures && s.Labels[labelWorkload] == workload {
			return s.Value, true
		}
	}
	return 0, false
}
