package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/virtwork/virtwork/apply/event"
)

func tempDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "state", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// applyEvents is the event stream of an apply of n VMs named vm-0000...
// in namespace ns, instance name: VM i is applied at t0+i ms and Ready
// (i+1) s later.
func applyEvents(t0 time.Time, ns, name string, n int) []event.Event {
	ref := func(kind, n string) event.Ref { return event.Ref{Kind: kind, Namespace: ns, Name: n} }
	evs := []event.Event{{Time: t0, Type: event.TypeInit, Init: &event.Init{
		Command: event.CommandApply, Name: name, Namespace: ns, InventoryID: ns + "." + name, Objects: n + 2, VMs: n, Wait: true}}}
	evs = append(evs, event.Event{Time: t0, Type: event.TypeObject, Object: &event.Object{Ref: event.Ref{Kind: "Namespace", Name: ns}, Result: event.Unchanged}})
	evs = append(evs, event.Event{Time: t0, Type: event.TypeObject, Object: &event.Object{Ref: ref("Secret", "cpu-cloudinit"), Result: event.Created}})
	var vms []event.VM
	for i := range n {
		vm := fmt.Sprintf("vm-%04d", i)
		applied := t0.Add(time.Duration(i) * time.Millisecond)
		ready := applied.Add(time.Duration(i+1) * time.Second)
		evs = append(evs,
			event.Event{Time: applied, Type: event.TypeObject, Object: &event.Object{Ref: ref("VirtualMachine", vm), Result: event.Created}},
			event.Event{Time: ready, Type: event.TypeStatus, Status: &event.Status{Ref: ref("VirtualMachine", vm), Status: event.StatusCurrent, Workload: "cpu", Role: "worker"}})
		vms = append(vms, event.VM{Name: vm, Workload: "cpu", Role: "worker", Status: event.VMReady, Applied: applied, Ready: ready,
			TimeToReady: event.Seconds(ready.Sub(applied))})
	}
	evs = append(evs, event.Event{Time: t0.Add(time.Minute), Type: event.TypeSummary, Summary: &event.Summary{
		Command: event.CommandApply, Outcome: event.Succeeded, Start: t0, Duration: event.Seconds(time.Minute),
		Counts: map[event.Result]int{event.Created: n + 1, event.Unchanged: 1}, VMs: vms}})
	return evs
}

func record(t testing.TB, db *DB, m Meta, evs []event.Event, err error) *Run {
	t.Helper()
	r, serr := Start(db, m)
	if serr != nil {
		t.Fatal(serr)
	}
	for _, ev := range evs {
		r.Observe(ev)
	}
	run, ferr := r.Finish(err)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return run
}

func TestRecordRoundTrip(t *testing.T) {
	db := tempDB(t)
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	meta := Meta{Command: "apply", User: "alice", KubeContext: "kind-load", Server: "https://127.0.0.1:6443",
		Namespace: "load", Name: "virtwork", InventoryID: "load.virtwork", Version: "v0.1.0",
		Config:    &Config{Namespace: "load", Workloads: []string{"cpu"}, CPUCores: 2, SSHUser: "fedora", SSHPasswordSet: true, SSHKeys: 2},
		Workloads: []Workload{{Workload: "cpu", Role: "worker", VMs: 3, CPUCores: 2, Memory: "2Gi", Disks: []string{"data=10Gi"}}},
		Digest:    "sha256:abc", Source: "-f set.yaml", WaitFor: "agent", Timeout: 5 * time.Minute}
	rec, err := Start(db, meta)
	if err != nil {
		t.Fatal(err)
	}
	// While running, the record is there and says so.
	running, err := db.Get(rec.ID())
	if err != nil || running.Outcome != Running || running.User != "alice" {
		t.Fatalf("running record = %+v, %v; want outcome running by alice", running, err)
	}
	for _, ev := range applyEvents(t0, "load", "virtwork", 3) {
		rec.Observe(ev)
	}
	want, err := rec.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(rec.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != Succeeded || got.Command != "apply" || got.Namespace != "load" || got.Name != "virtwork" ||
		got.InventoryID != "load.virtwork" || got.KubeContext != "kind-load" || got.Server != "https://127.0.0.1:6443" ||
		got.Version != "v0.1.0" || got.Digest != "sha256:abc" || got.Source != "-f set.yaml" || got.WaitFor != "agent" ||
		got.Timeout != Seconds(5*time.Minute) || got.Config == nil || !got.Config.SSHPasswordSet ||
		got.Config.SSHKeys != 2 || len(got.Workloads) != 1 || got.Workloads[0].Disks[0] != "data=10Gi" {
		t.Errorf("stored run lost fields: %+v", got)
	}
	if got.VMCount != 3 || got.ReadyCount != 3 || len(got.VMs) != 3 || len(got.Objects) != 5 {
		t.Errorf("VMs %d ready %d details %d objects %d; want 3, 3, 3, 5", got.VMCount, got.ReadyCount, len(got.VMs), len(got.Objects))
	}
	if got.Counts["created"] != 4 || got.Counts["unchanged"] != 1 {
		t.Errorf("counts = %v, want created 4, unchanged 1", got.Counts)
	}
	// VM i is Ready i+1 seconds after it was applied.
	if s := got.Ready; s == nil || s.Count != 3 || s.Min != Seconds(time.Second) || s.P50 != Seconds(2*time.Second) ||
		s.Max != Seconds(3*time.Second) || s.Mean != Seconds(2*time.Second) {
		t.Errorf("ready latency = %+v, want 1s/2s/3s over 3", got.Ready)
	}
	if got.AgentConnected != nil {
		t.Errorf("agent latency = %+v, want none (not waited for)", got.AgentConnected)
	}
	if !got.VMs[1].Applied.Equal(want.VMs[1].Applied) || !got.VMs[1].Ready.Equal(t0.Add(time.Millisecond+2*time.Second)) {
		t.Errorf("VM timestamps = %+v, want applied t0+1ms, ready +2s", got.VMs[1])
	}
	// The duration is stored in milliseconds: a run shorter than 0.5 ms
	// reads back as 0.
	if got.End.Before(got.Start) || got.Duration <= 0 && got.End.Sub(got.Start) >= time.Millisecond {
		t.Errorf("start %v end %v duration %v", got.Start, got.End, got.Duration)
	}
	// List carries the figures but not the details.
	list, err := db.List(Filter{})
	if err != nil || len(list) != 1 || list[0].Ready == nil || list[0].VMs != nil || list[0].Objects != nil {
		t.Fatalf("List = %+v, %v; want one run with figures, without details", list, err)
	}
	// Finishing again changes nothing.
	if again, err := rec.Finish(errors.New("late")); err != nil || again != want {
		t.Errorf("second Finish = %v, %v; want the first result", again, err)
	}
}

func TestAgentConnectedLatency(t *testing.T) {
	db := tempDB(t)
	t0 := time.Now()
	evs := applyEvents(t0, "ns", "a", 2)
	s := evs[len(evs)-1].Summary
	for i := range s.VMs {
		s.VMs[i].AgentConnected = s.VMs[i].Ready.Add(10 * time.Second)
	}
	run := record(t, db, Meta{Command: "apply", WaitFor: "agent"}, evs, nil)
	if a := run.AgentConnected; a == nil || a.Count != 2 || a.Min != Seconds(11*time.Second) || a.Max != Seconds(12*time.Second) {
		t.Errorf("agent latency = %+v, want 11s..12s over 2", a)
	}
}

// Apply that waited only for Ready sees the agents of the fastest VMs
// alone: such partial figures are neither recorded nor computed.
func TestAgentConnectedOnlyWhenWaitedFor(t *testing.T) {
	db := tempDB(t)
	evs := applyEvents(time.Now(), "ns", "a", 3)
	s := evs[len(evs)-1].Summary
	s.VMs[0].AgentConnected = s.VMs[0].Ready.Add(time.Second) // only the fastest
	run := record(t, db, Meta{Command: "apply", WaitFor: "ready"}, evs, nil)
	got, err := db.Get(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AgentConnected != nil || !got.VMs[0].AgentConnected.IsZero() {
		t.Errorf("waited for ready: agent latency %+v, VM agent time %v; want neither", got.AgentConnected, got.VMs[0].AgentConnected)
	}
	// A record put by hand with agent times but not waiting for the agent
	// gets no figures either.
	got.ID, got.WaitFor = got.ID+"x", ""
	got.VMs[1].AgentConnected = got.VMs[1].Ready.Add(time.Second)
	if err := db.Put(got); err != nil || got.AgentConnected != nil {
		t.Errorf("put without waiting for the agent: agent latency %+v (%v), want none", got.AgentConnected, err)
	}
}

func TestLatencyCoversCreatedVMsOnly(t *testing.T) {
	db := tempDB(t)
	evs := applyEvents(time.Now(), "ns", "a", 4)
	// vm-0001 and vm-0002 were there already: Ready as soon as seen.
	for _, ev := range evs {
		if o := ev.Object; o != nil && (o.Ref.Name == "vm-0001" || o.Ref.Name == "vm-0002") {
			o.Result = event.Unchanged
		}
	}
	run := record(t, db, Meta{Command: "apply"}, evs, nil)
	if s := run.Ready; s == nil || s.Count != 2 || s.Min != Seconds(time.Second) || s.Max != Seconds(4*time.Second) {
		t.Errorf("ready latency = %+v, want over vm-0000 and vm-0003 (1s, 4s)", s)
	}
	if run.ReadyCount != 4 {
		t.Errorf("ready count %d, want all 4", run.ReadyCount)
	}
}

func TestQuantiles(t *testing.T) {
	s := func(n float64) Seconds { return Seconds(n * float64(time.Second)) }
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[99-i] = time.Duration(i+1) * time.Second // unsorted: 100..1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want *Stats
	}{
		{"none", nil, nil},
		{"one value is every figure", []time.Duration{3 * time.Second},
			&Stats{Count: 1, Min: s(3), P50: s(3), P90: s(3), P95: s(3), P99: s(3), Max: s(3), Mean: s(3)}},
		{"two values: P50 the lower, P90 and P99 the higher", []time.Duration{4 * time.Second, 2 * time.Second},
			&Stats{Count: 2, Min: s(2), P50: s(2), P90: s(4), P95: s(4), P99: s(4), Max: s(4), Mean: s(3)}},
		{"1..100 s: nearest rank", hundred,
			&Stats{Count: 100, Min: s(1), P50: s(50), P90: s(90), P95: s(95), P99: s(99), Max: s(100), Mean: s(50.5)}},
		{"ten values: P95 and P99 are the max, the mean rounds", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			&Stats{Count: 10, Min: 1, P50: 5, P90: 9, P95: 10, P99: 10, Max: 10, Mean: 6}},
	} {
		got := Quantiles(tc.in)
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%s: Quantiles = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if hundred[0] != 100*time.Second {
		t.Error("Quantiles sorted its input in place")
	}
}

func TestListFiltersNewestFirst(t *testing.T) {
	db := tempDB(t)
	var ids []string
	for i, c := range []struct {
		ns, name string
		err      error
	}{{"a", "x", nil}, {"b", "x", nil}, {"a", "y", errors.New("boom")}, {"a", "x", nil}} {
		setNow(t, time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC))
		run := record(t, db, Meta{Command: "apply"}, applyEvents(now(), c.ns, c.name, 1)[:3], c.err)
		ids = append(ids, run.ID)
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{ids[3], ids[2], ids[1], ids[0]}},
		{Filter{Namespace: "a"}, []string{ids[3], ids[2], ids[0]}},
		{Filter{Name: "x"}, []string{ids[3], ids[1], ids[0]}},
		{Filter{Namespace: "a", Name: "x"}, []string{ids[3], ids[0]}},
		{Filter{Outcome: Failed}, []string{ids[2]}},
		{Filter{Outcome: Interrupted}, []string{ids[3], ids[1], ids[0]}}, // no Summary, no error
		{Filter{Limit: 2}, []string{ids[3], ids[2]}},
		{Filter{Namespace: "nope"}, nil},
	} {
		runs, err := db.List(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("List(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func setNow(t *testing.T, at time.Time) {
	t.Helper()
	now = func() time.Time { return at }
	t.Cleanup(func() { now = time.Now })
}

func TestGetByPrefix(t *testing.T) {
	db := tempDB(t)
	for _, id := range []string{"01aaaaaaaa000001", "01aaaaaaab000001", "01aaaaaaab000002"} {
		if err := db.Put(&Run{ID: id, Command: "apply", Outcome: Succeeded}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := db.Get("01aaaaaaaa"); err != nil || r.ID != "01aaaaaaaa000001" {
		t.Errorf("Get(unique prefix) = %v, %v", r, err)
	}
	if r, err := db.Get("01aaaaaaab000002"); err != nil || r.ID != "01aaaaaaab000002" {
		t.Errorf("Get(full id) = %v, %v", r, err)
	}
	if _, err := db.Get("01aaaaaaab"); err == nil || !strings.Contains(err.Error(), "ambiguous") ||
		!strings.Contains(err.Error(), "01aaaaaaab000001, 01aaaaaaab000002") {
		t.Errorf("Get(ambiguous prefix) error = %v, want one naming both runs", err)
	}
	if _, err := db.Get("zz"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), db.Path()) {
		t.Errorf("Get(unknown) error = %v, want ErrNotFound naming the file", err)
	}
}

func TestInterruptedWithoutSummary(t *testing.T) {
	db := tempDB(t)
	evs := applyEvents(time.Now(), "ns", "a", 3)
	evs = evs[:len(evs)-2] // no Summary, and the last VM never became Ready
	run := record(t, db, Meta{Command: "apply"}, evs, fmt.Errorf("waiting: %w", context.Canceled))
	got, err := db.Get(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != Interrupted || !strings.Contains(got.Error, "context canceled") {
		t.Errorf("outcome %q error %q, want interrupted with the error", got.Outcome, got.Error)
	}
	if len(got.VMs) != 3 || got.VMs[0].Status != "Ready" || got.VMs[2].Status != "Interrupted" || got.VMs[2].Applied.IsZero() {
		t.Errorf("VMs from events = %+v, want 2 Ready and the last applied but Interrupted", got.VMs)
	}
	if got.Ready == nil || got.Ready.Count != 2 {
		t.Errorf("ready latency = %+v, want over the 2 ready VMs", got.Ready)
	}

	// The Summary's word wins over the error when there is one.
	evs = applyEvents(time.Now(), "ns", "a", 1)
	evs[len(evs)-1].Summary.Outcome, evs[len(evs)-1].Summary.Error = event.TimedOut, ""
	run = record(t, db, Meta{Command: "apply"}, evs, errors.New("timed out waiting\n  for vm-0000"))
	if run.Outcome != TimedOut || run.Error != "timed out waiting for vm-0000" {
		t.Errorf("outcome %q error %q, want timed-out with the error on one line", run.Outcome, run.Error)
	}
}

func TestErrorSummaryOfFailedRun(t *testing.T) {
	db := tempDB(t)
	evs := applyEvents(time.Now(), "ns", "a", 6)
	s := evs[len(evs)-1].Summary
	s.Outcome = event.Failure
	for i := range 5 {
		s.VMs[i].Status, s.VMs[i].Message = event.VMFailed, "ErrImagePull"
	}
	s.VMs[5].Status = event.VMTimedOut
	s.Problems = []event.Problem{{Ref: event.Ref{Kind: "Service", Name: "db"}, Result: "failed", Reason: "forbidden"},
		{Ref: event.Ref{Kind: "Service", Name: "x"}, Result: "skipped", Reason: "owned by y"}}
	run := record(t, db, Meta{Command: "apply"}, evs, nil)
	want := "6 failed: Service/db (forbidden), VirtualMachine/vm-0000 (ErrImagePull), VirtualMachine/vm-0001 (ErrImagePull) and 3 more; " +
		"1 not ready in time: VirtualMachine/vm-0005"
	if run.Error != want {
		t.Errorf("error summary\n%q, want\n%q", run.Error, want)
	}
}

// A record still "running" whose process is gone shows as unknown: the
// process was killed before it wrote the end, so how the run ended is not
// known (an interrupt virtwork saw is recorded by Finish as interrupted).
func TestAbandonedRunShowsUnknown(t *testing.T) {
	db := tempDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for id, pid := range map[string]int{"01dead": cmd.Process.Pid, "01live": os.Getpid()} {
		if err := db.Put(&Run{ID: id, Command: "apply", Outcome: Running, Host: host, PID: pid}); err != nil {
			t.Fatal(err)
		}
	}
	dead, _ := db.Get("01dead")
	live, _ := db.Get("01live")
	if dead.Outcome != Unknown || !strings.Contains(dead.Error, "ended without writing the end") || live.Outcome != Running {
		t.Errorf("dead process's run: %q %q; live one's: %q; want unknown and running", dead.Outcome, dead.Error, live.Outcome)
	}
	if runs, err := db.List(Filter{Outcome: Unknown}); err != nil || len(runs) != 1 || runs[0].ID != "01dead" {
		t.Errorf("List(unknown) = %v, %v; want the dead process's run", runs, err)
	}
}

// holdLock takes the database's lock as another virtwork process's long
// transaction would (bbolt's flock is per open file, so this works within
// one process too).
func holdLock(t *testing.T, path string) *bolt.DB {
	t.Helper()
	holder, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })
	return holder
}

// startRun starts an apply of 3 VMs and feeds it all its events.
func startRun(t *testing.T, db *DB) *Recorder {
	t.Helper()
	rec, err := Start(db, Meta{Command: "apply", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range applyEvents(time.Now(), "ns", "a", 3) {
		rec.Observe(ev)
	}
	return rec
}

// The end of a run waits out a lock longer than the usual timeout: the
// cluster work is done, nothing is lost by waiting.
func TestFinishWaitsOutALock(t *testing.T) {
	db := tempDB(t)
	db.LockTimeout, db.FinishTimeout = 100*time.Millisecond, time.Minute
	rec := startRun(t, db)
	holder := holdLock(t, db.Path())
	var released sync.WaitGroup
	released.Go(func() {
		time.Sleep(500 * time.Millisecond) // five lock timeouts
		holder.Close()
	})
	run, err := rec.Finish(nil)
	released.Wait()
	if err != nil || run.Outcome != Succeeded {
		t.Fatalf("Finish under a lock held for a while = %v, %v; want succeeded", run, err)
	}
	got, err := db.Get(rec.ID())
	if err != nil || got.Outcome != Succeeded || len(got.VMs) != 3 {
		t.Errorf("stored: %+v, %v; want succeeded with 3 VMs", got, err)
	}
	if _, err := os.Stat(PendingDir(db.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pending directory: %v; want none", err)
	}
}

// A lock that outlasts FinishTimeout does not lose the run: its end is kept
// aside and merged by the next Open, List or Get; the run never shows as
// interrupted or unknown.
func TestFinishKeepsTheEndAsideWhenTheLockStays(t *testing.T) {
	db := tempDB(t)
	db.LockTimeout, db.FinishTimeout = 100*time.Millisecond, 300*time.Millisecond
	for _, merge := range []string{"Open", "List"} {
		rec := startRun(t, db)
		holder := holdLock(t, db.Path())
		run, err := rec.Finish(nil)
		if err != nil || run.Outcome != Succeeded {
			t.Fatalf("Finish under a lock held throughout = %v, %v; want succeeded, kept aside", run, err)
		}
		file := filepath.Join(PendingDir(db.Path()), rec.ID()+".json")
		if _, err := os.Stat(file); err != nil {
			t.Fatalf("the end of the run is not in %s: %v", file, err)
		}
		holder.Close()
		switch merge {
		case "Open":
			if _, err := Open(db.Path()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Open, %s: %v; want it merged and gone", file, err)
			}
		case "List":
			runs, err := db.List(Filter{})
			if err != nil || len(runs) != 2 || runs[0].ID != rec.ID() || runs[0].Outcome != Succeeded || runs[0].Ready == nil {
				t.Fatalf("List = %+v, %v; want this run first, succeeded, with its latencies", runs, err)
			}
		}
		got, err := db.Get(rec.ID())
		if err != nil || got.Outcome != Succeeded || len(got.VMs) != 3 || len(got.Objects) != 5 || got.Ready == nil {
			t.Errorf("merged by %s: %+v, %v; want succeeded with its VMs, objects and latencies", merge, got, err)
		}
		if files := db.pendingFiles(); len(files) != 0 {
			t.Errorf("after merging by %s: pending %v", merge, files)
		}
	}
	// A pending file that is not a run is set aside, not merged again.
	bad := filepath.Join(PendingDir(db.Path()), "01bad.json")
	os.WriteFile(bad, []byte("{"), 0o600)
	if _, err := Open(db.Path()); err != nil {
		t.Fatalf("Open with a broken pending file: %v", err)
	}
	if _, err := os.Stat(bad + ".broken"); err != nil {
		t.Errorf("broken pending file not set aside: %v", err)
	}
}

// Only when the end can be neither written nor kept aside is it lost; the
// error says so without advice that makes no sense after the run.
func TestFinishErrorWhenTheEndCannotBeKept(t *testing.T) {
	db := tempDB(t)
	db.LockTimeout, db.FinishTimeout = 100*time.Millisecond, 200*time.Millisecond
	rec := startRun(t, db)
	if err := os.WriteFile(PendingDir(db.Path()), nil, 0o600); err != nil { // a file where the directory goes
		t.Fatal(err)
	}
	holdLock(t, db.Path())
	_, err := rec.Finish(nil)
	if err == nil || !strings.Contains(err.Error(), "stayed locked by another virtwork process for 200ms") ||
		!strings.Contains(err.Error(), PendingDir(db.Path())) || strings.Contains(err.Error(), "--no-history") {
		t.Errorf("Finish = %v; want an error naming the lock and the pending directory, without --no-history", err)
	}
}

func TestDestroyRecordsRemovedRuns(t *testing.T) {
	db := tempDB(t)
	put := func(min int, cmd, inv string, dry bool, out Outcome) *Run {
		t.Helper()
		r := &Run{ID: formatID(uint64(min)*60000, 0), Command: cmd, InventoryID: inv, DryRun: dry, Outcome: out,
			Start: time.UnixMilli(int64(min) * 60000)}
		if err := db.Put(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a1 := put(1, "apply", "ns.x", false, Succeeded)
	put(2, "apply", "ns.y", false, Succeeded)
	put(3, "apply", "ns.x", true, Succeeded) // dry run: nothing applied
	a2 := put(4, "apply", "ns.x", false, Failed)
	put(5, "destroy", "ns.x", false, Failed) // did not remove the inventory
	if d := put(6, "destroy", "ns.x", false, Succeeded); strings.Join(d.RemovedRuns, ",") != a2.ID+","+a1.ID {
		t.Errorf("first destroy removed %v, want %s,%s", d.RemovedRuns, a2.ID, a1.ID)
	}
	a3 := put(7, "apply", "ns.x", false, Succeeded)
	if d := put(8, "destroy", "ns.x", false, Succeeded); strings.Join(d.RemovedRuns, ",") != a3.ID {
		t.Errorf("second destroy removed %v, want only %s", d.RemovedRuns, a3.ID)
	}
	if d := put(9, "destroy", "ns.x", true, Succeeded); d.RemovedRuns != nil {
		t.Errorf("dry-run destroy removed %v, want nothing", d.RemovedRuns)
	}
	got, _ := db.Get(formatID(8*60000, 0))
	if len(got.RemovedRuns) != 1 {
		t.Errorf("stored destroy has RemovedRuns %v", got.RemovedRuns)
	}
}

func TestPrune(t *testing.T) {
	db := tempDB(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 5 {
		setNow(t, base.AddDate(0, 0, d))
		record(t, db, Meta{Command: "apply"}, applyEvents(now(), "ns", "a", 2), nil)
	}
	n, err := db.Prune(base.AddDate(0, 0, 3))
	if err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3", n, err)
	}
	runs, _ := db.List(Filter{})
	if len(runs) != 2 || !runs[1].Start.Equal(base.AddDate(0, 0, 3)) {
		t.Errorf("after prune: %d runs, oldest %v; want 2 from day 3 on", len(runs), runs[len(runs)-1].Start)
	}
	if _, err := db.Get(runs[1].ID); err != nil {
		t.Error(err)
	}
	if n, err := db.Prune(base); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v; want 0", n, err)
	}
}

// TestOpensSchemaVersion1 writes a version 1 database with bbolt and
// literal JSON, as virtwork's first release did, so any later schema must
// keep opening it.
func TestOpensSchemaVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		runs, _ := tx.CreateBucket([]byte("runs"))
		tx.CreateBucket([]byte("details"))
		meta.Put([]byte("schemaVersion"), []byte("1"))
		return runs.Put([]byte("01jdabcdef000000"), []byte(`{"id":"01jdabcdef000000","command":"apply","start":"2026-11-20T10:00:00Z",`+
			`"end":"2026-11-20T10:01:00Z","duration":60.000,"outcome":"succeeded","namespace":"load","name":"virtwork",`+
			`"vmCount":2,"readyCount":2,"readyLatency":{"count":2,"min":30.500,"p50":30.500,"p90":41.000,"p99":41.000,"max":41.000,"avg":35.750}}`))
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Get("01jd")
	if err != nil {
		t.Fatal(err)
	}
	if r.Namespace != "load" || r.Ready == nil || r.Ready.P90 != Seconds(41*time.Second) || r.Ready.Mean != Seconds(35750*time.Millisecond) {
		t.Errorf("v1 record read as %+v (latency %+v)", r, r.Ready)
	}
}

func TestSchemaUpgradeAndNewerVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(&Run{ID: "01a", Command: "apply", Outcome: Succeeded}); err != nil {
		t.Fatal(err)
	}
	// A later virtwork with one more step opens this database and upgrades it.
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(migrations[:len(migrations):len(migrations)], func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("v2"))
		return err
	})
	if _, err := Open(path); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if r, err := db.Get("01a"); err != nil || r.Command != "apply" {
		t.Errorf("after upgrade: %v, %v", r, err)
	}
	if _, err := Open(path); err != nil { // upgrades once only
		t.Fatalf("reopen: %v", err)
	}
	// This virtwork (back to its own schema) refuses the newer file.
	migrations = saved
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 2, newer than this virtwork understands (1)") ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("newer schema: %v", err)
	}
	if _, err := db.List(Filter{}); err == nil {
		t.Error("List on a newer schema worked")
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 2000)), 0o600)
	foreign := filepath.Join(dir, "foreign.db")
	bdb, _ := bolt.Open(foreign, 0o600, nil)
	bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	bdb.Close()
	for _, path := range []string{garbage, foreign} {
		err := Check(path)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check(%s) = %v, want ErrCorrupt", path, err)
		}
		msg := err.Error()
		for _, want := range []string{path + " is unreadable", fmt.Sprintf("'mv %s %s.broken'", path, path), "--no-history"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
	}
	// Moved aside, a new database is started.
	os.Rename(garbage, garbage+".broken")
	if err := Check(garbage); err != nil {
		t.Errorf("after mv: %v", err)
	}
}

// TestDamagedFile: a cut-off file and one with overwritten pages, as a
// crash or a full disk leave them, give ErrCorrupt; neither crashes the
// process (reading a mapped page past the end of a file faults).
func TestDamagedFile(t *testing.T) {
	damage := map[string]func(path string, size int64) error{
		"truncated": func(path string, size int64) error { return os.Truncate(path, size/4) },
		"overwritten": func(path string, size int64) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(bytes.Repeat([]byte{0xab}, 4*4096), 3*4096)
			return err
		},
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			db := tempDB(t)
			for range 20 {
				record(t, db, Meta{Command: "apply"}, applyEvents(time.Now(), "ns", "a", 200), nil)
			}
			fi, err := os.Stat(db.Path())
			if err != nil {
				t.Fatal(err)
			}
			if err := hurt(db.Path(), fi.Size()); err != nil {
				t.Fatal(err)
			}
			err = Check(db.Path())
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "mv "+db.Path()) {
				t.Errorf("Check = %v, want ErrCorrupt with the way out", err)
			}
			if name == "truncated" && !strings.Contains(fmt.Sprint(err), "the file is cut off") {
				t.Errorf("Check = %v, want it to say the file is cut off", err)
			}
			// Listing may still work (the damage may lie in details only),
			// but it never hangs on the lock a failed open can leave behind.
			if _, err := db.List(Filter{}); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("List = %v, want no error or ErrCorrupt", err)
			}
		})
	}
}

func TestUnwritableDirectory(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := Check(filepath.Join(dir, "h.db"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "h.db")) || !strings.Contains(err.Error(), "--no-history") {
		t.Errorf("unwritable, for apply: %v", err)
	}
	_, err = Open(filepath.Join(dir, "h.db"))
	if err == nil || !strings.Contains(err.Error(), "--history-db") || strings.Contains(err.Error(), "--no-history") {
		t.Errorf("unwritable, for history commands: %v; want --history-db advice without --no-history", err)
	}
}

// A lock held too long is an error, not a hang, whose advice fits the
// command: apply and destroy (DBFlags.Open) can go on with --no-history;
// the history commands (Open) have no such flag.
func TestLockHeldTooLong(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	forHistory, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	forApply, err := (DBFlags{DB: &path}).Open(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	holder, err := bolt.Open(path, 0o600, nil) // another process's long transaction
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		db   *DB
		want string
	}{
		{forApply, "history database " + path + " is locked by another virtwork process; retry, or pass --no-history"},
		{forHistory, "history database " + path + " is locked by another virtwork process; retry when that process is done"},
	} {
		tc.db.LockTimeout = 200 * time.Millisecond
		if err := tc.db.Put(&Run{ID: "01a"}); !errors.Is(err, ErrLocked) || err.Error() != tc.want {
			t.Errorf("Put under a held lock = %v, want %q", err, tc.want)
		}
	}
	if _, err := forHistory.List(Filter{}); !errors.Is(err, ErrLocked) || strings.Contains(err.Error(), "--no-history") {
		t.Errorf("List under a held lock = %v, want ErrLocked without --no-history", err)
	}
	holder.Close()
	if err := forApply.Put(&Run{ID: "01a"}); err != nil {
		t.Errorf("after the lock is gone: %v", err)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	db := tempDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				r, err := Start(db, Meta{Command: "apply", Namespace: fmt.Sprintf("ns-%d", g)})
				if err == nil {
					for _, ev := range applyEvents(time.Now(), fmt.Sprintf("ns-%d", g), fmt.Sprint(i), 5) {
						r.Observe(ev)
					}
					_, err = r.Finish(nil)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	runs, err := db.List(Filter{Outcome: Succeeded})
	if err != nil || len(runs) != 80 {
		t.Errorf("%d succeeded runs (%v), want 80", len(runs), err)
	}
}

const helperEnv = "VIRTWORK_HISTORY_TEST_HELPER_DB"

// TestHelperProcess is the other virtwork process of
// TestConcurrentProcesses: it records 20 runs in the database it is given.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestConcurrentProcesses")
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		record(t, db, Meta{Command: "apply", Namespace: fmt.Sprintf("pid-%d", os.Getpid())},
			applyEvents(time.Now(), "x", fmt.Sprint(i), 50), nil)
	}
}

func TestConcurrentProcesses(t *testing.T) {
	db := tempDB(t)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+db.Path())
		out := new(strings.Builder)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v\n%s", i, err, outs[i])
		}
	}
	runs, err := db.List(Filter{Outcome: Succeeded})
	if err != nil {
		t.Fatal(err)
	}
	perProcess := map[string]int{}
	for _, r := range runs {
		perProcess[r.Namespace]++
	}
	if len(runs) != 40 || len(perProcess) != 2 {
		t.Errorf("runs per process %v, want 20 from each of 2", perProcess)
	}
}

func TestIDsSortByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	prev := ""
	for _, d := range []time.Duration{0, time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		id := NewID(t0.Add(d))
		if len(id) != 16 || id <= prev {
			t.Errorf("id %q after %q: want 16 characters, sorting after", id, prev)
		}
		prev = id
	}
	if a, b := NewID(t0), NewID(t0); a == b {
		t.Errorf("two ids in the same millisecond are equal: %s", a)
	}
}

func TestFlags(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	flag := "/x/flag.db"
	for _, tc := range []struct {
		flag   *string
		getenv func(string) (string, bool)
		want   string
	}{
		{&flag, env(EnvDB, "/x/env.db", "XDG_STATE_HOME", "/state"), "/x/flag.db"},
		{nil, env(EnvDB, "/x/env.db", "XDG_STATE_HOME", "/state"), "/x/env.db"},
		{nil, env("XDG_STATE_HOME", "/state", "HOME", "/home/u"), "/state/virtwork/history.db"},
		{nil, env("XDG_STATE_HOME", "relative", "HOME", "/home/u"), "/home/u/.local/state/virtwork/history.db"},
		{nil, env("HOME", "/home/u"), "/home/u/.local/state/virtwork/history.db"},
	} {
		if got, err := ResolvePath(tc.flag, tc.getenv); err != nil || got != tc.want {
			t.Errorf("ResolvePath = %q, %v; want %q", got, err, tc.want)
		}
	}
	dir := t.TempDir()
	if db, err := (DBFlags{NoHistory: true}).Open(env(EnvDB, dir+"/a.db")); db != nil || err != nil {
		t.Errorf("--no-history: %v, %v", db, err)
	}
	if db, err := (DBFlags{}).Open(env(EnvNoHistory, "true", EnvDB, dir+"/a.db")); db != nil || err != nil {
		t.Errorf("VIRTWORK_NO_HISTORY=true: %v, %v", db, err)
	}
	if _, err := (DBFlags{}).Open(env(EnvNoHistory, "maybe")); err == nil || !strings.Contains(err.Error(), EnvNoHistory) {
		t.Errorf("bad VIRTWORK_NO_HISTORY: %v", err)
	}
	if db, err := (DBFlags{}).Open(env(EnvNoHistory, "0", EnvDB, dir+"/a.db")); err != nil || db.Path() != dir+"/a.db" {
		t.Errorf("history on: %v, %v", db, err)
	}
	// The config file's settings sit below the flags and the environment.
	fileDB := dir + "/file.db"
	for _, tc := range []struct {
		name   string
		flags  DBFlags
		getenv func(string) (string, bool)
		fileNo bool
		want   string // "" is history off
	}{
		{"file path", DBFlags{}, env("XDG_STATE_HOME", dir), false, fileDB},
		{"env path over file", DBFlags{}, env(EnvDB, dir+"/env.db"), false, dir + "/env.db"},
		{"flag path over file", DBFlags{DB: &[]string{dir + "/flag.db"}[0]}, env(EnvDB, dir+"/env.db"), false, dir + "/flag.db"},
		{"file turns history off", DBFlags{}, env(), true, ""},
		{"env turns it back on", DBFlags{}, env(EnvNoHistory, "false"), true, fileDB},
		{"flag off over file on", DBFlags{NoHistory: true}, env(), false, ""},
	} {
		db, err := tc.flags.OpenWithDefault(tc.getenv, fileDB, tc.fileNo)
		got := ""
		if db != nil {
			got = db.Path()
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: OpenWithDefault = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if got, err := ResolvePathWithDefault(nil, env("HOME", "/home/u"), "/cfg/h.db"); err != nil || got != "/cfg/h.db" {
		t.Errorf("ResolvePathWithDefault = %q, %v; want the file's path", got, err)
	}

	// History off: a nil DB gives a nil Recorder that does nothing.
	rec, err := Start(nil, Meta{})
	rec.Observe(event.Event{})
	if run, ferr := rec.Finish(nil); rec != nil || err != nil || run != nil || ferr != nil || rec.Sink() != nil {
		t.Error("a nil Recorder did something")
	}
}

func TestGetSortsObjectsByKindThenName(t *testing.T) {
	db := tempDB(t)
	obj := func(kind, ns, name string) Object {
		return Object{Kind: kind, Namespace: ns, Name: name, Result: "created"}
	}
	// In event order: as the parallel apply happened to finish them.
	run := &Run{ID: "01a", Command: "apply", Outcome: Succeeded, Objects: []Object{
		obj("VirtualMachine", "a", "vm-2"), obj("ConfigMap", "a", "z"), obj("Service", "a", "svc"),
		obj("VirtualMachine", "a", "vm-10"), obj("Namespace", "", "a"), obj("DataVolume", "a", "d"),
		obj("Secret", "a", "s-2"), obj("VirtualMachine", "a", "vm-1"), obj("Secret", "a", "s-1"),
	}}
	if err := db.Put(run); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get("01a")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range got.Objects {
		names = append(names, o.Kind+"/"+o.Name)
	}
	want := "Namespace/a Secret/s-1 Secret/s-2 Service/svc VirtualMachine/vm-1 VirtualMachine/vm-10 VirtualMachine/vm-2 ConfigMap/z DataVolume/d"
	if strings.Join(names, " ") != want {
		t.Errorf("objects\n%s, want\n%s", strings.Join(names, " "), want)
	}
}
