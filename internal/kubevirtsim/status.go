package kubevirtsim

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// simNode is the node name VMIs are "scheduled" to.
const simNode = "kubevirtsim-node"

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// dataVolumeStatus is a DataVolume's status at now: Pending, then PVCBound
// from 30% of delay, then Succeeded (or Failed) at delay, counted from start;
// WaitForFirstConsumer while waiting. next is the time to the next change.
func dataVolumeStatus(dv *unstructured.Unstructured, now, start time.Time, waiting bool, delay time.Duration, fail bool) (status map[string]any, phase string, next time.Duration) {
	old, _, _ := unstructured.NestedSlice(dv.Object, "status", "conditions")
	elapsed := now.Sub(start)
	bound, progress := corev1.ConditionFalse, "N/A"
	ready, running := corev1.ConditionFalse, corev1.ConditionFalse
	runningReason, runningMessage := "", ""
	boundAt := delay * 3 / 10
	// Transition times follow from start, so that a status computed again
	// from a lagging cache comes out the same.
	boundTime, doneTime := start.Add(boundAt), start.Add(delay)
	if waiting {
		boundTime, doneTime = now, now
	}
	switch {
	case waiting:
		phase = "WaitForFirstConsumer"
	case elapsed < boundAt:
		phase, next = "Pending", boundAt-elapsed
	case elapsed < delay:
		phase, next, bound = "PVCBound", delay-elapsed, corev1.ConditionTrue
	case fail:
		phase, bound = "Failed", corev1.ConditionTrue
		runningReason, runningMessage = "Error", "simulated: the import failed ("+FaultAnnotation+")"
	default:
		phase, bound, ready, progress = "Succeeded", corev1.ConditionTrue, corev1.ConditionTrue, "100.0%"
		runningReason = "Completed"
	}
	boundReason := ""
	if phase == "WaitForFirstConsumer" {
		boundReason = "WaitForFirstConsumer"
	}
	status = map[string]any{
		"phase":        phase,
		"progress":     progress,
		"claimName":    dv.GetName(),
		"restartCount": int64(0),
		"conditions": []any{
			condition(old, "Bound", bound, boundReason, "", boundTime),
			condition(old, "Ready", ready, "", "", doneTime),
			condition(old, "Running", running, runningReason, runningMessage, doneTime),
		},
	}
	return status, phase, next
}

var vmiPhases = []string{"Pending", "Scheduling", "Scheduled", "Running"}

// vmiStatus is a VMI's status at now. Its boot clock starts at bootStart
// (zero: still waiting for volumes): Scheduling at 10% of boot, Scheduled at
// 40%, Running and Ready at boot, AgentConnected agent later. A fault stops
// it on the way. next is the time to the next change.
func vmiStatus(vmi *unstructured.Unstructured, now, bootStart time.Time, boot, agent time.Duration, fault Fault) (map[string]any, time.Duration) {
	old, _, _ := unstructured.NestedSlice(vmi.Object, "status", "conditions")
	oldStamps, _, _ := unstructured.NestedSlice(vmi.Object, "status", "phaseTransitionTimestamps")
	created := vmi.GetCreationTimestamp().Time
	if created.IsZero() || created.After(now) {
		created = now
	}
	due := []time.Time{created}
	var next time.Duration
	reached := 0 // index into vmiPhases
	if !bootStart.IsZero() {
		elapsed := now.Sub(bootStart)
		at := []time.Duration{boot / 10, boot * 4 / 10, boot}
		last := len(at)
		if fault == ErrImagePull || fault == ImagePullBackOff || fault == ErrorUnschedulable {
			last = 1 // the launcher pod never starts
		}
		for i := 0; i < last; i++ {
			if elapsed < at[i] {
				next = at[i] - elapsed
				break
			}
			reached = i + 1
			// A phase never precedes the VMI's creation.
			due = append(due, later(bootStart.Add(at[i]), created))
		}
	}
	phase := vmiPhases[reached]
	stamps := make([]any, 0, reached+1)
	for i := 0; i <= reached; i++ {
		ts := stamp(due[i])
		for _, o := range oldStamps { // keep what was recorded
			if m, _ := o.(map[string]any); m["phase"] == vmiPhases[i] {
				if t, ok := m["phaseTransitionTimestamp"].(string); ok {
					ts = t
				}
			}
		}
		stamps = append(stamps, map[string]any{"phase": vmiPhases[i], "phaseTransitionTimestamp": ts})
	}

	runAt, agentAt := bootStart.Add(boot), bootStart.Add(boot+agent)
	var conds []any
	switch {
	case fault == ErrorUnschedulable && reached >= 1:
		conds = append(conds,
			condition(old, "PodScheduled", corev1.ConditionFalse, "Unschedulable", "0/1 nodes are available: 1 Insufficient memory (simulated).", due[1]),
			condition(old, "Ready", corev1.ConditionFalse, "PodNotReady", "", due[1]))
	case phase != "Running":
		conds = append(conds, condition(old, "Ready", corev1.ConditionFalse, "GuestNotRunning", "Guest VM is not reported as running", created))
	case fault == NeverReady:
		conds = append(conds, condition(old, "Ready", corev1.ConditionFalse, "GuestNotReady", "simulated: the guest never becomes ready ("+FaultAnnotation+")", runAt))
	default:
		conds = append(conds, condition(old, "Ready", corev1.ConditionTrue, "", "", runAt))
		if !now.Before(agentAt) {
			conds = append(conds, condition(old, "AgentConnected", corev1.ConditionTrue, "", "", agentAt))
		} else if d := agentAt.Sub(now); next == 0 || d < next {
			next = d
		}
	}
	status := map[string]any{
		"phase":                     phase,
		"phaseTransitionTimestamps": stamps,
		"conditions":                conds,
	}
	if reached >= 2 {
		status["nodeName"] = simNode
	}
	return status, next
}

// vmStatus is the VM's status as KubeVirt's VM controller derives it from
// the VM, its VMI and its DataVolumes.
func vmStatus(p plan) map[string]any {
	vm := p.vm
	old, _, _ := unstructured.NestedSlice(vm.Object, "status", "conditions")
	vmiPhase, _, _ := unstructured.NestedString(p.vmiStatus, "phase")
	vmiConds, _, _ := unstructured.NestedSlice(p.vmiStatus, "conditions")
	vmiReady := false
	var conds []any
	if p.vmiStatus == nil {
		conds = append(conds, condition(old, "Ready", corev1.ConditionFalse, "VMINotExists", "VMI does not exist", p.now))
	}
	for _, c := range vmiConds { // KubeVirt copies the VMI's conditions
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			vmiReady = true
		}
		conds = append(conds, m)
	}
	switch {
	case p.faultErr != nil:
		conds = append(conds, condition(old, "Failure", corev1.ConditionTrue, "InvalidSimulatorFault", p.faultErr.Error(), p.now))
	case p.fault == Failure && wantsRunning(vm):
		conds = append(conds, condition(old, "Failure", corev1.ConditionTrue, "FailedCreate",
			"simulated: failed to create the virtual machine instance ("+FaultAnnotation+")", p.now))
	}

	var printable string
	switch {
	case !wantsRunning(vm) && p.vmiStatus != nil:
		printable = "Stopping"
	case !wantsRunning(vm):
		printable = "Stopped"
	case p.dvFailed:
		printable = "DataVolumeError"
	case !p.dvsReady:
		printable = "Provisioning"
	case p.vmiStatus == nil:
		printable = "Starting"
	case vmiPhase == "Running":
		printable = "Running"
	case (p.fault == ErrImagePull || p.fault == ImagePullBackOff || p.fault == ErrorUnschedulable) && vmiPhase == "Scheduling":
		printable = string(p.fault)
	default:
		printable = "Starting"
	}
	return map[string]any{
		"created":            p.vmiStatus != nil,
		"ready":              vmiReady,
		"printableStatus":    printable,
		"conditions":         conds,
		"observedGeneration": vm.GetGeneration(),
		"desiredGeneration":  vm.GetGeneration(),
	}
}
