package kvstatus

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/apply/event"
)

// VirtualMachineInstanceGK is the kind of a VM's running instance.
var VirtualMachineInstanceGK = schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachineInstance"}

// Started is when a VM was last asked to start, by the cluster's clock:
// its creationTimestamp, or, for a VM restarted by a change (restarted),
// the time fieldManager last changed its spec, from metadata.managedFields
// (the API server stamps it). Zero when the VM has no creationTimestamp.
func Started(vm *unstructured.Unstructured, fieldManager string, restarted bool) time.Time {
	start := vm.GetCreationTimestamp().Time
	if !restarted {
		return start
	}
	for _, mf := range vm.GetManagedFields() {
		if mf.Manager == fieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" &&
			mf.Time != nil && mf.Time.After(start) {
			start = mf.Time.Time
		}
	}
	return start
}

// maxPhase bounds a believable phase latency: a figure beyond it comes
// from a VMI or condition of an earlier life of the VM, not from this
// start.
const maxPhase = 7 * 24 * time.Hour

// Phases is the time from start to each step PhaseTimes finds. A step
// before start (of an earlier life of the VM, such as the VMI before a
// restart) or absurdly later is left out, so never negative: missing.
// AgentConnected only with withAgent: without waiting for it, only the
// fastest guests' agents are seen.
func Phases(vm, vmi *unstructured.Unstructured, dvs map[string]*unstructured.Unstructured, start time.Time, withAgent bool) event.PhaseTimes {
	out := event.PhaseTimes{}
	for phase, t := range PhaseTimes(vm, vmi, dvs) {
		if phase == event.PhaseAgentConnected && !withAgent {
			continue
		}
		if d := t.Sub(start); d >= 0 && d <= maxPhase {
			out[phase] = event.Seconds(d)
		}
	}
	return out
}

// PhaseTimes reads when a VM reached each lifecycle step (event.Phases'
// names) from the cluster's own timestamps: its DataVolumes' Ready
// condition (the latest, once all Succeeded), its VMI's creation and
// status.phaseTransitionTimestamps, and its Ready and AgentConnected
// conditions. vmi and dvs may be nil or include objects of other VMs; only
// those the VM owns (by UID) count. Steps not reached are absent.
func PhaseTimes(vm, vmi *unstructured.Unstructured, dvs map[string]*unstructured.Unstructured) map[string]time.Time {
	out := map[string]time.Time{}
	if t, ok := dataVolumesSucceeded(vm, dvs); ok {
		out[event.PhaseDataVolumes] = t
	}
	if vmi != nil && owned(vmi, vm) {
		if t := vmi.GetCreationTimestamp().Time; !t.IsZero() {
			out[event.PhaseVMICreated] = t
		}
		stamps, _, _ := unstructured.NestedSlice(vmi.Object, "status", "phaseTransitionTimestamps")
		for _, s := range stamps {
			m, _ := s.(map[string]any)
			phase, _ := m["phase"].(string)
			if t, ok := parseTime(m["phaseTransitionTimestamp"]); ok && phase != "" {
				// The first time a phase was reached.
				if old, seen := out[phase]; !seen || t.Before(old) {
					out[phase] = t
				}
			}
		}
	}
	for _, typ := range []string{event.PhaseReady, event.PhaseAgentConnected} {
		if t, ok := conditionTrue(vm, typ); ok {
			out[typ] = t
		} else if vmi != nil && owned(vmi, vm) {
			// KubeVirt keeps AgentConnected on the VMI.
			if t, ok := conditionTrue(vmi, typ); ok {
				out[typ] = t
			}
		}
	}
	return out
}

// dataVolumesSucceeded is when the last of the VM's DataVolumes became
// Ready, once all of them Succeeded; false for a VM without any.
func dataVolumesSucceeded(vm *unstructured.Unstructured, dvs map[string]*unstructured.Unstructured) (time.Time, bool) {
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	var last time.Time
	for _, t := range templates {
		name, _, _ := unstructured.NestedString(t.(map[string]any), "metadata", "name")
		dv := dvs[name]
		if dv == nil || !owned(dv, vm) {
			return time.Time{}, false
		}
		if phase, _, _ := unstructured.NestedString(dv.Object, "status", "phase"); phase != "Succeeded" {
			return time.Time{}, false
		}
		at, ok := conditionTrue(dv, "Ready")
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, !last.IsZero()
}

func owned(o, vm *unstructured.Unstructured) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == vm.GetUID() {
			return true
		}
	}
	return false
}

// conditionTrue is the lastTransitionTime of condition typ when it is True.
func conditionTrue(u *unstructured.Unstructured, typ string) (time.Time, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return parseTime(m["lastTransitionTime"])
		}
	}
	return time.Time{}, false
}

func parseTime(v any) (time.Time, bool) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil && !t.IsZero()
}
