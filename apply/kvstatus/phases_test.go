package kvstatus

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtwork/virtwork/apply/event"
)

var t0 = time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)

func ts(sec int) string { return t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339) }

func object(kind, name, uid string, created int, owner string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{
		"name": name, "uid": uid, "creationTimestamp": ts(created)}}}
	if owner != "" {
		u.SetOwnerReferences([]metav1.OwnerReference{{Kind: "VirtualMachine", Name: "vm", UID: types.UID(owner)}})
	}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func cond(typ, status string, at int) map[string]any {
	return map[string]any{"type": typ, "status": status, "lastTransitionTime": ts(at)}
}

func TestPhasesFromTimestamps(t *testing.T) {
	vm := object("VirtualMachine", "vm", "vm-uid", 0, "", map[string]any{"conditions": []any{cond("Ready", "True", 30), cond("AgentConnected", "True", 33)}})
	_ = unstructured.SetNestedSlice(vm.Object, []any{map[string]any{"metadata": map[string]any{"name": "vm-data"}}}, "spec", "dataVolumeTemplates")
	vmi := object("VirtualMachineInstance", "vm", "vmi-uid", 6, "vm-uid", map[string]any{"phaseTransitionTimestamps": []any{
		map[string]any{"phase": "Pending", "phaseTransitionTimestamp": ts(6)},
		map[string]any{"phase": "Scheduling", "phaseTransitionTimestamp": ts(8)},
		map[string]any{"phase": "Scheduled", "phaseTransitionTimestamp": ts(15)},
		map[string]any{"phase": "Running", "phaseTransitionTimestamp": ts(29)},
	}})
	dv := object("DataVolume", "vm-data", "dv-uid", 0, "vm-uid", map[string]any{"phase": "Succeeded", "conditions": []any{cond("Ready", "True", 5)}})
	dvs := map[string]*unstructured.Unstructured{"vm-data": dv}
	s := func(n int) event.Seconds { return event.Seconds(time.Duration(n) * time.Second) }

	got := Phases(vm, vmi, dvs, t0, true)
	want := event.PhaseTimes{event.PhaseDataVolumes: s(5), event.PhaseVMICreated: s(6), event.PhasePending: s(6), event.PhaseScheduling: s(8),
		event.PhaseScheduled: s(15), event.PhaseRunning: s(29), event.PhaseReady: s(30), event.PhaseAgentConnected: s(33)}
	if !equal(got, want) {
		t.Errorf("Phases = %v, want %v", got, want)
	}
	if _, ok := Phases(vm, vmi, dvs, t0, false)[event.PhaseAgentConnected]; ok {
		t.Error("AgentConnected counted without waiting for it")
	}

	// A DataVolume not yet Succeeded, and another VM's VMI (same name,
	// other owner): those steps are missing, not guessed.
	dv.Object["status"] = map[string]any{"phase": "ImportInProgress"}
	other := object("VirtualMachineInstance", "vm", "old-uid", 6, "old-vm-uid", vmi.Object["status"].(map[string]any))
	got = Phases(vm, other, dvs, t0, true)
	if !equal(got, event.PhaseTimes{event.PhaseReady: s(30), event.PhaseAgentConnected: s(33)}) {
		t.Errorf("with an unfinished DataVolume and a foreign VMI: %v", got)
	}

	// Restarted at 20 s: what happened before belongs to the earlier
	// life and is missing, never negative.
	got = Phases(vm, vmi, dvs, t0.Add(20*time.Second), true)
	if !equal(got, event.PhaseTimes{event.PhaseRunning: s(9), event.PhaseReady: s(10), event.PhaseAgentConnected: s(13)}) {
		t.Errorf("from a restart at 20 s: %v", got)
	}
	// A start a month after the steps (or a clock gone wrong): nothing.
	if got := Phases(vm, vmi, dvs, t0.Add(-30*24*time.Hour), true); len(got) != 0 {
		t.Errorf("absurd figures kept: %v", got)
	}
}

func TestStartedAfterARestart(t *testing.T) {
	vm := object("VirtualMachine", "vm", "vm-uid", 0, "", nil)
	later := metav1.NewTime(t0.Add(time.Hour))
	vm.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "virtwork", Operation: metav1.ManagedFieldsOperationApply, Time: &later},
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, Time: &metav1.Time{Time: t0.Add(2 * time.Hour)}},
	})
	if got := Started(vm, "virtwork", false); !got.Equal(t0) {
		t.Errorf("created by this run: started %s, want its creation %s", got, t0)
	}
	if got := Started(vm, "virtwork", true); !got.Equal(later.Time) {
		t.Errorf("restarted: started %s, want virtwork's change %s", got, later)
	}
}

func equal(a, b event.PhaseTimes) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
