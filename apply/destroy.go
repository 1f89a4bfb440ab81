package apply

import (
	"context"
	"fmt"
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
