package apply

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/inventory"
)

// readPhases reads, once the wait is over, every measured VM's lifecycle
// from the cluster (one paged LIST each of VMs, VMIs and DataVolumes) and
// records the time from its start to each step. It reads the objects as
// they are rather than the events the watch saw, so the figures are the
// same whether this process watched the whole start or came in half-way
// (an earlier apply interrupted), and use only the cluster's clock.
// Errors only cost the figures. AgentConnected counts only when apply
// waited for it.
func (e *engine) readPhases(ctx context.Context, inv inventory.Inventory, waitFor kvstatus.WaitFor) {
	namespace := inv.Namespace
	e.mu.Lock()
	measure := false
	withDVs := false
	for _, vm := range e.vms {
		vm.measured = vm.created || vm.seen && !vm.readyAtFirstSight
		measure = measure || vm.measured
	}
	e.mu.Unlock()
	if !measure {
		return
	}
	list := func(gk schema.GroupKind) map[string]*unstructured.Unstructured {
		objs, err := e.listFull(ctx, namespace, []schema.GroupKind{gk})
		out := make(map[string]*unstructured.Unstructured, len(objs))
		if err != nil {
			return out
		}
		for id, o := range objs {
			out[id.Name] = o
		}
		return out
	}
	vms := list(kvstatus.VirtualMachineGK)
	for _, vm := range vms {
		if ts, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates"); len(ts) > 0 {
			withDVs = true
			break
		}
	}
	vmis := list(kvstatus.VirtualMachineInstanceGK)
	var dvs map[string]*unstructured.Unstructured
	if withDVs {
		if _, err := e.kc.Mapper.RESTMapping(kvstatus.DataVolumeGK); !meta.IsNoMatchError(err) {
			dvs = list(kvstatus.DataVolumeGK)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.vms {
		vm := vms[st.ref.Name]
		if !st.measured || vm == nil {
			continue
		}
		start := kvstatus.Started(vm, fieldManager(inv), !st.created)
		if start.IsZero() {
			continue
		}
		st.started = start
		st.phases = kvstatus.Phases(vm, vmis[st.ref.Name], dvs, start, waitFor == kvstatus.WaitForAgent)
	}
}
