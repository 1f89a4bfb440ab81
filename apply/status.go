package apply

import (
	"context"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// StatusOptions for Status and WaitStatus: --name, -n, --wait-for (what
// Current means for a VM), --selector, --timeout.
type StatusOptions struct {
	Name      string
	Namespace string
	WaitFor   kvstatus.WaitFor
	// Selector keeps the objects whose labels match. Without a manifest
	// set it picks the live objects of the kinds virtwork renders
	// (statusKinds) instead of the inventory's.
	Selector labels.Selector
	// Timeout bounds WaitStatus; 0 means DefaultTimeout.
	Timeout time.Duration
}

// statusKinds are the kinds a --selector without a manifest set looks at:
// what virtwork renders into a namespace. Kinds the cluster does not serve
// are passed over.
var statusKinds = []schema.GroupKind{kvstatus.VirtualMachineGK, {Kind: "Secret"}, {Kind: "Service"}}

// statusSet says which objects a status reports: the manifest set objs (a
// render, -f or -k), else the live objects --selector matches, else the
// inventory's; filtered by --selector. exists says whether the inventory
// exists.
func (e *engine) statusSet(ctx context.Context, objs []*unstructured.Unstructured, inv inventory.Inventory, opts StatusOptions) (ids object.ObjMetadataSet, exists bool, bad []string, err error) {
	invClient := inventory.NewClient(e.kc.Dynamic, inv)
	ids, exists, err = invClient.Load(ctx)
	if err != nil {
		return nil, false, nil, e.explain(err)
	}
	ids, bad = e.usableEntries(inv, invClient, ids)
	matches := func(l map[string]string) bool { return opts.Selector == nil || opts.Selector.Matches(labels.Set(l)) }
	switch {
	case len(objs) > 0:
		var picked []*unstructured.Unstructured
		for _, o := range objs {
			if matches(o.GetLabels()) {
				picked = append(picked, o)
			}
		}
		_, items, err := e.prepare(picked, inv.Namespace)
		if err != nil {
			return nil, exists, bad, err
		}
		ids = ids[:0:0]
		for _, it := range items {
			ids = append(ids, it.id)
		}
	case opts.Selector != nil:
		lives, err := e.listLive(ctx, inv.Namespace, e.served(statusKinds))
		if err != nil {
			return nil, exists, bad, err
		}
		ids = ids[:0:0]
		for id, l := range lives {
			if matches(l.Labels) {
				ids = append(ids, id)
			}
		}
	}
	if opts.Selector != nil && len(ids) == 0 {
		// As an empty -f or -k: a typo must not pass a gate as "0
		// objects, all ready". Nothing to wait for either: the live
		// objects a selector would match later are unknown (give the
		// set, -f or -k, to wait for objects not applied yet).
		if len(objs) > 0 {
			return nil, exists, bad, fmt.Errorf("--selector %q matches none of the set's %d objects: check the labels in the files", opts.Selector, len(objs))
		}
		return nil, exists, bad, fmt.Errorf("--selector %q matches no VirtualMachine, Secret or Service in namespace %s: check the labels (kubectl get vm,secret,service -n %s --show-labels), or give the set with -f or -k to wait for objects not applied yet", opts.Selector, inv.Namespace, inv.Namespace)
	}
	return ids, exists, bad, nil
}

// StatusReport and ObjectStatus live in package event, for the printer.
type (
	StatusReport = event.StatusReport
	ObjectStatus = event.ObjectStatus
)

// Status reads the instance's inventory and the live status of each object
// in it (with one LIST per kind). When objs is not empty (a rendered set,
// -f or -k), their status is reported instead of the inventory's.
func Status(ctx context.Context, kc *kube.Client, objs []*unstructured.Unstructured, opts StatusOptions) (*StatusReport, error) {
	inv, err := inventory.New(opts.Name, opts.Namespace)
	if err != nil {
		return nil, err
	}
	if opts.WaitFor == "" {
		opts.WaitFor = kvstatus.WaitForReady
	}
	e := newEngine(kc, event.CommandStatus, false, nil)
	ids, exists, bad, err := e.statusSet(ctx, objs, inv, opts)
	if err != nil {
		return nil, err
	}
	report := &StatusReport{Name: inv.Name, Namespace: inv.Namespace, InventoryID: inv.ID(), Exists: exists, BadEntries: bad}
	byKind := map[schema.GroupKind]map[string]*unstructured.Unstructured{}
	for _, gk := range groupKinds(ids) {
		m, err := e.mapping(gk, "")
		if err != nil {
			// A kind the cluster no longer serves has no objects.
			byKind[gk] = map[string]*unstructured.Unstructured{}
			continue
		}
		live := map[string]*unstructured.Unstructured{}
		opts := metav1.ListOptions{Limit: 500}
		for {
			list, err := kc.Dynamic.Resource(m.Resource).Namespace(inv.Namespace).List(ctx, opts)
			if err != nil {
				return nil, e.explain(fmt.Errorf("listing %s in namespace %s: %w", m.Resource.GroupResource(), inv.Namespace, err))
			}
			for i := range list.Items {
				live[list.Items[i].GetName()] = &list.Items[i]
			}
			if list.GetContinue() == "" {
				break
			}
			opts.Continue = list.GetContinue()
		}
		byKind[gk] = live
	}
	for _, id := range ids {
		report.Objects = append(report.Objects, objectStatus(id, byKind[id.GroupKind][id.Name], inv, opts.WaitFor))
	}
	sort.Slice(report.Objects, func(i, j int) bool {
		a, b := report.Objects[i].Ref, report.Objects[j].Ref
		if a.Kind != b.Kind {
			return kindRank(a.Kind) < kindRank(b.Kind)
		}
		return a.Name < b.Name
	})
	return report, nil
}

func objectStatus(id object.ObjMetadata, u *unstructured.Unstructured, inv inventory.Inventory, waitFor kvstatus.WaitFor) ObjectStatus {
	os := ObjectStatus{Ref: refOf(id)}
	if u == nil {
		os.Status = event.StatusNotFound
		return os
	}
	os.Workload, os.Role = u.GetLabels()[WorkloadLabel], u.GetLabels()[RoleLabel]
	if owner := u.GetAnnotations()[cliinv.OwningInventoryKey]; owner != inv.ID() {
		os.Owner = owner
	}
	res, err := kvstatus.Compute(u, waitFor)
	if err != nil {
		os.Status, os.Message = event.StatusUnknown, err.Error()
		return os
	}
	os.Status, os.Message = string(res.Status), res.Message
	return os
}

// kindRank orders status tables: VMs first, then the kinds they use.
func kindRank(kind string) int {
	switch kind {
	case "VirtualMachine":
		return 0
	case "DataVolume":
		return 1
	case "Secret":
		return 2
	case "Service":
		return 3
	}
	return 4
}

// WaitStatus waits until the objects Status would report (see statusSet)
// are ready (opts.WaitFor) or failed, or opts.Timeout passes, whoever
// applied them: nothing is applied or changed. It reports through sink as
// Apply does, with each VM's time from its creation to Ready, so that the
// history records the wait like an apply.
func WaitStatus(ctx context.Context, kc *kube.Client, objs []*unstructured.Unstructured, opts StatusOptions, sink event.Sink) (*event.Summary, error) {
	if opts.WaitFor == "" {
		opts.WaitFor = kvstatus.WaitForReady
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	inv, err := inventory.New(opts.Name, opts.Namespace)
	if err != nil {
		return nil, err
	}
	e := newEngine(kc, event.CommandStatus, false, sink)
	ids, _, _, err := e.statusSet(ctx, objs, inv, opts)
	if err != nil {
		return nil, err
	}
	var vms object.ObjMetadataSet
	for _, id := range ids {
		if isVM(id) {
			vms = append(vms, id)
		}
	}
	lives, err := e.listLive(ctx, inv.Namespace, groupKinds(vms))
	if err != nil {
		return nil, err
	}
	for _, id := range vms {
		// created: its phases count from its creation (kvstatus.Started),
		// as for a VM an apply created; whoever created it.
		vm := &vmState{ref: refOf(id), fromCreation: true, created: true}
		if l := lives[id]; l != nil {
			vm.workload, vm.role = l.Labels[WorkloadLabel], l.Labels[RoleLabel]
			vm.applied = l.CreationTimestamp.Time
		}
		e.vms[id] = vm
	}
	e.emit(event.Event{Type: event.TypeInit, Init: &event.Init{
		Command: event.CommandStatus, Name: inv.Name, Namespace: inv.Namespace, InventoryID: inv.ID(),
		Objects: len(ids), VMs: len(vms), Wait: true,
	}})
	w := e.startWaiter(ctx, opts.WaitFor, ids, nil, true)
	defer w.stop()
	timedOut, err := w.wait(ctx, time.Now().Add(opts.Timeout))
	if err != nil {
		return e.finish(ctx, err, false), err
	}
	e.recordWaitResults(w, timedOut)
	e.readPhases(ctx, inv, opts.WaitFor)
	return e.finish(ctx, nil, timedOut), nil
}
