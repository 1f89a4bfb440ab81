package apply

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// StatusOptions for Status: --name, -n, --wait-for (what Current means for
// a VM).
type StatusOptions struct {
	Name      string
	Namespace string
	WaitFor   kvstatus.WaitFor
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
	e := newEngine(kc, "status", false, nil)
	invClient := inventory.NewClient(kc.Dynamic, inv)
	ids, exists, err := invClient.Load(ctx)
	if err != nil {
		return nil, e.explain(err)
	}
	ids, bad := e.usableEntries(inv, invClient, ids)
	if len(objs) > 0 {
		_, items, err := e.prepare(objs, inv.Namespace)
		if err != nil {
			return nil, err
		}
		ids = ids[:0:0]
		for _, it := range items {
			ids = append(ids, it.id)
		}
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
