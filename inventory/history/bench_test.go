package history

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/virtwork/virtwork/apply/event"
)

// BenchmarkRecord records apply runs of 1,000 and 10,000 VMs (Start, an
// object and a status event per VM, Summary, Finish) and reports how much
// the file grows per run, the bytes stored per run, and how long Finish's
// write takes.
//
//	go test -run '^$' -bench Record -benchtime 50x ./inventory/history/
func BenchmarkRecord(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("VMs=%d", n), func(b *testing.B) { benchmarkRecord(b, n) })
	}
}

func benchmarkRecord(b *testing.B, n int) {
	db := tempDB(b)
	meta := Meta{Command: "apply", User: "alice", KubeContext: "kind-virtwork", Server: "https://127.0.0.1:6443",
		Namespace: "virtwork", Name: "virtwork", InventoryID: "virtwork.virtwork", Version: "v0.1.0",
		Config:    &Config{Namespace: "virtwork", VMCount: n, SSHUser: "fedora", SSHPasswordSet: true, SSHKeys: 1},
		Workloads: []Workload{{Workload: "cpu", VMs: n, CPUCores: 2, Memory: "2Gi"}}, Digest: "sha256:0123456789abcdef"}
	evs := jitter(applyEvents(time.Now(), "virtwork", "virtwork", n))
	first := record(b, db, meta, evs, nil) // and the file's fixed overhead
	plain, _ := json.Marshal(details{Objects: first.Objects, VMs: first.VMs})
	before := fileSize(b, db.Path())
	var finish time.Duration
	for b.Loop() {
		r, err := Start(db, meta)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			r.Observe(ev)
		}
		t := time.Now()
		if _, err := r.Finish(nil); err != nil {
			b.Fatal(err)
		}
		finish += time.Since(t)
	}
	b.ReportMetric(float64(fileSize(b, db.Path())-before)/float64(b.N), "dbbytes/run")
	b.ReportMetric(float64(len(plain)), "json-bytes/run")
	b.ReportMetric(float64(storedBytes(b, db, first.ID)), "stored-bytes/run")
	b.ReportMetric(float64(finish.Microseconds())/1000/float64(b.N), "finish-ms/run")
}

// BenchmarkList lists 100 recorded runs of 1,000 VMs each, as
// `virtwork history` does.
func BenchmarkList(b *testing.B) {
	db := tempDB(b)
	evs := applyEvents(time.Now(), "virtwork", "virtwork", 1000)
	for range 100 {
		record(b, db, Meta{Command: "apply"}, evs, nil)
	}
	for b.Loop() {
		if runs, err := db.List(Filter{}); err != nil || len(runs) != 100 {
			b.Fatal(len(runs), err)
		}
	}
}

// jitter gives the VMs' times random nanoseconds, as real ones have, so
// that compression is not flattered by round numbers, and lifecycle
// phases.
func jitter(evs []event.Event) []event.Event {
	s := evs[len(evs)-1].Summary
	for i := range s.VMs {
		v := &s.VMs[i]
		v.Applied = v.Applied.Add(time.Duration(rand.Int64N(int64(time.Second))))
		v.Ready = v.Ready.Add(time.Duration(rand.Int64N(int64(time.Minute))))
		// Phases as the cluster stamps them: whole seconds.
		sec := func(max int64) event.Seconds { return event.Seconds(time.Duration(rand.Int64N(max)) * time.Second) }
		v.Started, v.Measured = v.Applied.Truncate(time.Second), true
		v.Phases = map[string]event.Seconds{event.PhaseVMICreated: sec(3), event.PhasePending: sec(3), event.PhaseScheduling: sec(10),
			event.PhaseScheduled: sec(20), event.PhaseRunning: sec(60), event.PhaseReady: sec(60)}
	}
	s.Phases = event.PhaseSummary(s.VMs)
	return evs
}

// storedBytes is the size of a run's values in the file (record and
// compressed details); the file itself grows in steps (doubling up to 16
// MiB, then 16 MiB at a time) and keeps freed pages for reuse.
func storedBytes(b *testing.B, db *DB, id string) int {
	n := 0
	err := db.view(func(tx *bolt.Tx) error {
		n = len(tx.Bucket(bucketRuns).Get([]byte(id))) + len(tx.Bucket(bucketDetails).Get([]byte(id)))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkOpen opens (and checks every page of) a database of 100 runs
// of 1,000 VMs, as apply and destroy do before touching the cluster.
func BenchmarkOpen(b *testing.B) {
	db := tempDB(b)
	evs := jitter(applyEvents(time.Now(), "virtwork", "virtwork", 1000))
	for range 100 {
		record(b, db, Meta{Command: "apply"}, evs, nil)
	}
	for b.Loop() {
		if _, err := Open(db.Path()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fileSize(b, db.Path())), "file-bytes")
}

// BenchmarkCompare compares the last two of 100 apply runs of 1,000 VMs,
// each followed by a results look, as `history compare last~1 last` does
// once it has the runs (finding each run's results lists the history),
// next to one List of the same file.
func BenchmarkCompare(b *testing.B) {
	db := tempDB(b)
	evs := jitter(applyEvents(time.Now(), "virtwork", "virtwork", 1000))
	meta := Meta{Command: "apply", Namespace: "virtwork", Name: "virtwork", InventoryID: "virtwork.virtwork"}
	var runs []*Run
	for i := range 100 {
		runs = append(runs, record(b, db, meta, evs, nil))
		at := time.Now()
		res := &Run{ID: NewID(at), Command: CommandResults, Start: at, Outcome: Succeeded, Namespace: "virtwork", Name: "virtwork",
			InventoryID: "virtwork.virtwork", Results: []Result{{Workload: "cpu", Metric: "virtwork_stress_bogo_ops_per_second", Unit: "1/s", Value: float64(i)}}}
		if err := db.Put(res); err != nil {
			b.Fatal(err)
		}
	}
	a, last := runs[98], runs[99]
	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			if runs, err := db.List(Filter{}); err != nil || len(runs) != 200 {
				b.Fatal(len(runs), err)
			}
		}
	})
	b.Run("Compare", func(b *testing.B) {
		for b.Loop() {
			c, err := db.Compare(a, last)
			if err != nil || len(c.Results) != 1 || *c.Results[0].B != 99 {
				b.Fatal(c, err)
			}
		}
	})
}
