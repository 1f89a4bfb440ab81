package history

import (
	"strings"
	"testing"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

func runWithReady(id string, readySeconds ...float64) *Run {
	r := &Run{ID: id, Command: "apply", Namespace: "perf", Name: "virtwork", Version: "v1",
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
		limits, err := ParseLimits(tc.limits)
		if err != nil {
			t.Fatal(err)
		}
		c := Compare(base, tc.b)
		var got []string
		for _, r := range c.Check(limits) {
			got = append(got, r.Phase+" "+r.Figure)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: regressions %v, want %v", tc.name, got, tc.want)
		}
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
