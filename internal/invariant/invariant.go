// Package invariant checks, for tests, the promise virtwork makes about a
// namespace after any run, interrupted, raced or faulted: every object that
// carries virtwork's owner annotation is recorded in exactly one inventory
// (the one it names), every inventory entry exists or is reported gone, and
// nothing outside the inventories was deleted or claimed.
package invariant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// kinds are where virtwork's objects (and the foreign ones) live.
var kinds = []schema.GroupVersionResource{
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"},
	{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"},
}

var (
	secrets = kinds[0]
	configs = kinds[2]
	vms     = kinds[3]
)

// Foreign is what Plant created: objects no virtwork run may delete or
// claim.
type Foreign struct {
	objs []planted
}

type planted struct {
	gvr  schema.GroupVersionResource
	name string
	uid  string
}

// Plant creates objects virtwork does not own in the namespace: a Secret, a
// ConfigMap and a VirtualMachine without the owner annotation, each with a
// name prefix that no test set uses.
func Plant(ctx context.Context, kc *kube.Client, ns string) (Foreign, error) {
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"name": "foreign-secret"},
			"stringData": map[string]any{"k": "someone else's"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "foreign-config"},
			"data":     map[string]any{"k": "someone else's"}}},
		{Object: map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
			"metadata": map[string]any{"name": "foreign-vm"},
			"spec": map[string]any{"runStrategy": "Halted", "template": map[string]any{"spec": map[string]any{
				"domain": map[string]any{"memory": map[string]any{"guest": "64Mi"}, "devices": map[string]any{}}}}}}},
	}
	var f Foreign
	for i, o := range objs {
		gvr := []schema.GroupVersionResource{secrets, configs, vms}[i]
		out, err := kc.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, o, metav1.CreateOptions{})
		if err != nil {
			return f, fmt.Errorf("planting %s %s: %w", gvr.Resource, o.GetName(), err)
		}
		f.objs = append(f.objs, planted{gvr, out.GetName(), string(out.GetUID())})
	}
	return f, nil
}

// Check returns every violation of the invariant in the namespace, joined;
// nil when it holds. Objects being deleted (a deletion timestamp) are on
// their way out and not counted.
func Check(ctx context.Context, kc *kube.Client, ns string, foreign Foreign) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Every inventory in the namespace and what it records.
	cms, err := kc.Dynamic.Resource(configs).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: common.InventoryLabel})
	if err != nil {
		return fmt.Errorf("listing inventories: %w", err)
	}
	recordedBy := map[string][]string{} // "Kind/name" -> inventory ids
	var names []string
	for i := range cms.Items {
		cm := &cms.Items[i]
		id := cm.GetLabels()[common.InventoryLabel]
		name := cm.GetLabels()[inventory.InstanceLabel]
		names = append(names, name)
		objs, err := cliinv.WrapInventoryObj(cm).Load()
		if err != nil {
			bad("inventory %s: %v", cm.GetName(), err)
			continue
		}
		for _, o := range objs {
			k := o.GroupKind.Kind + "/" + o.Name
			recordedBy[k] = append(recordedBy[k], id)
		}
	}

	// Every annotated object is in exactly the inventory it names.
	for _, gvr := range kinds {
		list, err := kc.Metadata.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, o := range list.Items {
			owner, ok := o.Annotations[cliinv.OwningInventoryKey]
			// Dependents (a VM's DataVolumes) go with their owner.
			if !ok || o.DeletionTimestamp != nil || len(o.OwnerReferences) > 0 {
				continue
			}
			k := o.Kind + "/" + o.Name
			if o.Kind == "" {
				k = kindOf(gvr) + "/" + o.Name
			}
			switch by := recordedBy[k]; {
			case len(by) == 0:
				bad("%s carries owner %q but no inventory records it (orphan)", k, owner)
			case len(by) > 1:
				bad("%s is recorded in %d inventories %v", k, len(by), by)
			case by[0] != owner:
				bad("%s is owned by %q but recorded in inventory %q", k, owner, by[0])
			}
		}
	}

	// Every inventory entry exists or status reports it gone.
	for _, name := range names {
		st, err := apply.Status(ctx, kc, nil, apply.StatusOptions{Name: name, Namespace: ns})
		if err != nil {
			bad("status of instance %q: %v", name, err)
			continue
		}
		for _, o := range st.Objects {
			if o.Status == "" || (o.Owner != "" && o.Status != event.StatusNotFound) {
				bad("instance %q records %s/%s, which is %q owned by %q", name, o.Ref.Kind, o.Ref.Name, o.Status, o.Owner)
			}
		}
	}

	// Nothing foreign was deleted or claimed.
	for _, p := range foreign.objs {
		u, err := kc.Dynamic.Resource(p.gvr).Namespace(ns).Get(ctx, p.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			bad("foreign %s %s was deleted", p.gvr.Resource, p.name)
		case err != nil:
			return err
		case string(u.GetUID()) != p.uid || u.GetDeletionTimestamp() != nil:
			bad("foreign %s %s was deleted (replaced or terminating)", p.gvr.Resource, p.name)
		case u.GetAnnotations()[cliinv.OwningInventoryKey] != "":
			bad("foreign %s %s was claimed by %q", p.gvr.Resource, p.name, u.GetAnnotations()[cliinv.OwningInventoryKey])
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	if len(problems) > 12 {
		problems = append(problems[:12], fmt.Sprintf("... and %d more", len(problems)-12))
	}
	return errors.New("invariant violated:\n  " + strings.Join(problems, "\n  "))
}

func kindOf(gvr schema.GroupVersionResource) string {
	switch gvr.Resource {
	case "secrets":
		return "Secret"
	case "services":
		return "Service"
	case "configmaps":
		return "ConfigMap"
	case "virtualmachines":
		return "VirtualMachine"
	}
	return "DataVolume"
}
