package event

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Lifecycle steps of a VM, in the order they normally happen. Each VM's
// Phases holds the time from its start (VM.Started) to each step it
// reached, read from the cluster's own timestamps.
const (
	PhaseDataVolumes    = "DataVolumesSucceeded" // every DataVolume of the VM Succeeded
	PhaseVMICreated     = "VMICreated"           // the VMI's creationTimestamp
	PhasePending        = "Pending"              // VMI phases, from status.phaseTransitionTimestamps
	PhaseScheduling     = "Scheduling"
	PhaseScheduled      = "Scheduled"
	PhaseRunning        = "Running"
	PhaseReady          = "Ready"          // the VM's Ready condition turned True
	PhaseAgentConnected = "AgentConnected" // the VM's AgentConnected condition turned True
)

// Phases lists the lifecycle steps in order.
var Phases = []string{PhaseDataVolumes, PhaseVMICreated, PhasePending, PhaseScheduling, PhaseScheduled,
	PhaseRunning, PhaseReady, PhaseAgentConnected}

// PhaseTimes are a VM's times from its start to each lifecycle step it
// reached, by phase name.
type PhaseTimes map[string]Seconds

// MarshalJSON writes the phases in lifecycle order, without reflection:
// a run of 10,000 VMs stores 10,000 of these.
func (p PhaseTimes) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 24*len(p)+2)
	b = append(b, '{')
	n := 0
	add := func(k string, v Seconds) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = strconv.AppendFloat(b, time.Duration(v).Seconds(), 'f', 3, 64)
	}
	for _, k := range Phases {
		if v, ok := p[k]; ok {
			add(k, v)
		}
	}
	if n < len(p) { // names from elsewhere, sorted
		var rest []string
		for k := range p {
			if PhaseIndex(k) < 0 {
				rest = append(rest, k)
			}
		}
		slices.Sort(rest)
		for _, k := range rest {
			add(k, p[k])
		}
	}
	return append(b, '}'), nil
}

// PhaseIndex is the position of a phase in Phases (-1 if unknown).
func PhaseIndex(phase string) int { return slices.Index(Phases, phase) }

// Stats are latency figures over a run's VMs, as kube-burner's vmiLatency
// and KubeVirt's perf-scale figures report them. Quantiles are nearest-rank
// (see Quantile): with one value every figure is that value.
type Stats struct {
	Count int     `json:"count"`
	Min   Seconds `json:"min"`
	P50   Seconds `json:"p50"`
	P90   Seconds `json:"p90"`
	P95   Seconds `json:"p95"`
	P99   Seconds `json:"p99"`
	Max   Seconds `json:"max"`
	Mean  Seconds `json:"mean"`
}

// UnmarshalJSON also reads "avg", Mean's name in records written before
// P95 and Mean were added.
func (s *Stats) UnmarshalJSON(b []byte) error {
	type plain Stats
	var v struct {
		plain
		Avg *Seconds `json:"avg"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Stats(v.plain)
	if v.Avg != nil && s.Mean == 0 {
		s.Mean = *v.Avg
	}
	return nil
}

// Quantiles names the quantiles of Stats, for flags and tables.
var Quantiles = []string{"p50", "p90", "p95", "p99"}

// Get returns a figure by name: min, p50, p90, p95, p99, max, mean.
func (s Stats) Get(name string) (Seconds, bool) {
	switch name {
	case "min":
		return s.Min, true
	case "p50":
		return s.P50, true
	case "p90":
		return s.P90, true
	case "p95":
		return s.P95, true
	case "p99":
		return s.P99, true
	case "max":
		return s.Max, true
	case "mean":
		return s.Mean, true
	}
	return 0, false
}

// NewStats computes Stats over values (in any order); nil when there are
// none.
func NewStats(values []time.Duration) *Stats {
	if len(values) == 0 {
		return nil
	}
	s := slices.Clone(values)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	rank := func(q float64) Seconds { return Seconds(Quantile(s, q)) }
	return &Stats{
		Count: len(s), Min: Seconds(s[0]), Max: Seconds(s[len(s)-1]),
		P50: rank(0.5), P90: rank(0.9), P95: rank(0.95), P99: rank(0.99),
		Mean: Seconds(math.Round(sum / float64(len(s)))),
	}
}

// PhaseStats are the Stats of one lifecycle step over a run's VMs;
// Missing counts the measured VMs that never showed the step (not reached,
// or not recorded). DataVolumesSucceeded has none missing: a VM without
// data disks has no DataVolumes to wait for.
type PhaseStats struct {
	Phase string `json:"phase"`
	Stats
	Missing int `json:"missing,omitempty"`
}

// UnmarshalJSON is needed because Stats' own would otherwise take the
// whole object and drop Phase and Missing.
func (p *PhaseStats) UnmarshalJSON(b []byte) error {
	var v struct {
		Phase   string `json:"phase"`
		Missing int    `json:"missing"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if err := p.Stats.UnmarshalJSON(b); err != nil {
		return err
	}
	p.Phase, p.Missing = v.Phase, v.Missing
	return nil
}

// PhaseSummary computes per-phase Stats over the VMs that were measured
// (Measured), in the order of Phases; phases no VM reached are left out.
func PhaseSummary(vms []VM) []PhaseStats {
	values := map[string][]time.Duration{}
	measured := 0
	for _, v := range vms {
		if !v.Measured {
			continue
		}
		measured++
		for p, d := range v.Phases {
			values[p] = append(values[p], time.Duration(d))
		}
	}
	var out []PhaseStats
	for _, p := range Phases {
		if s := NewStats(values[p]); s != nil {
			ps := PhaseStats{Phase: p, Stats: *s, Missing: measured - s.Count}
			if p == PhaseDataVolumes {
				ps.Missing = 0
			}
			out = append(out, ps)
		}
	}
	return out
}

// Holdup is the step a VM waited longest for: the phase whose time since
// the step before it is the largest, and that time ("" when the VM has no
// phases).
func (v VM) Holdup() (string, time.Duration) {
	var phase string
	var longest time.Duration
	var prev time.Duration
	for _, p := range Phases {
		d, ok := v.Phases[p]
		if !ok {
			continue
		}
		if gap := time.Duration(d) - prev; phase == "" || gap > longest {
			phase, longest = p, gap
		}
		prev = max(prev, time.Duration(d))
	}
	return phase, longest
}

// Last is the latest phase a VM reached and its time.
func (v VM) Last() (string, time.Duration, bool) {
	for i := len(Phases) - 1; i >= 0; i-- {
		if d, ok := v.Phases[Phases[i]]; ok {
			return Phases[i], time.Duration(d), true
		}
	}
	return "", 0, false
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration in seconds: %w", err)
	}
	*s = Seconds(math.Round(f * float64(time.Second)))
	return nil
}
