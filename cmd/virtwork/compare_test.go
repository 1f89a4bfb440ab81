package main

import (
	"fmt"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/inventory/history"
)

// cmdSeedCompare writes into the history database DBPATH the runs a CI
// gate sees, so scripts can exercise `virtwork history compare` without a
// cluster, oldest first: a baseline apply of 30 VMs that succeeded, and
// the results look taken while they ran; an apply that failed before any
// VM was made; an apply as fast as the baseline, with a first results
// look (everything low) and a later one (the CPU's ops/s down 20 %, the
// database latency up 20 %, its TPS up 2 %).
//
//	seedcompare DBPATH
func cmdSeedCompare(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: seedcompare DBPATH")
	}
	db, err := history.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	put := func(minute int, r *history.Run) {
		r.Start = t0.Add(time.Duration(minute) * time.Minute)
		r.ID = history.NewID(r.Start)
		r.User, r.Server, r.Namespace, r.Name, r.InventoryID = "ci", "https://127.0.0.1:6443", "perf", "virtwork", "perf.virtwork"
		if r.Outcome == "" {
			r.Outcome = history.Succeeded
		}
		ts.Check(db.Put(r))
	}
	apply := func(vms int) *history.Run {
		r := &history.Run{Command: "apply", Version: "v0.1.0", WaitFor: "ready",
			Workloads: []history.Workload{{Workload: "cpu", VMs: vms, CPUCores: 2, Memory: "2Gi"}}}
		for i := range vms {
			at := func(s float64) history.Seconds {
				return event.Seconds(time.Duration((s + float64(i)/10) * float64(time.Second)))
			}
			r.VMs = append(r.VMs, history.VM{Name: fmt.Sprintf("cpu-%d", i), Workload: "cpu", Status: "Ready", Measured: true,
				Phases: event.PhaseTimes{event.PhaseVMICreated: at(1), event.PhaseScheduled: at(5), event.PhaseRunning: at(9), event.PhaseReady: at(20)}})
		}
		return r
	}
	results := func(ops, latency, tps float64) *history.Run {
		return &history.Run{Command: history.CommandResults, Results: []history.Result{
			{Workload: "cpu", Metric: "virtwork_stress_bogo_ops_per_second", Unit: "1/s", Value: ops},
			{Workload: "database", Role: "client", Metric: "virtwork_pgbench_latency_average_seconds", Unit: "s", Value: latency},
			{Workload: "database", Role: "client", Metric: "virtwork_pgbench_transactions_per_second", Unit: "1/s", Value: tps},
		}}
	}
	put(0, apply(30))
	put(5, results(10000, 0.010, 500))
	put(10, &history.Run{Command: "apply", Version: "v0.1.0", Outcome: history.Failed, Error: "connection refused"})
	put(20, apply(30))
	put(21, results(100, 0.5, 10))
	put(25, results(8000, 0.012, 510))
}
