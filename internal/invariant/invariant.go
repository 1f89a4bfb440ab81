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
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

var (
	secrets    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	configs    = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	vms        = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Foreign is what Plant created and Keep found: objects no virtwork run
// may delete or claim.
type Foreign struct {
	objs []kept
}

type kept struct {
	gvr  schema.GroupVersionResource
	key  string // Kind/name, for messages
	name string
	uid  string
}

// Plant creates objects virtwork does not own in the namespace: a Secret, a
// ConfigMap and a VirtualMachine without the owner annotation, each with a
// name prefix that no test set uses; and, as Keep, takes every other object
// already there that no virtwork inventory owns.
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
	for i, o := range objs {
		gvr := []schema.GroupVersionResource{secrets, configs, vms}[i]
		if _, err := kc.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return Foreign{}, fmt.Errorf("planting %s %s: %w", gvr.Resource, o.GetName(), err)
		}
	}
	return Keep(ctx, kc, ns)
}

// Keep returns, as Foreign, every object now in the namespace, of every
// kind the API server serves, that is not virtwork's: no owner annotation,
// not an inventory or an instance's Lease, and not a dependent of another
// object (its owner decides its fate), nor an Event. Take it before the
// scenario, after creating what a user would have there (a RoleBinding, a
// quota, a custom resource), so that Check finds them untouched.
func Keep(ctx context.Context, kc *kube.Client, ns string) (Foreign, error) {
	var f Foreign
	err := eachObject(ctx, kc, ns, func(r resource, o *metav1.PartialObjectMetadata) {
		_, owned := o.Annotations[cliinv.OwningInventoryKey]
		_, inv := o.Labels[common.InventoryLabel]
		lease := r.gk.Group == "coordination.k8s.io" && strings.HasPrefix(o.Name, "virtwork-lock-")
		if owned || inv || lease || len(o.OwnerReferences) > 0 || o.DeletionTimestamp != nil {
			return
		}
		f.objs = append(f.objs, kept{r.gvr, r.gk.Kind + "/" + o.Name, o.Name, string(o.UID)})
	})
	return f, err
}

// resource is a namespaced resource the API server serves, with the kind
// discovery gives for it (a metadata-only LIST does not reliably say).
type resource struct {
	gvr schema.GroupVersionResource
	gk  schema.GroupKind
}

// resources are the namespaced resources that can be listed and hold
// objects a run could create, claim or delete: not subresources, Events
// (records of what happened) or metrics (views of pods and nodes).
func resources(lists []*metav1.APIResourceList) ([]resource, error) {
	var out []resource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			gvr := gv.WithResource(r.Name)
			if !r.Namespaced || !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") ||
				r.Name == "events" || gv.Group == "metrics.k8s.io" {
				continue
			}
			out = append(out, resource{gvr, schema.GroupKind{Group: gv.Group, Kind: r.Kind}})
		}
	}
	return out, nil
}

// eachObject calls fn for every object in the namespace, of every listable
// namespaced resource discovery (uncached: CRDs registered by the test
// count) reports.
func eachObject(ctx context.Context, kc *kube.Client, ns string, fn func(resource, *metav1.PartialObjectMetadata)) error {
	dc, err := discovery.NewDiscoveryClientForConfig(kc.Config)
	if err != nil {
		return err
	}
	lists, err := dc.ServerPreferredNamespacedResources()
	if err != nil {
		return fmt.Errorf("discovering the namespaced kinds: %w", err)
	}
	rs, err := resources(lists)
	if err != nil {
		return err
	}
	// Listed a few kinds at a time: one after another, the fifty or so
	// LISTs made each check take ~150 ms, and the race tests check often.
	items := make([][]metav1.PartialObjectMetadata, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, r := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			opts := metav1.ListOptions{Limit: 500}
			for {
				list, err := kc.Metadata.Resource(r.gvr).Namespace(ns).List(ctx, opts)
				if err != nil {
					errs[i] = fmt.Errorf("listing %s: %w", r.gvr.GroupResource(), err)
					return
				}
				items[i] = append(items[i], list.Items...)
				if list.Continue == "" {
					return
				}
				opts.Continue = list.Continue
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, r := range rs {
		for j := range items[i] {
			fn(r, &items[i][j])
		}
	}
	return nil
}

// key names an object of a kind, as messages say it.
func key(gk schema.GroupKind, name string) string {
	if gk.Group == "" {
		return gk.Kind + "/" + name
	}
	return gk.Kind + "." + gk.Group + "/" + name
}

// Check returns every violation of the invariant in the namespace, joined;
// nil when it holds. Objects being deleted (a deletion timestamp) are on
// their way out and not counted.
func Check(ctx context.Context, kc *kube.Client, ns string, foreign Foreign) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Every inventory in the namespace and what it records. Entries that
	// name nothing virtwork can act on must be reported (see below).
	cms, err := kc.Dynamic.Resource(configs).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: common.InventoryLabel})
	if err != nil {
		return fmt.Errorf("listing inventories: %w", err)
	}
	recordedBy := map[string][]string{} // key -> inventory ids
	badEntries := map[string][]inventory.BadEntry{}
	var names []string
	for i := range cms.Items {
		cm := &cms.Items[i]
		id := cm.GetLabels()[common.InventoryLabel]
		inv, err := inventory.New(cm.GetLabels()[inventory.InstanceLabel], ns)
		if err != nil || cm.GetName() != inv.ConfigMapName() || id != inv.ID() {
			bad("inventory %s (id %q) is not an instance's inventory: %v", cm.GetName(), id, err)
			continue
		}
		names = append(names, inv.Name)
		c := inventory.NewClient(kc.Dynamic, inv)
		objs, _, err := c.Load(ctx)
		if err != nil {
			bad("inventory %s: %v", cm.GetName(), err)
			continue
		}
		badEntries[inv.Name] = c.BadEntries()
		for _, o := range objs {
			k := key(o.GroupKind, o.Name)
			recordedBy[k] = append(recordedBy[k], id)
		}
	}

	// Every annotated object, of any kind, is in exactly the inventory it
	// names.
	err = eachObject(ctx, kc, ns, func(r resource, o *metav1.PartialObjectMetadata) {
		owner, ok := o.Annotations[cliinv.OwningInventoryKey]
		// Dependents (a VM's DataVolumes) go with their owner.
		if !ok || o.DeletionTimestamp != nil || len(o.OwnerReferences) > 0 {
			return
		}
		k := key(r.gk, o.Name)
		switch by := recordedBy[k]; {
		case len(by) == 0:
			bad("%s carries owner %q but no inventory records it (orphan)", k, owner)
		case len(by) > 1:
			bad("%s is recorded in %d inventories %v", k, len(by), by)
		case by[0] != owner:
			bad("%s is owned by %q but recorded in inventory %q", k, owner, by[0])
		}
	})
	if err != nil {
		return err
	}

	// Every inventory entry exists or status reports it gone, and status
	// reports every entry it cannot act on.
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
		for _, b := range badEntries[name] {
			if !slices.ContainsFunc(st.BadEntries, func(s string) bool { return strings.Contains(s, fmt.Sprintf("%q", b.Key)) }) {
				bad("instance %q has inventory entry %q (%s), which status does not report", name, b.Key, b.Reason)
			}
		}
	}

	// Nothing foreign was deleted or claimed, nor its namespace deleted.
	if len(foreign.objs) > 0 {
		n, err := kc.Metadata.Resource(namespaces).Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			bad("namespace %s, which held foreign objects, was deleted", ns)
		case err != nil:
			return err
		case n.DeletionTimestamp != nil:
			bad("namespace %s, which holds foreign objects, is being deleted", ns)
		}
	}
	for _, p := range foreign.objs {
		u, err := kc.Metadata.Resource(p.gvr).Namespace(ns).Get(ctx, p.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			bad("foreign %s was deleted", p.key)
		case err != nil:
			return err
		case string(u.UID) != p.uid || u.DeletionTimestamp != nil:
			bad("foreign %s was deleted (replaced or terminating)", p.key)
		case u.Annotations[cliinv.OwningInventoryKey] != "":
			bad("foreign %s was claimed by %q", p.key, u.Annotations[cliinv.OwningInventoryKey])
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
