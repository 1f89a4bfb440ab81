// Package kvstatus computes the readiness of KubeVirt VirtualMachines and CDI
// DataVolumes in kstatus terms, and plugs those rules into cli-utils' status
// watcher.
//
// kstatus' generic rules call a VirtualMachine without status "Current" (so a
// VM that was just created looks ready) and never call a failed DataVolume
// "Failed" (so a broken import waits for the timeout). The rules here fix both.
package kvstatus

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/engine"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/statusreaders"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Kinds the rules here apply to.
var (
	VirtualMachineGK = schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachine"}
	DataVolumeGK     = schema.GroupKind{Group: "cdi.kubevirt.io", Kind: "DataVolume"}
)

// WaitFor says what "ready" means for a VirtualMachine.
type WaitFor string

const (
	// WaitForReady waits for the VM's Ready condition (the VMI is up).
	WaitForReady WaitFor = "ready"
	// WaitForAgent also waits for the guest agent to connect (the guest
	// OS has booted).
	WaitForAgent WaitFor = "agent"
)

// ParseWaitFor validates a --wait-for value.
func ParseWaitFor(s string) (WaitFor, error) {
	switch WaitFor(s) {
	case WaitForReady, "":
		return WaitForReady, nil
	case WaitForAgent:
		return WaitForAgent, nil
	}
	return "", fmt.Errorf("invalid --wait-for %q: use ready or agent", s)
}

// failingPrintableStatuses are the VM printableStatus values that do not
// heal by waiting; KubeVirt discourages reading printableStatus except for
// such fail-fast states.
var failingPrintableStatuses = map[string]bool{
	"ErrImagePull":       true,
	"ImagePullBackOff":   true,
	"ErrorUnschedulable": true,
	"CrashLoopBackOff":   true,
	"DataVolumeError":    true,
}

// condition is the part of a status condition the rules read.
type condition struct {
	Type, Status, Reason, Message string
}

func conditions(u *unstructured.Unstructured) map[string]condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make(map[string]condition, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		c := condition{}
		c.Type, _ = m["type"].(string)
		c.Status, _ = m["status"].(string)
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		out[c.Type] = c
	}
	return out
}

// explain is a condition's message, else its reason, else fallback.
func explain(c condition, fallback string) string {
	switch {
	case c.Message != "":
		return c.Message
	case c.Reason != "":
		return c.Reason
	}
	return fallback
}

// VirtualMachine computes a VM's status:
//   - Terminating while it is being deleted;
//   - Failed at once on a True Failure condition or a printableStatus that
//     does not heal (ErrImagePull, ImagePullBackOff, ErrorUnschedulable,
//     CrashLoopBackOff, DataVolumeError);
//   - with runStrategy Halted, Current once it is Stopped;
//   - Current when Ready=True (and, waiting for the agent, AgentConnected=True);
//   - InProgress otherwise, including before KubeVirt has written any status.
//
// The message carries the VM's own condition message where there is one.
func VirtualMachine(u *unstructured.Unstructured, waitFor WaitFor) (*status.Result, error) {
	if u.GetDeletionTimestamp() != nil {
		return &status.Result{Status: status.TerminatingStatus, Message: "VM is being deleted"}, nil
	}
	conds := conditions(u)
	printable, _, _ := unstructured.NestedString(u.Object, "status", "printableStatus")

	if c, ok := conds["Failure"]; ok && c.Status == "True" {
		return failed("Failure", explain(c, "VM reports a failure")), nil
	}
	if failingPrintableStatuses[printable] {
		msg := printable
		if c, ok := conds["Ready"]; ok && (c.Message != "" || c.Reason != "") {
			msg = printable + ": " + explain(c, "")
		}
		return failed(printable, msg), nil
	}

	if gen, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && gen < u.GetGeneration() {
		return inProgress("NotObserved", fmt.Sprintf("KubeVirt has not yet observed generation %d", u.GetGeneration())), nil
	}

	runStrategy, _, _ := unstructured.NestedString(u.Object, "spec", "runStrategy")
	if runStrategy == "Halted" {
		if printable == "Stopped" {
			return &status.Result{Status: status.CurrentStatus, Message: "VM is stopped (runStrategy Halted)"}, nil
		}
		if printable == "" {
			return inProgress("NoStatus", "waiting for KubeVirt to report the VM"), nil
		}
		return inProgress(printable, "waiting for the VM to stop: "+printable), nil
	}

	ready, ok := conds["Ready"]
	if !ok {
		if printable == "" {
			return inProgress("NoStatus", "waiting for KubeVirt to report the VM"), nil
		}
		return inProgress(printable, printable), nil
	}
	if ready.Status != "True" {
		fallback := printable
		if fallback == "" {
			fallback = "VM is not ready"
		}
		return inProgress("NotReady", explain(ready, fallback)), nil
	}
	if waitFor == WaitForAgent {
		if agent, ok := conds["AgentConnected"]; !ok || agent.Status != "True" {
			return inProgress("AgentNotConnected", "VM is ready, waiting for the guest agent"), nil
		}
		return &status.Result{Status: status.CurrentStatus, Message: "VM is ready, guest agent connected"}, nil
	}
	return &status.Result{Status: status.CurrentStatus, Message: "VM is ready"}, nil
}

// DataVolume computes a DataVolume's status: Current when its phase is
// Succeeded, Failed when Failed, InProgress otherwise.
func DataVolume(u *unstructured.Unstructured) (*status.Result, error) {
	if u.GetDeletionTimestamp() != nil {
		return &status.Result{Status: status.TerminatingStatus, Message: "DataVolume is being deleted"}, nil
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	conds := conditions(u)
	switch phase {
	case "Succeeded":
		return &status.Result{Status: status.CurrentStatus, Message: "DataVolume succeeded"}, nil
	case "Failed":
		msg := "DataVolume failed"
		for _, t := range []string{"Running", "Ready", "Bound"} {
			if c, ok := conds[t]; ok && c.Message != "" {
				msg = "DataVolume failed: " + c.Message
				break
			}
		}
		return failed("Failed", msg), nil
	case "":
		return inProgress("NoStatus", "waiting for CDI to report the DataVolume"), nil
	}
	return inProgress(phase, "DataVolume phase "+phase), nil
}

func failed(reason, msg string) *status.Result {
	return &status.Result{
		Status:  status.FailedStatus,
		Message: msg,
		Conditions: []status.Condition{{
			Type: status.ConditionStalled, Status: "True", Reason: reason, Message: msg,
		}},
	}
}

func inProgress(reason, msg string) *status.Result {
	return &status.Result{
		Status:  status.InProgressStatus,
		Message: msg,
		Conditions: []status.Condition{{
			Type: status.ConditionReconciling, Status: "True", Reason: reason, Message: msg,
		}},
	}
}

// Compute is status.Compute with the KubeVirt and CDI rules above.
func Compute(u *unstructured.Unstructured, waitFor WaitFor) (*status.Result, error) {
	switch u.GroupVersionKind().GroupKind() {
	case VirtualMachineGK:
		return VirtualMachine(u, waitFor)
	case DataVolumeGK:
		return DataVolume(u)
	}
	return status.Compute(u)
}

// NewStatusReader returns cli-utils' default status reader with the
// VirtualMachine and DataVolume rules in front, for
// watcher.DefaultStatusWatcher.StatusReader.
func NewStatusReader(mapper meta.RESTMapper, waitFor WaitFor) engine.StatusReader {
	vm := &kindReader{gk: VirtualMachineGK, StatusReader: statusreaders.NewGenericStatusReader(mapper,
		func(u *unstructured.Unstructured) (*status.Result, error) { return VirtualMachine(u, waitFor) })}
	dv := &kindReader{gk: DataVolumeGK, StatusReader: statusreaders.NewGenericStatusReader(mapper, DataVolume)}
	return statusreaders.NewStatusReader(mapper, vm, dv)
}

// kindReader restricts a generic status reader to one GroupKind.
type kindReader struct {
	engine.StatusReader
	gk schema.GroupKind
}

func (r *kindReader) Supports(gk schema.GroupKind) bool { return gk == r.gk }

var _ engine.StatusReader = &kindReader{}
