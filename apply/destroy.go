package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// Destroy deletes every object recorded in the inventory of instance
// opts.Name in opts.Namespace that the inventory still owns, waits until
// they are gone, then removes the inventory (and, with
// opts.DeleteNamespace, the namespace). It needs nothing but the name and
// namespace. Objects not recorded, or now owned by someone else, are never
// deleted.
func Destroy(ctx context.Context, kc *kube.Client, opts DestroyOptions, sink event.Sink) (*event.Summary, error) {
	opts.defaults()
	inv, err := inventory.New(opts.Name, opts.Namespace)
	if err != nil {
		return nil, err
	}
	e := newEngine(kc, event.CommandDestroy, opts.DryRun, sink)
	var lease *inventory.Held
	if !opts.DryRun {
		held, leaseCtx, err := e.acquire(ctx, inv, opts.LeaseDuration)
		var noNS *inventory.NoNamespaceError
		switch {
		case errors.As(err, &noNS):
			// No namespace, no inventory: nothing to destroy (below).
		case err != nil:
			return nil, err
		default:
			lease = held
			defer lease.Release()
			ctx = leaseCtx
		}
	}
	invClient := inventory.NewClient(kc.Dynamic, inv)
	ids, exists, err := invClient.Load(ctx)
	if err != nil {
		return nil, e.explain(err)
	}
	ids, badEntries := e.usableEntries(inv, invClient, ids)
	// Kinds the cluster no longer serves (KubeVirt uninstalled) have no
	// objects left to delete.
	var servable object.ObjMetadataSet
	var gone object.ObjMetadataSet
	for _, id := range ids {
		if _, err := e.mapping(id.GroupKind, ""); err != nil {
			gone = append(gone, id)
			continue
		}
		servable = append(servable, id)
	}
	lives, err := e.listLive(ctx, inv.Namespace, groupKinds(servable))
	if err != nil {
		return nil, err
	}
	if opts.DeleteNamespace {
		// Deleting the namespace deletes everything in it: refuse, before
		// deleting anything, unless all it holds is this instance's.
		if err := e.namespaceIsOurs(ctx, inv, ids); err != nil {
			return nil, err
		}
	}
	vmCount := 0
	for _, id := range ids {
		if isVM(id) {
			vmCount++
		}
	}
	wait := !opts.NoWait && !opts.DryRun
	e.emit(event.Event{Type: event.TypeInit, Init: &event.Init{
		Command: event.CommandDestroy, DryRun: opts.DryRun, Name: inv.Name, Namespace: inv.Namespace, InventoryID: inv.ID(),
		Objects: len(ids), VMs: vmCount, Wait: wait,
	}})
	e.reportBadEntries(inv, badEntries)
	for _, id := range gone {
		e.object(refOf(id), event.Deleted, "already gone ("+kube.NotInstalled(id.GroupKind)+")", "")
	}
	if !exists {
		e.emit(event.Event{Type: event.TypeObject, Object: &event.Object{
			Ref: event.Ref{Kind: "ConfigMap", Namespace: inv.Namespace, Name: inv.ConfigMapName()}, Result: event.Skipped,
			Reason: fmt.Sprintf("no inventory for instance %q in namespace %s: nothing to destroy", inv.Name, inv.Namespace),
		}})
	}

	res := e.deleteAll(ctx, inv, servable, lives, cliinv.PolicyMustMatch, opts.Workers, opts.DryRun, event.Deleted, wait)
	if res.err != nil {
		return e.finish(ctx, res.err, false), res.err
	}
	if ctx.Err() != nil {
		return e.finish(ctx, ctx.Err(), false), ctx.Err()
	}
	// Watched after the deletes, as in Apply: objects gone by then are
	// NotFound in the first LIST.
	var w *waiter
	if len(res.accepted) > 0 {
		w = e.startWaiter(ctx, kvstatus.WaitForReady, nil, res.accepted, false)
		defer w.stop()
	}
	timedOut := false
	if w != nil {
		timedOut, err = w.wait(ctx, time.Now().Add(opts.Timeout))
		if err != nil {
			return e.finish(ctx, err, false), err
		}
		e.mu.Lock()
		for id, t := range w.unfinished() {
			e.summary.Problems = append(e.summary.Problems, event.Problem{Ref: refOf(id), Result: "timed-out",
				Reason: "still there after " + opts.Timeout.String() + " (status " + t.status + ")"})
		}
		e.mu.Unlock()
	}
	if opts.DryRun {
		return e.finish(ctx, nil, false), nil
	}

	remaining := stillThere(res.remaining, w)
	if exists {
		if len(remaining) == 0 {
			if err := invClient.Delete(ctx); err != nil {
				return e.finish(ctx, e.explain(err), timedOut), e.explain(err)
			}
			e.object(event.Ref{Kind: "ConfigMap", Namespace: inv.Namespace, Name: inv.ConfigMapName()}, event.Deleted, "inventory", "")
		} else if err := invClient.Save(ctx, remaining); err != nil {
			return e.finish(ctx, e.explain(err), timedOut), e.explain(err)
		}
	}
	if opts.DeleteNamespace {
		if len(remaining) > 0 {
			err := fmt.Errorf("namespace %s not deleted: %d objects of the inventory are still there", inv.Namespace, len(remaining))
			return e.finish(ctx, err, timedOut), err
		}
		// The instance is gone with its inventory; the Lease goes with
		// the namespace (renewing it meanwhile would fail).
		lease.Release()
		if err := e.deleteNamespace(ctx, inv.Namespace); err != nil {
			return e.finish(ctx, err, timedOut), err
		}
		// Wait until the namespace is finalized, so that an apply right
		// after this one does not meet a Terminating namespace.
		if !opts.NoWait && !opts.DryRun && !timedOut {
			gone, err := e.waitNamespaceGone(ctx, inv.Namespace, time.Now().Add(opts.Timeout))
			if err != nil {
				return e.finish(ctx, err, false), err
			}
			timedOut = !gone
		}
	}
	return e.finish(ctx, nil, timedOut), nil
}

// waitNamespaceGone polls the one namespace (a watch would be no cheaper
// for a single object) until it is gone or the deadline passes.
func (e *engine) waitNamespaceGone(ctx context.Context, name string, deadline time.Time) (bool, error) {
	nsRes := e.kc.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := nsRes.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case apierrors.IsForbidden(err):
			// A namespace-scoped user's Role went with the namespace:
			// the deletion it asked for is under way.
			return true, nil
		case ctx.Err() != nil:
			return false, ctx.Err() // finish reports the run as interrupted
		case err != nil:
			return false, e.explain(fmt.Errorf("waiting for namespace %s to be deleted: %w", name, err))
		}
		if time.Now().After(deadline) {
			e.mu.Lock()
			e.summary.Problems = append(e.summary.Problems, event.Problem{
				Ref: event.Ref{Kind: "Namespace", Name: name}, Result: "timed-out",
				Reason: "still terminating: something in it holds a finalizer (see kubectl get all -n " + name + ")",
			})
			e.mu.Unlock()
			return false, nil
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// namespaceIsOurs checks that --delete-namespace would delete nothing but
// the instance: virtwork's apply created the namespace
// (inventory.CreatedByAnnotation), and it holds no object, of any namespaced
// kind the API server serves, besides the instance's own, their dependents
// and what Kubernetes itself puts in every namespace (see namespaceContents).
func (e *engine) namespaceIsOurs(ctx context.Context, inv inventory.Inventory, ids object.ObjMetadataSet) error {
	ns, err := e.kc.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, inv.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return e.explain(fmt.Errorf("reading namespace %s: %w", inv.Namespace, err))
	}
	if ns.Annotations[inventory.CreatedByAnnotation] == "" {
		return fmt.Errorf("--delete-namespace: namespace %s was not created by virtwork (it existed before the first apply: no annotation %s); nothing was deleted: destroy without --delete-namespace, and delete the namespace yourself if you mean to",
			inv.Namespace, inventory.CreatedByAnnotation)
	}
	foreign, err := e.namespaceContents(ctx, ns, inv, ids)
	if err != nil {
		return fmt.Errorf("--delete-namespace: cannot tell what else namespace %s holds, so nothing was deleted: %w", inv.Namespace, err)
	}
	if len(foreign) > 0 {
		slices.Sort(foreign)
		more := ""
		if len(foreign) > 5 {
			more = fmt.Sprintf(" and %d more", len(foreign)-5)
			foreign = foreign[:5]
		}
		return fmt.Errorf("--delete-namespace: namespace %s also holds objects that are not instance %q's (%s%s); nothing was deleted: destroy without --delete-namespace, or remove those first",
			inv.Namespace, inv.Name, strings.Join(foreign, ", "), more)
	}
	return nil
}

// skippedResources are listed by discovery but are not objects a namespace
// deletion loses: Events are records of what happened, metrics are views of
// pods and nodes.
func skippedResource(gvr schema.GroupVersionResource) bool {
	return gvr.Resource == "events" && (gvr.Group == "" || gvr.Group == "events.k8s.io") || gvr.Group == "metrics.k8s.io"
}

// namespaceContents lists, as "Kind/name", every object in the namespace
// that deleting it would lose and that is not the instance's. It asks
// discovery (uncached, so a kind registered a moment ago counts) for every
// namespaced resource that can be listed, and lists each with metadata
// only, paged. Not counted: the inventory's objects and the inventory
// itself and its Lease; dependents whose owners (transitively) are counted out, such as a
// VM's VMI, DataVolumes and their PVCs, or a Service's EndpointSlices; the
// Endpoints of the instance's Services; and what Kubernetes (or OpenShift,
// on its namespaces) creates in every namespace: the kube-root-ca.crt
// ConfigMap and the default ServiceAccount (OpenShift: openshift-service-ca.crt,
// the builder and deployer ServiceAccounts, their Secrets and the
// system:image-pullers, system:image-builders and system:deployers
// RoleBindings).
func (e *engine) namespaceContents(ctx context.Context, ns *metav1.PartialObjectMetadata, inv inventory.Inventory, ids object.ObjMetadataSet) ([]string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(e.kc.Config)
	if err != nil {
		return nil, err
	}
	lists, err := dc.ServerPreferredNamespacedResources()
	if err != nil {
		// Partly failed discovery (an aggregated API down) would hide
		// kinds: refuse rather than guess.
		return nil, e.explain(fmt.Errorf("discovering the namespaced kinds: %w", err))
	}
	system := map[string]bool{
		"ConfigMap/kube-root-ca.crt": true, "ServiceAccount/default": true,
		"ConfigMap/" + inv.ConfigMapName(): true,
	}
	systemSAs := map[string]bool{"default": true}
	if _, openshift := ns.Annotations["openshift.io/sa.scc.uid-range"]; openshift {
		for _, k := range []string{"ConfigMap/openshift-service-ca.crt", "ServiceAccount/builder", "ServiceAccount/deployer",
			"RoleBinding/system:image-pullers", "RoleBinding/system:image-builders", "RoleBinding/system:deployers"} {
			system[k] = true
		}
		systemSAs["builder"], systemSAs["deployer"] = true, true
	}
	ours := map[schema.GroupKind]map[string]bool{}
	for _, id := range ids {
		if ours[id.GroupKind] == nil {
			ours[id.GroupKind] = map[string]bool{}
		}
		ours[id.GroupKind][id.Name] = true
	}
	type entry struct {
		key    string
		owners []types.UID
		ok     bool // counted out
	}
	byUID := map[types.UID]*entry{}
	var all []*entry
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			gvr := gv.WithResource(r.Name)
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") || skippedResource(gvr) {
				continue
			}
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			opts := metav1.ListOptions{Limit: 500}
			for {
				list, err := e.kc.Metadata.Resource(gvr).Namespace(ns.Name).List(ctx, opts)
				if err != nil {
					return nil, e.explain(fmt.Errorf("listing %s: %w", gvr.GroupResource(), err))
				}
				for i := range list.Items {
					it := &list.Items[i]
					en := &entry{key: r.Kind + "/" + it.Name}
					switch {
					case ours[gk][it.Name], gk.Group == "" && system[en.key],
						gk == (schema.GroupKind{Kind: "Endpoints"}) && ours[schema.GroupKind{Kind: "Service"}][it.Name],
						gk == (schema.GroupKind{Kind: "Secret"}) && systemSAs[it.Annotations["kubernetes.io/service-account.name"]],
						gk == (schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}) && system[en.key],
						// This run's own lock on the instance (inventory.Acquire).
						gk == (schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}) && it.Name == inv.LeaseName():
						en.ok = true
					}
					for _, o := range it.OwnerReferences {
						en.owners = append(en.owners, o.UID)
					}
					byUID[it.UID] = en
					all = append(all, en)
				}
				if list.Continue == "" {
					break
				}
				opts.Continue = list.Continue
			}
		}
	}
	// Dependents go with their owners: counted out when an owner is.
	// Repeat until nothing changes (owner chains are short).
	for changed := true; changed; {
		changed = false
		for _, en := range all {
			if en.ok {
				continue
			}
			for _, uid := range en.owners {
				if o := byUID[uid]; o != nil && o.ok {
					en.ok, changed = true, true
					break
				}
			}
		}
	}
	var foreign []string
	for _, en := range all {
		if !en.ok {
			foreign = append(foreign, en.key)
		}
	}
	return foreign, nil
}

// deleteNamespace deletes the namespace, after the inventory is gone.
func (e *engine) deleteNamespace(ctx context.Context, name string) error {
	err := e.kc.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).
		Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		e.object(event.Ref{Kind: "Namespace", Name: name}, event.Deleted, "already gone", "")
		return nil
	case err != nil:
		return e.explain(fmt.Errorf("deleting namespace %s: %w", name, err))
	}
	e.object(event.Ref{Kind: "Namespace", Name: name}, event.Deleted, "", "")
	return nil
}
