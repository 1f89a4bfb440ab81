// Package results judges the figures that the workloads in an instance's
// VMs report: per workload role, which VMs report, the figures summed and
// spread across them, and why the others do not (no answer, stale figures,
// the tool failing). Readings come from each VM's exporter through the API
// server's proxy (Direct) or from Prometheus (Prometheus).
package results

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/virtwork/virtwork/results/report"
)

// The report's types, under the names this package's callers use.
type (
	Report  = report.Report
	Group   = report.Group
	Figure  = report.Figure
	Problem = report.Problem
	Status  = report.Status
)

// The statuses of a VM's figures and the exit statuses, as in report.
const (
	Reporting   = report.Reporting
	Failing     = report.Failing
	Stale       = report.Stale
	Missing     = report.Missing
	ExitFailing = report.ExitFailing
	ExitMissing = report.ExitMissing
)

// VM is a VM of the instance that is expected to report.
type VM struct {
	Name     string `json:"name"`
	Workload string `json:"workload"`
	Role     string `json:"role,omitempty"` // empty for single-role workloads
	// GuestOnly: the VM's role declares no metrics and runs no tool that
	// writes any (the network server; names.AnnotationFigures), so its
	// exporter answering with the guest figures is all it reports.
	GuestOnly bool `json:"guestOnly,omitempty"`
}

// Reading is what was learned about one VM's figures.
type Reading struct {
	// Err: the exporter did not answer (or the VM has no running
	// instance to ask); Samples are then empty.
	Err     error
	Samples []Sample
	// FailuresRose: the failures counter rose during the window looked
	// at (Prometheus's --since, or since the previous --watch round).
	FailuresRose bool
	// Averaged: the figures are averages over a window, not last values.
	Averaged bool
}

// staleIntervals is how many intervals old figures may be before they count
// as stale.
const staleIntervals = 3

// Evaluate judges the readings of vms (by VM name) at time now and groups
// them by workload role, in the order of vms.
func Evaluate(now time.Time, vms []VM, readings map[string]Reading) []Group {
	type key struct{ workload, role string }
	var order []key
	byKey := map[key][]VM{}
	for _, vm := range vms {
		k := key{vm.Workload, vm.Role}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], vm)
	}
	groups := make([]Group, 0, len(order))
	for _, k := range order {
		groups = append(groups, evaluateGroup(now, k.workload, k.role, byKey[k], readings))
	}
	return groups
}

// vmFigures is one VM's bookkeeping and figures.
type vmFigures struct {
	has                                 map[string]bool
	lastSuccess, lastRunSuccess, interv float64
	runs, failures                      float64
	figures                             []Sample
}

func split(workload string, samples []Sample) vmFigures {
	v := vmFigures{has: map[string]bool{}}
	for _, s := range samples {
		if s.Labels[labelWorkload] != workload {
			continue
		}
		v.has[s.Name] = true
		switch s.Name {
		case metricLastSuccess:
			v.lastSuccess = max(v.lastSuccess, s.Value)
		case metricLastRunSuccess:
			v.lastRunSuccess = s.Value
		case metricInterval:
			v.interv = s.Value
		case metricRuns:
			v.runs = s.Value
		case metricFailures:
			v.failures = s.Value
		case metricLastRun:
		default:
			if !s.Counter {
				v.figures = append(v.figures, s)
			}
		}
	}
	return v
}

func evaluateGroup(now time.Time, workload, role string, vms []VM, readings map[string]Reading) Group {
	g := Group{Workload: workload, Role: role, Expected: len(vms)}
	look := func(name string) (Reading, vmFigures) {
		r := readings[name]
		return r, split(workload, r.Samples)
	}
	// Whether a role writes figures is what its VMs say they were
	// rendered to do, never what the exporters serve now: before the
	// tool's first run ends, every exporter of any role serves guest
	// figures only.
	g.GuestOnly = len(vms) > 0
	for _, vm := range vms {
		g.GuestOnly = g.GuestOnly && vm.GuestOnly
	}

	var newest float64
	var reporting []vmFigures
	for _, vm := range vms {
		r, f := look(vm.Name)
		problem := func(s Status, format string, args ...any) {
			g.Problems = append(g.Problems, Problem{VM: vm.Name, Status: s, Reason: fmt.Sprintf(format, args...)})
		}
		if r.Err != nil {
			problem(Missing, "no answer: %v", r.Err)
			continue
		}
		if vm.GuestOnly {
			g.Reporting++
			continue
		}
		if len(f.has) == 0 {
			problem(Missing, "no figures yet: the exporter answers but has no %s figures", workload)
			continue
		}
		newest = max(newest, f.lastSuccess)
		age := now.Sub(time.Unix(0, int64(f.lastSuccess*1e9)))
		interval := time.Duration(f.interv * float64(time.Second))
		switch {
		case f.has[metricLastRunSuccess] && f.lastRunSuccess == 0:
			problem(Failing, "the tool's last run failed (%g of %g runs failed)%s", f.failures, f.runs, lastGood(f.lastSuccess, age))
		case r.FailuresRose:
			problem(Failing, "the failures counter rose (%g of %g runs failed)%s", f.failures, f.runs, lastGood(f.lastSuccess, age))
		case f.lastSuccess <= 0:
			problem(Missing, "no figures yet: no run has succeeded (%g runs ended)", f.runs)
		case interval > 0 && age > staleIntervals*interval:
			problem(Stale, "figures are %s old, more than %d intervals of %s", round(age), staleIntervals, round(interval))
		default:
			g.Reporting++
			reporting = append(reporting, f)
		}
	}
	if newest > 0 {
		age := now.Sub(time.Unix(0, int64(newest*1e9))).Seconds()
		g.NewestAgeSeconds = &age
	}
	g.Figures = aggregate(reporting)
	return g
}

func lastGood(lastSuccess float64, age time.Duration) string {
	if lastSuccess <= 0 {
		return "; it never succeeded"
	}
	return fmt.Sprintf("; last good figures %s old", round(age))
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// aggregate sums and spreads each figure over the VMs that report it.
// fio writes figures for an op a profile does not do (reads of a
// sequential-write profile) as 0 IOPS; those are left out.
func aggregate(vms []vmFigures) []Figure {
	values := map[string][]float64{}
	figures := map[string]Figure{}
	idle := map[string]bool{} // fio profile/op with IOPS 0 on every VM
	active := map[string]bool{}
	for _, v := range vms {
		for _, s := range v.figures {
			labels := map[string]string{}
			for k, val := range s.Labels {
				if k != labelWorkload && k != labelRole && k != labelVM {
					labels[k] = val
				}
			}
			f := Figure{Name: s.Name, Labels: labels}
			k := f.Key()
			figures[k] = f
			values[k] = append(values[k], s.Value)
			if s.Name == metricFioIOPS {
				po := labels["profile"] + "/" + labels["op"]
				if s.Value == 0 {
					idle[po] = true
				} else {
					active[po] = true
				}
			}
		}
	}
	out := make([]Figure, 0, len(figures))
	for _, k := range slices.Sorted(maps.Keys(figures)) {
		f := figures[k]
		if strings.HasPrefix(f.Name, "virtwork_fio_") {
			po := f.Labels["profile"] + "/" + f.Labels["op"]
			if idle[po] && !active[po] {
				continue
			}
		}
		v := values[k]
		slices.Sort(v)
		f.VMs = len(v)
		f.Min, f.Max = v[0], v[len(v)-1]
		if n := len(v); n%2 == 1 {
			f.Median = v[n/2]
		} else {
			f.Median = (v[n/2-1] + v[n/2]) / 2
		}
		if !strings.HasSuffix(f.Name, "_seconds") {
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			if !math.IsNaN(sum) {
				f.Sum = &sum
			}
		}
		out = append(out, f)
	}
	return out
}
