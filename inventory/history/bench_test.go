package history

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

// BenchmarkRecord1000VMs records apply runs of 1,000 VMs (Start, 1,002
// object and 1,000 status events, Summary, Finish) and reports how much the
// file grows per run and how long Finish's write takes.
//
//	go test -run '^$' -bench Record1000VMs -benchtime 50x ./inventory/history/
func BenchmarkRecord1000VMs(b *testing.B) {
	db := tempDB(b)
	meta := Meta{Command: "apply", User: "alice", KubeContext: "kind-virtwork", Server: "https://127.0.0.1:6443",
		Namespace: "virtwork", Name: "virtwork", InventoryID: "virtwork.virtwork", Version: "v0.1.0",
		Config:    &Config{Namespace: "virtwork", VMCount: 1000, SSHUser: "fedora", SSHPasswordSet: true, SSHKeys: 1},
		Workloads: []Workload{{Workload: "cpu", VMs: 1000, CPUCores: 2, Memory: "2Gi"}}, Digest: "sha256:0123456789abcdef"}
	evs := jitter(applyEvents(time.Now(), "virtwork", "virtwork", 1000))
	first := record(b, db, meta, evs, nil) // the file's fixed overhead
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
// that compression is not flattered by round numbers.
func jitter(evs []event.Event) []event.Event {
	s := evs[len(evs)-1].Summary
	for i := range s.VMs {
		s.VMs[i].Applied = s.VMs[i].Applied.Add(time.Duration(rand.Int64N(int64(time.Second))))
		s.VMs[i].Ready = s.VMs[i].Ready.Add(time.Duration(rand.Int64N(int64(time.Minute))))
	}
	return evs
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
