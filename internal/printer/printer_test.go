package printer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func run() []event.Event {
	vm := func(n string) event.Ref {
		return event.Ref{Group: "kubevirt.io", Kind: "VirtualMachine", Namespace: "ns", Name: n}
	}
	return []event.Event{
		{Time: t0, Type: event.TypeInit, Init: &event.Init{Command: event.CommandApply, Name: "virtwork", Namespace: "ns", Objects: 2, VMs: 2, Wait: true}},
		{Time: t0, Type: event.TypeObject, Object: &event.Object{Ref: vm("cpu-1"), Result: event.Created}},
		{Time: t0, Type: event.TypeObject, Object: &event.Object{Ref: vm("cpu-2"), Result: event.Created}},
		{Time: t0.Add(time.Second), Type: event.TypeStatus, Status: &event.Status{Ref: vm("cpu-1"), Status: event.StatusCurrent, Message: "VM is ready", Workload: "cpu"}},
		{Time: t0.Add(time.Second), Type: event.TypeStatus, Status: &event.Status{Ref: vm("cpu-2"), Status: event.StatusFailed, Message: "ErrImagePull: no such image", Workload: "cpu"}},
		{Time: t0.Add(2 * time.Second), Type: event.TypeSummary, Summary: &event.Summary{
			Command: event.CommandApply, Outcome: event.Failure, Duration: event.Seconds(2 * time.Second),
			Counts: map[event.Result]int{event.Created: 2},
			VMs: []event.VM{
				{Name: "cpu-1", Workload: "cpu", Status: event.VMReady, TimeToReady: event.Seconds(1500 * time.Millisecond)},
				{Name: "cpu-2", Workload: "cpu", Status: event.VMFailed, Message: "ErrImagePull: no such image"},
			},
		}},
	}
}

func TestPlain(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, Plain)
	for _, e := range run() {
		p.Handle(e)
	}
	p.Close()
	out := b.String()
	for _, want := range []string{
		"2026-01-02T03:04:05.000Z apply: instance \"virtwork\" in namespace ns: 2 objects, 2 VMs\n",
		"2026-01-02T03:04:05.000Z VirtualMachine/ns/cpu-1 created\n",
		"2026-01-02T03:04:06.000Z VirtualMachine/ns/cpu-2 Failed: ErrImagePull: no such image\n",
		"cpu-1  cpu       -     Ready   1.5s",
		"cpu-2  cpu       -     Failed  -              ErrImagePull: no such image",
		"apply failed in 2s: 2 created; 1/2 VMs ready\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\033") {
		t.Error("plain output has terminal control characters")
	}
}

func TestJSONIsOneEventPerLine(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, JSON)
	for _, e := range run() {
		p.Handle(e)
	}
	p.Close()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(run()) {
		t.Fatalf("%d lines for %d events", len(lines), len(run()))
	}
	var last struct {
		Type    string
		Summary struct {
			Outcome  string
			Duration float64
			VMs      []struct{ TimeToReady float64 }
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Type != "summary" || last.Summary.Outcome != "failed" || last.Summary.Duration != 2 || last.Summary.VMs[0].TimeToReady != 1.5 {
		t.Errorf("summary line %s", lines[len(lines)-1])
	}
}

func TestProgressShowsCountsAndFailuresAsTheyHappen(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, Progress)
	p.now = func() time.Time { return t0.Add(3 * time.Second) }
	ev := run()
	for _, e := range ev[:5] {
		p.Handle(e)
	}
	time.Sleep(250 * time.Millisecond) // let the redraw tick
	p.mu.Lock()
	mid := b.String()
	p.mu.Unlock()
	if !strings.Contains(mid, "applied 2/2  VMs ready 1/2  failed 1  3s") {
		t.Errorf("progress line missing:\n%q", mid)
	}
	if !strings.Contains(mid, "VirtualMachine/ns/cpu-2 Failed: ErrImagePull") {
		t.Errorf("failure not shown as it happened:\n%q", mid)
	}
	p.Handle(ev[5])
	p.Close()
	if !strings.HasSuffix(b.String(), "apply failed in 2s: 2 created; 1/2 VMs ready\n") {
		t.Errorf("summary not last:\n%q", b.String())
	}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	r := &event.StatusReport{Name: "virtwork", Namespace: "ns", Exists: true, Objects: []event.ObjectStatus{
		{Ref: event.Ref{Kind: "VirtualMachine", Name: "cpu-1"}, Status: "Current", Message: "VM is ready", Workload: "cpu"},
		{Ref: event.Ref{Kind: "Secret", Name: "cpu-cloudinit"}, Status: "NotFound"},
	}}
	if err := Status(&b, r, Auto); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "VirtualMachine  cpu-1") || !strings.Contains(b.String(), "2 objects: 1 Current, 1 NotFound") {
		t.Errorf("status table:\n%s", b.String())
	}
}

// bigRun ends an apply of n VMs of two workloads; VM i is Ready after
// 10+i seconds, held up mostly on the way to Running; the last one
// failed. (Quantiles by nearest rank: cpu has 10, 12, ... 308 s.)
func bigRun(n int) *event.Summary {
	s := &event.Summary{Command: event.CommandApply, Outcome: event.Failure, Duration: event.Seconds(time.Minute),
		Counts: map[event.Result]int{event.Created: n}}
	for i := range n {
		wl := "cpu"
		if i%2 == 1 {
			wl = "disk"
		}
		sec := func(f int) event.Seconds { return event.Seconds(time.Duration(f) * time.Second) }
		v := event.VM{Name: fmt.Sprintf("%s-%03d", wl, i), Workload: wl, Status: event.VMReady, Measured: true,
			Phases: map[string]event.Seconds{event.PhaseVMICreated: 0, event.PhaseScheduled: sec(2), event.PhaseRunning: sec(9 + i), event.PhaseReady: sec(10 + i)}}
		if i == n-1 {
			v.Status, v.Message = event.VMFailed, "ErrImagePull: nope"
			v.Phases = map[string]event.Seconds{event.PhaseVMICreated: 0, event.PhasePending: 0}
		}
		s.VMs = append(s.VMs, v)
	}
	s.Phases = event.PhaseSummary(s.VMs)
	return s
}

func TestSummaryScales(t *testing.T) {
	var b bytes.Buffer
	WriteSummary(&b, bigRun(300), SummaryAuto)
	out := b.String()
	if n := strings.Count(out, "\n"); n > 40 {
		t.Errorf("the summary of 300 VMs has %d lines:\n%s", n, out)
	}
	for _, want := range []string{
		"WORKLOAD  ROLE  VMS  READY  FAILED  READY P50  P95    MAX\n",
		"cpu       -     150  150    0       2m38s      4m54s  5m8s\n",
		"disk      -     150  149    1       2m39s      4m53s  5m7s\n",
		"not ready (1):\n  disk-299 Failed (last step Pending at 0s): ErrImagePull: nope\n",
		"slowest to Ready:\n  cpu-298 5m8s, longest step Running (+5m5s)\n",
		"Ready                  299  10s  2m39s  4m39s  4m54s  5m6s  5m8s  2m39s  1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cpu-000") {
		t.Errorf("a fast, ready VM is listed:\n%s", out)
	}
	b.Reset()
	WriteSummary(&b, bigRun(300), SummaryVMs)
	if n := strings.Count(b.String(), "Ready "); n < 299 {
		t.Errorf("--summary vms lists %d ready VMs, want every one", n)
	}
}

func TestQuietAndProgressEvery(t *testing.T) {
	var b bytes.Buffer
	p := NewWith(&b, Plain, Options{Quiet: true})
	for _, e := range run() {
		p.Handle(e)
	}
	p.Close()
	out := b.String()
	if strings.Contains(out, "cpu-1 created") || strings.Contains(out, "cpu-1 Current") {
		t.Errorf("quiet output has a line per change:\n%s", out)
	}
	for _, want := range []string{"apply: instance", "cpu-2 Failed: ErrImagePull", "apply failed in 2s"} {
		if !strings.Contains(out, want) {
			t.Errorf("quiet output lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	var mu sync.Mutex
	lb := &lockedBuffer{b: &b, mu: &mu}
	p = NewWith(lb, Plain, Options{ProgressEvery: 20 * time.Millisecond})
	evs := run()
	p.Handle(evs[0])
	p.Handle(evs[1])
	time.Sleep(100 * time.Millisecond)
	for _, e := range evs[2:] {
		p.Handle(e)
	}
	p.Close()
	mu.Lock()
	out = b.String()
	mu.Unlock()
	if !strings.Contains(out, " progress: applied 1/2  VMs ready 0/2") {
		t.Errorf("no progress line:\n%s", out)
	}
	if strings.Contains(out, "cpu-1 created") {
		t.Errorf("--progress-every output has a line per change:\n%s", out)
	}
}

type lockedBuffer struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
