package history

import (
	"strings"
	"testing"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

func runWithReady(id string, readySeconds ...float64) *Run {
	r := &Run{ID: id, Command: "apply", Outcome: Succeeded, Namespace: "perf", Name: "virtwork", Version: "v1",
		Workloads: []Workload{{Workload: "cpu", VMs: len(readySeconds), CPUCores: 2, Memory: "2Gi"}}}
	for i, s := range readySeconds {
		d := event.Seconds(time.Duration(s * float64(time.Second)))
		r.VMs = append(r.VMs, VM{Name: "cpu-" + string(rune('a'+i)), Status: "Ready", Measured: true,
			Phases: map[string]Seconds{event.PhaseScheduled: d / 2, event.PhaseReady: d}})
	}
	r.summarize()
	return r
}

func TestCompareFlagsOnlyRealSlowdowns(t *testing.T) {
	base := runWithReady("a", 10, 11, 12, 13, 20)
	for _, tc := range []struct {
		name   string
		b      *Run
		limits []string
		want   []string // regressions, "phase figure"
	}{
		{"identical", runWithReady("b", 10, 11, 12, 13, 20), []string{"5"}, nil},
		{"faster", runWithReady("b", 5, 6, 7, 8, 9), []string{"0"}, nil},
		{"twice as slow", runWithReady("b", 20, 22, 24, 26, 40), []string{"50"},
			[]string{"Scheduled p50", "Scheduled p90", "Scheduled p95", "Scheduled p99", "Ready p50", "Ready p90", "Ready p95", "Ready p99"}},
		{"only p99 limited", runWithReady("b", 10, 11, 12, 13, 40), []string{"p99=50"}, []string{"Scheduled p99", "Ready p99"}},
		{"within the limit", runWithReady("b", 11, 12, 13, 14, 22), []string{"p50=20,p99=20"}, nil},
		// 12 s -> 13 s is +8%, but a second is the timestamps' resolution.
		{"one second is noise", runWithReady("b", 11, 12, 13, 14, 21), []string{"1"}, nil},
	} {
		checkRegressions(t, tc.name, Compare(base, tc.b), tc.limits, tc.want)
	}
}

func TestCompareSettings(t *testing.T) {
	a, b := runWithReady("a", 1, 2), runWithReady("b", 1, 2, 3)
	b.Version = "v2"
	c := Compare(a, b)
	differs := map[string]bool{}
	for _, s := range c.Settings {
		differs[s.Name] = s.Differs
	}
	for name, want := range map[string]bool{"virtwork": true, "VMs": true, "workload cpu": true, "namespace/name": false, "cluster": false} {
		if got, ok := differs[name]; !ok || got != want {
			t.Errorf("setting %q: differs %v (listed %v), want %v", name, got, ok, want)
		}
	}
	var ready *PhaseChange
	for i := range c.Phases {
		if c.Phases[i].Phase == event.PhaseReady {
			ready = &c.Phases[i]
		}
	}
	if ready == nil || ready.Change["max"] != 50 {
		t.Errorf("Ready change %+v, want max +50%%", ready)
	}
}

func TestParseLimits(t *testing.T) {
	l, err := ParseLimits([]string{"10", "p99=25%"})
	if err != nil {
		t.Fatal(err)
	}
	if l["p50"] != 10 || l["p95"] != 10 || l["p99"] != 25 || l["max"] != 0 {
		t.Errorf("limits %v", l)
	}
	for _, bad := range []string{"", "x", "p42=1", "min=5", "-3", "p50=NaN"} {
		if _, err := ParseLimits([]string{bad}); err == nil {
			t.Errorf("ParseLimits(%q) accepted", bad)
		}
	}
}

func TestResolveLast(t *testing.T) {
	db := tempDB(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, cmd := range []string{"apply", "apply", "destroy", "apply"} {
		r := &Run{ID: NewID(t0.Add(time.Duration(i) * time.Minute)), Command: cmd, Start: t0.Add(time.Duration(i) * time.Minute), Outcome: Succeeded}
		if err := db.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	dry := &Run{ID: NewID(t0.Add(10 * time.Minute)), Command: "apply", DryRun: true, Start: t0.Add(10 * time.Minute), Outcome: Succeeded}
	if err := db.Put(dry); err != nil {
		t.Fatal(err)
	}
	for ref, minute := range map[string]int{"last": 3, "last~1": 1, "last~2": 0} {
		r, err := db.Resolve(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if !r.Start.Equal(t0.Add(time.Duration(minute) * time.Minute)) {
			t.Errorf("%s is the run of %s, want minute %d", ref, r.Start, minute)
		}
	}
	for _, bad := range []string{"last~3", "last~x", "last~-1"} {
		if _, err := db.Resolve(bad); err == nil {
			t.Errorf("Resolve(%q) found a run", bad)
		}
	}
}

// TestCompareGateCatchesFailedRuns: a gate must not pass a run that
// failed, measured fewer VMs or lacks phases the baseline had; its
// figures being absent is no proof of speed.
func TestCompareGateCatchesFailedRuns(t *testing.T) {
	base := runWithReady("a", 10, 11, 12, 13, 20)
	base.Outcome = Succeeded
	ended := func(b *Run, o Outcome) *Run { b.Outcome = o; return b }
	withoutReady := func(b *Run, n int) *Run { // the last n VMs never got Ready
		for i := len(b.VMs) - n; i < len(b.VMs); i++ {
			delete(b.VMs[i].Phases, event.PhaseReady)
			b.VMs[i].Status = "Running"
		}
		b.summarize()
		return b
	}
	for _, tc := range []struct {
		name string
		b    *Run
		want []string // regressions, "phase figure"
	}{
		{"the same, succeeded", ended(runWithReady("b", 10, 11, 12, 13, 20), Succeeded), nil},
		{"failed with no VMs", &Run{ID: "b", Command: "apply", Outcome: Failed, Error: "no cluster"},
			[]string{" outcome", "Scheduled count", "Ready count"}},
		{"timed out, faster but one VM never ready", ended(withoutReady(runWithReady("b", 5, 6, 7, 8, 9), 1), TimedOut),
			[]string{" outcome", "Ready count"}},
		{"succeeded but fewer VMs measured", ended(runWithReady("b", 10, 11, 12), Succeeded),
			[]string{"Scheduled count", "Ready count"}},
		{"more VMs, one missed Ready", ended(withoutReady(runWithReady("b", 10, 11, 12, 13, 14, 15), 1), Succeeded),
			[]string{"Ready count"}},
	} {
		checkRegressions(t, tc.name, Compare(base, tc.b), []string{"10"}, tc.want)
	}
}

// checkRegressions checks that c, gated by --fail-if-slower limits,
// finds the regressions want ("phase figure"), each with a message.
func checkRegressions(t *testing.T, name string, c *Comparison, limits []string, want []string) {
	t.Helper()
	l, err := ParseLimits(limits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.Check(Gate{Slower: l}) {
		got = append(got, r.Phase+" "+r.Figure)
		if r.Message == "" {
			t.Errorf("%s: regression %s %s without a message", name, r.Phase, r.Figure)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: regressions %q, want %q", name, got, want)
	}
}

// TestResultsOf: an apply's figures are the newest results look of its
// instance taken while its VMs ran: after it, before the next apply or
// destroy of that instance; other instances' looks do not count.
func TestResultsOf(t *testing.T) {
	db := tempDB(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(minute int, cmd, name string, value float64) *Run {
		at := t0.Add(time.Duration(minute) * time.Minute)
		r := &Run{ID: NewID(at), Command: cmd, Start: at, Outcome: Succeeded, Namespace: "perf", Name: name, InventoryID: "perf." + name}
		if cmd == CommandResults {
			r.Results = []Result{{Workload: "cpu", Metric: "virtwork_stress_bogo_ops_per_second", Unit: "1/s", Value: value}}
		}
		if err := db.Put(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := put(0, CommandResults, "virtwork", 1)
	first := put(1, "apply", "virtwork", 0)
	put(2, CommandResults, "virtwork", 2)
	put(3, CommandResults, "virtwork", 3) // the newest look of first
	put(4, CommandResults, "other", 99)
	put(5, "destroy", "virtwork", 0)
	put(6, CommandResults, "virtwork", 4) // nothing of first's left
	second := put(7, "apply", "virtwork", 0)
	third := put(8, "apply", "virtwork", 0)
	put(9, CommandResults, "other", 99)
	for _, tc := range []struct {
		run  *Run
		want float64 // 0: none
	}{{first, 3}, {second, 0}, {third, 0}, {before, 1}} {
		got, err := db.ResultsOf(tc.run)
		if err != nil {
			t.Fatal(err)
		}
		var v float64
		if got != nil {
			v = got.Results[0].Value
		}
		if v != tc.want {
			t.Errorf("results of the %s of minute %d: %v, want %v", tc.run.Command, tc.run.Start.Minute(), v, tc.want)
		}
	}
}

func TestCompareResults(t *testing.T) {
	res := func(id string, outcome Outcome, values ...float64) *Run {
		metrics := []Result{
			{Workload: "cpu", Metric: "virtwork_stress_bogo_ops_per_second", Unit: "1/s"},
			{Workload: "database", Role: "client", Metric: "virtwork_pgbench_latency_average_seconds", Unit: "s"},
			{Workload: "network", Role: "client", Metric: "virtwork_iperf3_retransmits"},
			{Workload: "disk", Metric: "virtwork_fio_iops{op=read,profile=oltp}"},
			{Workload: "cpu", Metric: "virtwork_something_unknown"},
		}
		r := &Run{ID: id, Command: CommandResults, Outcome: outcome}
		for i, v := range values {
			if v >= 0 { // -1: not reported
				m := metrics[i]
				m.Value = v
				r.Results = append(r.Results, m)
			}
		}
		return r
	}
	a := runWithReady("a", 10)
	a.Outcome = Succeeded
	b := runWithReady("b", 10)
	b.Outcome = Succeeded
	worse := 10.0
	for _, tc := range []struct {
		name   string
		ra, rb *Run
		want   []string // regressions, "reason workload figure"
	}{
		{"the same", res("ra", Succeeded, 1000, 0.01, 2, 500, 7), res("rb", Succeeded, 1000, 0.01, 2, 500, 7), nil},
		{"better everywhere", res("ra", Succeeded, 1000, 0.01, 2, 500, 7), res("rb", Succeeded, 2000, 0.005, 0, 900, 1), nil},
		{"within the limit", res("ra", Succeeded, 1000, 0.01, 2, 500, 7), res("rb", Succeeded, 910, 0.0109, 2, 460, 1), nil},
		{"worse", res("ra", Succeeded, 1000, 0.01, 0, 500, 7), res("rb", Succeeded, 800, 0.02, 3, 400, 1),
			[]string{"worse cpu virtwork_stress_bogo_ops_per_second", "worse database/client virtwork_pgbench_latency_average_seconds",
				"worse network/client virtwork_iperf3_retransmits", "worse disk virtwork_fio_iops{op=read,profile=oltp}"}},
		{"a figure gone", res("ra", Succeeded, 1000, 0.01, 2, 500, 7), res("rb", Succeeded, 1000, -1, 2, 500, 7),
			[]string{"results database/client virtwork_pgbench_latency_average_seconds"}},
		{"no results for B", res("ra", Succeeded, 1000), nil, []string{"results  results"}},
		{"results run failed", res("ra", Succeeded, 1000), res("rb", Failed, 1000), []string{"results  outcome"}},
		{"no baseline", nil, res("rb", Succeeded, 1), nil},
		{"no baseline, results run failed", nil, res("rb", Failed, 1), []string{"results  outcome"}},
	} {
		c := Compare(a, b)
		c.AddResults(tc.ra, tc.rb)
		var got []string
		for _, r := range c.Check(Gate{Worse: &worse}) {
			got = append(got, r.Reason+" "+r.Workload+" "+r.Figure)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: regressions %q, want %q", tc.name, got, tc.want)
		}
	}
	// Shown without a gate, with the change and the better way.
	c := Compare(a, b)
	c.AddResults(res("ra", Succeeded, 1000, 0.01), res("rb", Succeeded, 800, 0.01, 5))
	if len(c.Check(Gate{})) != 0 {
		t.Error("no gate, yet regressions")
	}
	if len(c.Results) != 3 || *c.Results[0].Change != -20 || c.Results[0].Better != "higher" ||
		c.Results[1].Better != "lower" || c.Results[2].A != nil || *c.Results[2].B != 5 {
		t.Errorf("results %+v", c.Results)
	}
}

func TestBetterOf(t *testing.T) {
	for _, tc := range []struct{ metric, unit, want string }{
		{"virtwork_stress_bogo_ops_per_second{stressor=cpu}", "1/s", "higher"},
		{"virtwork_stress_bogo_ops_per_cpu_second", "", "higher"},
		{"virtwork_fio_iops{op=write,profile=oltp}", "", "higher"},
		{"virtwork_fio_bandwidth_bytes_per_second{op=read}", "bytes/s", "higher"},
		{"virtwork_iperf3_sent_bits_per_second", "bits/s", "higher"},
		{"virtwork_pgbench_transactions_per_second", "1/s", "higher"},
		{"virtwork_fio_completion_latency_seconds{quantile=0.99}", "s", "lower"},
		{"virtwork_pgbench_failed_transactions", "", "lower"},
		{"virtwork_iperf3_retransmits", "", "lower"},
		{"virtwork_guest_load1", "", ""},
	} {
		if got := BetterOf(tc.metric, tc.unit); got != tc.want {
			t.Errorf("BetterOf(%q, %q) = %q, want %q", tc.metric, tc.unit, got, tc.want)
		}
	}
}
