package results

import (
	"context"
	"strings"
	"testing"
	"time"
)

func sample(name, workload, vm string, v float64, labels ...string) Sample {
	l := map[string]string{labelWorkload: workload, labelRole: "main", labelVM: vm}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return Sample{Name: name, Labels: l, Value: v, Counter: strings.HasSuffix(name, "_total")}
}

// bookkeeping is a VM whose last run succeeded at last, interval 60 s.
func bookkeeping(workload, vm string, last time.Time, failures float64) []Sample {
	return []Sample{
		sample(metricRuns, workload, vm, 10),
		sample(metricFailures, workload, vm, failures),
		sample(metricLastSuccess, workload, vm, float64(last.Unix())),
		sample(metricLastRunSuccess, workload, vm, 1),
		sample(metricInterval, workload, vm, 60),
	}
}

// Medians of an even count average the middle two; latencies get no sum;
// fio ops a profile does not do (0 IOPS on every VM) are left out, but an
// op at 0 on one VM and not on another stays.
func TestAggregate(t *testing.T) {
	now := time.Now()
	var vms []VM
	readings := map[string]Reading{}
	for i, iops := range []float64{100, 200, 400, 800} {
		vm := VM{Name: []string{"disk-1", "disk-2", "disk-3", "disk-4"}[i], Workload: "disk"}
		vms = append(vms, vm)
		readFigure := iops
		if i == 0 {
			readFigure = 0
		}
		readings[vm.Name] = Reading{Samples: append(bookkeeping("disk", vm.Name, now, 0),
			sample(metricFioIOPS, "disk", vm.Name, iops, "profile", "mixed-rw", "op", "write"),
			sample(metricFioIOPS, "disk", vm.Name, readFigure, "profile", "mixed-rw", "op", "read"),
			sample(metricFioIOPS, "disk", vm.Name, 0, "profile", "seq-write", "op", "read"),
			sample("virtwork_fio_completion_latency_seconds", "disk", vm.Name, 0.001*float64(i+1), "profile", "seq-write", "op", "read", "quantile", "0.99"),
			sample("virtwork_fio_completion_latency_seconds", "disk", vm.Name, 0.002*float64(i+1), "profile", "mixed-rw", "op", "write", "quantile", "0.99"),
		)}
	}
	g := Evaluate(now, vms, readings)[0]
	got := map[string]Figure{}
	for _, f := range g.Figures {
		got[f.Key()] = f
	}
	if len(got) != 3 {
		t.Errorf("figures %v, want mixed-rw read and write IOPS and mixed-rw write latency only", keys(got))
	}
	w := got["virtwork_fio_iops{op=write,profile=mixed-rw}"]
	if w.Sum == nil || *w.Sum != 1500 || w.Median != 300 || w.Min != 100 || w.Max != 800 || w.VMs != 4 {
		t.Errorf("write IOPS %+v, want sum 1500, median 300 (of 200 and 400)", w)
	}
	if r := got["virtwork_fio_iops{op=read,profile=mixed-rw}"]; r.Min != 0 || r.VMs != 4 {
		t.Errorf("read IOPS %+v, want kept with a 0 minimum", r)
	}
	if l := got["virtwork_fio_completion_latency_seconds{op=write,profile=mixed-rw,quantile=0.99}"]; l.Sum != nil || l.Max != 0.008 {
		t.Errorf("latency %+v, want no sum", l)
	}
}

func keys(m map[string]Figure) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type fixedSource map[string]Reading

func (f *fixedSource) Read(context.Context, []VM) (map[string]Reading, time.Time, error) {
	out := map[string]Reading{}
	for k, v := range *f {
		out[k] = v
	}
	return out, time.Now(), nil
}

// In --watch, a failure counter that rose between two looks makes the VM
// failing even though its last run succeeded; a counter that stays does
// not.
func TestWatchSeesFailuresRise(t *testing.T) {
	vms := []VM{{Name: "cpu-1", Workload: "cpu"}, {Name: "cpu-2", Workload: "cpu"}}
	now := time.Now()
	src := fixedSource{"cpu-1": {Samples: bookkeeping("cpu", "cpu-1", now, 1)}, "cpu-2": {Samples: bookkeeping("cpu", "cpu-2", now, 1)}}
	l := &Looker{Source: &src}
	judge := func() map[string]Status {
		readings, at, _ := l.Source.Read(context.Background(), vms)
		l.remember(vms, readings)
		out := map[string]Status{}
		for _, g := range Evaluate(at, vms, readings) {
			for _, p := range g.Problems {
				out[p.VM] = p.Status
			}
		}
		return out
	}
	if p := judge(); len(p) != 0 {
		t.Fatalf("first look: %v, want everyone reporting", p)
	}
	src["cpu-2"] = Reading{Samples: bookkeeping("cpu", "cpu-2", now, 2)}
	if p := judge(); p["cpu-2"] != Failing || len(p) != 1 {
		t.Errorf("second look: %v, want cpu-2 failing", p)
	}
	if p := judge(); len(p) != 0 {
		t.Errorf("third look, nothing rose: %v, want everyone reporting", p)
	}
}

// A VM that answers but whose workload has never succeeded is missing, not
// stale; one whose exporter answers in a role with no figures reports.
func TestNoFiguresYet(t *testing.T) {
	now := time.Now()
	vms := []VM{{Name: "db-1", Workload: "database"}, {Name: "db-2", Workload: "database"}}
	never := bookkeeping("database", "db-1", time.Unix(0, 0), 0)
	never[2].Value = 0
	groups := Evaluate(now, vms, map[string]Reading{
		"db-1": {Samples: never},
		"db-2": {Samples: bookkeeping("database", "db-2", now, 0)},
	})
	if p := groups[0].Problems; len(p) != 1 || p[0].Status != Missing || !strings.HasPrefix(p[0].Reason, "no figures yet") {
		t.Errorf("problems %+v, want db-1 missing with no figures yet", p)
	}
}

// guestFigures is what an exporter serves before any run of the workload's
// tool has ended: its own guest figures only (label vm, no workload).
func guestFigures(vm string) Reading {
	return Reading{Samples: []Sample{
		{Name: "virtwork_guest_cpus", Labels: map[string]string{labelVM: vm}, Value: 2},
		{Name: "virtwork_guest_load1", Labels: map[string]string{labelVM: vm}, Value: 0.5},
	}}
}

// Every cpu VM's exporter answers, but stress-ng's first 60 s run has not
// ended on any of them: no VM reports yet (exit 4), however many answer.
func TestAnsweringWithoutFiguresIsMissing(t *testing.T) {
	vms := []VM{{Name: "cpu-1", Workload: "cpu"}, {Name: "cpu-2", Workload: "cpu"}}
	r := &Report{Groups: Evaluate(time.Now(), vms, map[string]Reading{"cpu-1": guestFigures("cpu-1"), "cpu-2": guestFigures("cpu-2")})}
	g := r.Groups[0]
	if g.Reporting != 0 || g.GuestOnly || len(g.Problems) != 2 {
		t.Errorf("cpu: %+v, want 0 of 2 reporting, both missing", g)
	}
	for _, p := range g.Problems {
		if p.Status != Missing || !strings.HasPrefix(p.Reason, "no figures yet") {
			t.Errorf("%s: %s %q, want missing: no figures yet", p.VM, p.Status, p.Reason)
		}
	}
	if r.AllReported() || r.ExitCode() != ExitMissing {
		t.Errorf("AllReported %v, exit %d; want false and %d", r.AllReported(), r.ExitCode(), ExitMissing)
	}
}

// A role rendered to serve guest figures only (the network server)
// reports when its exporter answers, and is missing when it does not.
func TestGuestOnlyRoleReportsByAnswering(t *testing.T) {
	vms := []VM{
		{Name: "network-server-1", Workload: "network", Role: "server", GuestOnly: true},
		{Name: "network-server-2", Workload: "network", Role: "server", GuestOnly: true},
	}
	r := &Report{Groups: Evaluate(time.Now(), vms, map[string]Reading{
		"network-server-1": guestFigures("network-server-1"),
		"network-server-2": {Err: context.DeadlineExceeded},
	})}
	g := r.Groups[0]
	if !g.GuestOnly || g.Reporting != 1 || len(g.Problems) != 1 || g.Problems[0].VM != "network-server-2" || g.Problems[0].Status != Missing {
		t.Errorf("network server: %+v, want server-1 reporting, server-2 missing", g)
	}
	if r.ExitCode() != ExitMissing {
		t.Errorf("exit %d, want %d", r.ExitCode(), ExitMissing)
	}
}
