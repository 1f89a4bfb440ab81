package workload

import (
	"fmt"
	"runtime/metrics"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Limits bound the evaluation of workload CUE. CUE (v0.17) has no memory
// or time limit of its own and a few lines can ask for gigabytes (a list
// of fifty million elements) or for hours, so Load evaluates on a
// goroutine and watches the process's heap and the clock. When a limit is
// crossed Load returns an error at once; the evaluation cannot be stopped
// and runs on, so the caller must end the process (the CLI exits with the
// error). Zero fields take the defaults.
type Limits struct {
	// MaxMemory bounds the heap growth during the evaluation, in bytes.
	MaxMemory int64
	Timeout   time.Duration
}

// Defaults: the built-ins take about 10 MiB and 5 ms.
const (
	DefaultMaxMemory = 1 << 30
	DefaultTimeout   = time.Minute
)

// heapSample is the runtime's count of heap bytes in objects, live or not
// yet swept: it follows allocation as it happens, not only after a GC.
const heapSample = "/memory/classes/heap/objects:bytes"

func heapBytes() int64 {
	s := []metrics.Sample{{Name: heapSample}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// watchdogInterval is how often the heap is sampled: at the 250 MB/s a
// hostile list allocates, a limit is overshot by a few MB at most.
const watchdogInterval = 5 * time.Millisecond

// guarded runs eval within lim; what names the culprit in messages.
func guarded(lim Limits, what string, eval func() ([]Workload, error)) ([]Workload, error) {
	if lim.MaxMemory <= 0 {
		lim.MaxMemory = DefaultMaxMemory
	}
	if lim.Timeout <= 0 {
		lim.Timeout = DefaultTimeout
	}
	type result struct {
		ws  []Workload
		err error
	}
	done := make(chan result, 1)
	base := heapBytes()
	go func() {
		ws, err := eval()
		done <- result{ws, err}
	}()
	tick := time.NewTicker(watchdogInterval)
	defer tick.Stop()
	deadline := time.NewTimer(lim.Timeout)
	defer deadline.Stop()
	for {
		select {
		case r := <-done:
			return r.ws, r.err
		case <-deadline.C:
			return nil, fmt.Errorf("%s: evaluating the workloads' CUE took longer than %s, so it was stopped: look for a very large list or comprehension (VIRTWORK_CUE_TIMEOUT raises the limit)", what, lim.Timeout)
		case <-tick.C:
			if grown := heapBytes() - base; grown > lim.MaxMemory {
				return nil, fmt.Errorf("%s: evaluating the workloads' CUE needed more than %s of memory, so it was stopped: look for a very large list or comprehension (VIRTWORK_CUE_MAX_MEMORY raises the limit)",
					what, resource.NewQuantity(lim.MaxMemory, resource.BinarySI))
			}
		}
	}
}

// LimitsFromEnv reads VIRTWORK_CUE_MAX_MEMORY (a quantity, e.g. 2Gi) and
// VIRTWORK_CUE_TIMEOUT (a duration, e.g. 5m); unset or empty means the
// default.
func LimitsFromEnv(getenv func(string) (string, bool)) (Limits, error) {
	var lim Limits
	if v, ok := getenv("VIRTWORK_CUE_MAX_MEMORY"); ok && v != "" {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Value() <= 0 {
			return lim, fmt.Errorf("VIRTWORK_CUE_MAX_MEMORY %q: want a positive quantity such as 2Gi", v)
		}
		lim.MaxMemory = q.Value()
	}
	if v, ok := getenv("VIRTWORK_CUE_TIMEOUT"); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return lim, fmt.Errorf("VIRTWORK_CUE_TIMEOUT %q: want a positive duration such as 5m", v)
		}
		lim.Timeout = d
	}
	return lim, nil
}
