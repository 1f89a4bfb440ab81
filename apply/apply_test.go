package apply_test

import (
	"testing"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
)

func TestApplyWaitsForReadyThenReapplyChangesNothing(t *testing.T) {
	e := newEnv(t)
	s, r, err := e.apply(set(t, 3, "cpu"), apply.Options{})
	mustSucceed(t, s, err)
	if len(s.VMs) != 3 {
		t.Fatalf("summary has %d VMs, want 3", len(s.VMs))
	}
	for _, v := range s.VMs {
		if v.Status != event.VMReady || v.Ready.IsZero() || v.Workload != "cpu" {
			t.Errorf("VM %+v: want Ready with a Ready time and workload cpu", v)
		}
		vmObj, err := e.get(vmsGVR, v.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ready, _, _ := unstructuredBool(vmObj.Object, "status", "ready"); !ready {
			t.Errorf("VM %s reported Ready but status.ready is not true", v.Name)
		}
	}
	if got := r.results()["VirtualMachine/cpu-1"]; got != event.Created {
		t.Errorf("first apply: VM result %s, want created", got)
	}
	if !e.exists(cmGVR, "virtwork-inventory-virtwork") {
		t.Error("no inventory ConfigMap after apply")
	}

	inv, _ := e.get(cmGVR, "virtwork-inventory-virtwork")
	s, r, err = e.apply(set(t, 3, "cpu"), apply.Options{})
	mustSucceed(t, s, err)
	for k, res := range r.results() {
		if res != event.Unchanged {
			t.Errorf("re-apply: %s %s, want unchanged", k, res)
		}
	}
	if s.Counts[event.Unchanged] != 5 {
		t.Errorf("re-apply counts %v, want 5 unchanged", s.Counts)
	}
	inv2, _ := e.get(cmGVR, "virtwork-inventory-virtwork")
	if inv.GetResourceVersion() != inv2.GetResourceVersion() {
		t.Error("re-apply of an unchanged set rewrote the inventory")
	}
}
