package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	invClient := inventory.NewClient(kc.Dynamic, inv)
	ids, exists, err := invClient.Load(ctx)
	if err != nil {
		return nil, e.explain(err)
	}
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
	if ctx.Err() != nil {
		return e.finish(ctx, ctx.Err(), false), ctx.Err()
	}
	// Watched after the deletes, as in Apply: objects gone by then are
	// NotFound in the first LIST.
	var w *waiter
	if len(res.accepted) > 0 {
		w = e.startWaiter(ctx, kvstatus.WaitForReady, nil, res.accepted)
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

// foreignKinds are the kinds namespaceIsOurs looks through for objects
// that are not the instance's: what a user or another virtwork instance
// would keep next to it. Kinds the cluster does not serve are passed over.
var foreignKinds = []schema.GroupKind{
	{Kind: "ConfigMap"}, {Kind: "Secret"}, {Kind: "Service"}, {Kind: "PersistentVolumeClaim"}, {Kind: "Pod"},
	{Group: "apps", Kind: "Deployment"}, {Group: "apps", Kind: "StatefulSet"},
	{Group: "kubevirt.io", Kind: "VirtualMachine"}, {Group: "kubevirt.io", Kind: "VirtualMachineInstance"},
	{Group: "cdi.kubevirt.io", Kind: "DataVolume"},
}

// namespaceIsOurs checks that --delete-namespace would delete nothing but
// the instance: the namespace was created by virtwork (render's labels),
// and it holds no object outside the inventory except dependents (objects
// with an owner, such as a VM's VMI and DataVolumes, which go with their
// owner) and the kube-root-ca.crt ConfigMap Kubernetes puts in every
// namespace.
func (e *engine) namespaceIsOurs(ctx context.Context, inv inventory.Inventory, ids object.ObjMetadataSet) error {
	ns, err := e.kc.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, inv.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return e.explain(fmt.Errorf("reading namespace %s: %w", inv.Namespace, err))
	}
	if ns.Labels["app.kubernetes.io/managed-by"] != FieldManager {
		return fmt.Errorf("--delete-namespace: namespace %s was not created by virtwork (no label app.kubernetes.io/managed-by=virtwork); delete it yourself, or destroy without --delete-namespace", inv.Namespace)
	}
	var kinds []schema.GroupKind
	for _, gk := range foreignKinds {
		if _, err := e.mapping(gk, ""); err == nil {
			kinds = append(kinds, gk)
		}
	}
	lives, err := e.listLive(ctx, inv.Namespace, kinds)
	if err != nil {
		return err
	}
	ours := map[object.ObjMetadata]bool{}
	for _, id := range ids {
		ours[id] = true
	}
	var foreign []string
	for id, l := range lives {
		switch {
		case ours[id], len(l.OwnerReferences) > 0,
			id.GroupKind.Kind == "ConfigMap" && (id.Name == "kube-root-ca.crt" || id.Name == inv.ConfigMapName()):
			continue
		}
		foreign = append(foreign, id.GroupKind.Kind+"/"+id.Name)
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
