package printer

import (
	"bytes"
	"encoding/json"
	"strings"
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
