package apply

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/cli-utils/pkg/object/dependson"
	"sigs.k8s.io/cli-utils/pkg/object/graph"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// Apply puts objs on the cluster as instance opts.Name in opts.Namespace:
// it records them in the inventory, server-side applies them (objects that
// another inventory or nobody owns are skipped unless opts.Adopt), deletes
// what an earlier apply recorded and objs no longer contain, and waits until
// the VMs are ready (opts.WaitFor), failed, or opts.Timeout passes.
//
// Progress goes to sink. The returned Summary is nil only when the run
// could not start (bad input, no cluster, no permission: the error says);
// otherwise it says how the run ended, also when err is not nil.
func Apply(ctx context.Context, kc *kube.Client, objs []*unstructured.Unstructured, opts Options, sink event.Sink) (*event.Summary, error) {
	opts.defaults()
	inv, err := inventory.New(opts.Name, opts.Namespace)
	if err != nil {
		return nil, err
	}
	e := newEngine(kc, event.CommandApply, opts.DryRun, sink)
	nsObj, items, err := e.prepare(objs, inv.Namespace)
	if err != nil {
		return nil, err
	}
	if err := inv.CheckFits(idsOf(items)); err != nil {
		return nil, err
	}
	if err := e.ensureNamespace(ctx, nsObj, inv, opts); err != nil {
		return nil, err
	}
	if !opts.DryRun {
		lease, leaseCtx, err := e.acquire(ctx, inv, opts.LeaseDuration)
		if err != nil {
			return nil, err
		}
		defer lease.Release()
		ctx = leaseCtx
	}

	invClient := inventory.NewClient(kc.Dynamic, inv)
	prev, _, err := invClient.Load(ctx)
	if err != nil {
		return nil, e.explain(err)
	}
	prev, badEntries := e.usableEntries(inv, invClient, prev)
	desired := make(object.ObjMetadataSet, len(items))
	for i, it := range items {
		desired[i] = it.id
	}
	toPrune := prev.Diff(desired)
	lives, err := e.listLive(ctx, inv.Namespace, groupKinds(desired, toPrune))
	if err != nil {
		return nil, err
	}

	// Ownership first, so that Init's totals are right and skipped
	// objects never enter the inventory.
	policy := cliinv.PolicyMustMatch
	if opts.Adopt {
		policy = cliinv.PolicyAdoptAll
	}
	info := inv.Info()
	var apply []*item
	type skip struct {
		id    object.ObjMetadata
		owner string
	}
	var skipped []skip
	for _, it := range items {
		if l, ok := lives[it.id]; ok {
			if can, _ := cliinv.CanApply(info, annotationsOnly(l), policy); !can {
				skipped = append(skipped, skip{it.id, l.Annotations[cliinv.OwningInventoryKey]})
				continue
			}
		}
		apply = append(apply, it)
	}
	vmCount := 0
	for _, it := range items {
		if isVM(it.id) {
			vmCount++
			e.vms[it.id] = &vmState{ref: refOf(it.id), workload: it.obj.GetLabels()[WorkloadLabel], role: it.obj.GetLabels()[RoleLabel]}
		}
	}
	nsCount := 0
	if nsObj != nil {
		nsCount = 1
	}
	wait := !opts.NoWait && !opts.DryRun
	e.emit(event.Event{Type: event.TypeInit, Init: &event.Init{
		Command: event.CommandApply, DryRun: opts.DryRun, Name: inv.Name, Namespace: inv.Namespace, InventoryID: inv.ID(),
		Objects: len(items) + nsCount, VMs: vmCount, Prune: len(toPrune), Wait: wait,
	}})
	if nsObj != nil {
		e.object(event.Ref{Kind: "Namespace", Name: inv.Namespace}, e.nsResult, e.nsReason, "")
	}
	e.reportBadEntries(inv, badEntries)
	for _, s := range skipped {
		e.skipOwned(s.id, s.owner)
	}

	// Record the union of old and new before touching anything, so that
	// an interrupted run leaves an inventory that covers every object it
	// may have created (the Applier's InvAddTask does the same).
	applyIDs := make(object.ObjMetadataSet, len(apply))
	for i, it := range apply {
		applyIDs[i] = it.id
	}
	// recorded is what the inventory holds as this run last read or wrote
	// it; every write is a compare-and-swap against that version.
	recorded := prev
	if !opts.DryRun {
		merged := prev.Union(applyIDs)
		if err := inv.CheckFits(merged); err != nil {
			// What the last apply recorded and the new set, together.
			err = fmt.Errorf("%w; or destroy the instance first", err)
			return e.finish(ctx, err, false), err
		}
		if !merged.Equal(prev) || len(badEntries) > 0 {
			if err := invClient.Save(ctx, merged); err != nil {
				return e.finish(ctx, e.explain(err), false), e.explain(err)
			}
			recorded = merged
		}
	}

	groups, err := applyGroups(apply)
	if err != nil {
		return e.finish(ctx, err, false), err
	}
	var runErr error
	var runErrOnce sync.Once
	failRun := func(err error) { runErrOnce.Do(func() { runErr = err }) }
	applyCtx, cancelApply := context.WithCancel(ctx)
	defer cancelApply()
	// failed: the apply call failed; lost: another instance claimed the
	// object first (it is not recorded in the end).
	failed, lost := map[object.ObjMetadata]bool{}, map[object.ObjMetadata]bool{}
	var failedMu sync.Mutex
	for _, group := range groups {
		forEach(applyCtx, opts.Workers, len(group), func(ctx context.Context, i int) {
			it := group[i]
			if opts.DryRun && e.nsResult == event.Created {
				// The namespace does not exist yet, so the server
				// cannot dry-run objects in it.
				e.object(refOf(it.id), event.Created, "dry run; not validated: the namespace does not exist yet", "")
				return
			}
			result, owner, err := e.applyOne(ctx, it, lives[it.id], inv, policy, opts)
			if result == event.Skipped {
				failedMu.Lock()
				lost[it.id] = true
				failedMu.Unlock()
				e.skipOwned(it.id, owner)
				return
			}
			if err != nil {
				if fatal(e.explain(err)) {
					failRun(e.explain(err))
					cancelApply()
				}
				failedMu.Lock()
				failed[it.id] = true
				failedMu.Unlock()
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return
				}
				e.object(refOf(it.id), event.Failed, e.explain(err).Error(), "")
				e.markVM(it.id, event.VMFailed, e.explain(err).Error())
				return
			}
			e.mu.Lock()
			if vm, ok := e.vms[it.id]; ok {
				vm.applied = time.Now()
				vm.created = result == event.Created
			}
			e.mu.Unlock()
			reason := ""
			if opts.DryRun {
				reason = "dry run"
			}
			e.object(refOf(it.id), result, reason, "")
		})
		if applyCtx.Err() != nil {
			break
		}
	}
	if runErr == nil && ctx.Err() != nil {
		runErr = ctx.Err()
	}
	if runErr != nil {
		// Objects not reached were never applied; the merged inventory
		// still covers everything that may exist.
		return e.finish(ctx, runErr, false), runErr
	}

	claimed := slices.DeleteFunc(slices.Clone(applyIDs), func(id object.ObjMetadata) bool { return lost[id] })

	// Prune what left the set, VMs first (reverse of apply order).
	pruned := e.deleteAll(ctx, inv, toPrune, lives, cliinv.PolicyMustMatch, opts.Workers, opts.DryRun, event.Pruned, wait)
	if pruned.err != nil {
		return e.finish(ctx, pruned.err, false), pruned.err
	}
	if ctx.Err() != nil {
		return e.finish(ctx, ctx.Err(), false), ctx.Err()
	}

	// Watch from here rather than from before the apply: decoding the
	// watch events of a thousand VMs being created and booted would slow
	// the apply calls down (measured: 3.5 s instead of 2.5 s for 1,000
	// VMs on two cores). What happened meanwhile comes with the first
	// LIST, and VMs already Ready then get their Ready time from the
	// condition (see trackVM); pruned objects already gone are NotFound.
	var w *waiter
	if wait {
		var targets object.ObjMetadataSet
		for _, id := range claimed {
			if !failed[id] {
				targets = append(targets, id)
			}
		}
		w = e.startWaiter(ctx, opts.WaitFor, targets, pruned.accepted, false)
		defer w.stop()
	}

	timedOut := false
	if w != nil {
		timedOut, err = w.wait(ctx, time.Now().Add(opts.Timeout))
		if err != nil {
			return e.finish(ctx, err, false), err
		}
		e.recordWaitResults(w, timedOut)
		e.readPhases(ctx, inv, opts.WaitFor)
		if err := e.namespaceVanished(ctx, w, inv.Namespace); err != nil {
			return e.finish(ctx, err, timedOut), err
		}
	} else {
		e.mu.Lock()
		for _, vm := range e.vms {
			if vm.status == "" {
				vm.status = event.VMNotWaited
			}
		}
		e.mu.Unlock()
	}

	if !opts.DryRun {
		// Keep in the inventory what was applied (or attempted: a failed
		// apply may still have created the object) and what was to be
		// pruned but may still exist.
		// Never re-read here: a write by anyone else since this run's
		// last one must fail (Save's compare-and-swap), not be overwritten.
		final := claimed.Union(stillThere(pruned.remaining, w))
		if !final.Equal(recorded) {
			if err := invClient.Save(ctx, final); err != nil {
				return e.finish(ctx, e.explain(err), timedOut), e.explain(err)
			}
		}
	}
	return e.finish(ctx, nil, timedOut), nil
}

// within reports whether every key of a is in b with the same value.
func within(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// idsOf lists the ids of items.
func idsOf(items []*item) object.ObjMetadataSet {
	ids := make(object.ObjMetadataSet, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	return ids
}

// ensureNamespace creates the Namespace object, if the set has one and the
// namespace does not exist, marked as created by this instance
// (inventory.CreatedByAnnotation). A namespace that exists already is
// server-side applied only if virtwork created it; one that existed before
// virtwork is left exactly as it is, so it never takes virtwork's labels
// and destroy --delete-namespace never deletes it. A user whose RBAC covers
// only the namespace may not touch the Namespace object; then it is left as
// it is (the inventory write that follows fails clearly if the namespace
// does not exist).
func (e *engine) ensureNamespace(ctx context.Context, ns *unstructured.Unstructured, inv inventory.Inventory, opts Options) error {
	if ns == nil {
		return nil
	}
	client := e.kc.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	var dryRun []string
	if opts.DryRun {
		dryRun = []string{metav1.DryRunAll}
	}
	before, getErr := client.Get(ctx, ns.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(getErr):
		e.nsResult = event.Unchanged
		return nil
	case apierrors.IsNotFound(getErr):
		// Create, not apply: if someone creates it meanwhile, the create
		// fails rather than taking their namespace over.
		obj := ns.DeepCopy()
		unstructured.RemoveNestedField(obj.Object, "metadata", "resourceVersion")
		annotations := obj.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[inventory.CreatedByAnnotation] = inv.ID()
		obj.SetAnnotations(annotations)
		_, err := client.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager, DryRun: dryRun})
		switch {
		case apierrors.IsAlreadyExists(err):
			e.nsResult, e.nsReason = event.Unchanged, "created by someone else meanwhile: left as it is"
			return nil
		case err != nil:
			return e.explain(fmt.Errorf("creating Namespace %s: %w", ns.GetName(), err))
		}
		e.nsResult = event.Created
		return nil
	case getErr != nil:
		return e.explain(fmt.Errorf("reading Namespace %s: %w", ns.GetName(), getErr))
	case before.GetDeletionTimestamp() != nil:
		return fmt.Errorf("namespace %s is being deleted: wait until it is gone, then apply again", ns.GetName())
	case before.GetAnnotations()[inventory.CreatedByAnnotation] == "":
		e.nsResult, e.nsReason = event.Unchanged, "existed before virtwork: left as it is"
		return nil
	}
	// Created by virtwork: keep it as the set says (its labels may change).
	obj := ns.DeepCopy()
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[inventory.CreatedByAnnotation] = before.GetAnnotations()[inventory.CreatedByAnnotation]
	obj.SetAnnotations(annotations)
	if _, hasSpec := obj.Object["spec"]; !hasSpec && within(obj.GetLabels(), before.GetLabels()) && within(annotations, before.GetAnnotations()) {
		// Nothing to change; an apply would still add virtwork's apply
		// entry to the managed fields of a namespace it created.
		e.nsResult = event.Unchanged
		return nil
	}
	after, err := client.Apply(ctx, ns.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: opts.ForceConflicts, DryRun: dryRun})
	switch {
	case apierrors.IsForbidden(err):
		e.nsResult = event.Unchanged
	case err != nil:
		return e.explain(fmt.Errorf("applying Namespace %s: %w", ns.GetName(), err))
	case before.GetResourceVersion() == after.GetResourceVersion():
		e.nsResult = event.Unchanged
	default:
		e.nsResult = event.Configured
	}
	return nil
}

// fieldManager is the instance's server-side apply field manager. Each
// instance has its own, so that the owning-inventory annotation one instance
// set is a field another instance cannot change without a conflict: which
// instance claims an object is decided by the API server, in the same
// compare-and-swap that writes the object (a concurrent create turns into an
// update that sees the other's fields).
func fieldManager(inv inventory.Inventory) string { return FieldManager + "-" + inv.Name }

// applyOne server-side applies one object, marked as owned by the
// inventory, and says whether that created, changed or left it alone, or
// skipped it because another inventory (or none) owns it.
//
// The first attempt never forces. On a conflict the object is read again:
// if it is not this instance's to take (policy), it is skipped, naming the
// owner; otherwise the fields are taken over with a forced apply that
// carries the resourceVersion just read, so that it fails, and the check is
// made again, if the object changed (was claimed) in between.
func (e *engine) applyOne(ctx context.Context, it *item, l *live, inv inventory.Inventory, policy cliinv.Policy, opts Options) (event.Result, string, error) {
	obj := it.obj.DeepCopy()
	// Fields the server sets would make apply fail or conflict, if the
	// set came from `kubectl get -o yaml`.
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(obj.Object, "status")
	info := inv.Info()
	cliinv.AddInventoryIDAnnotation(obj, info)
	ao := metav1.ApplyOptions{FieldManager: fieldManager(inv)}
	if opts.DryRun {
		ao.DryRun = []string{metav1.DryRunAll}
	}
	client := e.kc.Dynamic.Resource(it.gvr).Namespace(it.id.Namespace)
	before := "" // resourceVersion before the apply; "" if it did not exist
	if l != nil {
		before = l.ResourceVersion
	}
	var lastErr error
	for range 5 {
		out, err := client.Apply(ctx, it.id.Name, obj, ao)
		if err == nil {
			switch {
			case before == "":
				return event.Created, "", nil
			case out.GetResourceVersion() == before:
				return event.Unchanged, "", nil
			}
			return event.Configured, "", nil
		}
		if !apierrors.IsConflict(err) {
			return "", "", err
		}
		lastErr = err
		cur, gerr := client.Get(ctx, it.id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			// Deleted meanwhile: create it afresh.
			obj.SetResourceVersion("")
			ao.Force = false
			continue
		}
		if gerr != nil {
			return "", "", gerr
		}
		if can, _ := cliinv.CanApply(info, cur, policy); !can {
			return event.Skipped, cur.GetAnnotations()[cliinv.OwningInventoryKey], nil
		}
		if !ao.Force && !opts.ForceConflicts {
			if others := foreignManagers(err, cur); len(others) > 0 {
				return "", "", fmt.Errorf("%w (another field manager owns these fields: use --force-conflicts to take them)", err)
			}
		}
		ao.Force = true
		obj.SetResourceVersion(cur.GetResourceVersion())
		before = cur.GetResourceVersion()
	}
	return "", "", fmt.Errorf("%s kept changing under this run (%v): apply again", refOf(it.id), lastErr)
}

// conflictWith finds the field managers in a server-side apply conflict
// message (`conflict with "virtwork-a" using v1: .spec.x`).
var conflictWith = regexp.MustCompile(`conflicts? with "([^"]*)"`)

// foreignManagers lists the field managers in a conflict error that are not
// virtwork's applies to cur (another instance's, or the "virtwork" manager
// of versions before per-instance managers). An update under virtwork's
// name (its user agent: a create or edit through the same client) is
// foreign.
func foreignManagers(err error, cur *unstructured.Unstructured) []string {
	applied := map[string]bool{}
	for _, mf := range cur.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply &&
			(mf.Manager == FieldManager || strings.HasPrefix(mf.Manager, FieldManager+"-")) {
			applied[mf.Manager] = true
		}
	}
	var out []string
	found := false
	for _, m := range conflictWith.FindAllStringSubmatch(err.Error(), -1) {
		found = true
		if !applied[m[1]] {
			out = append(out, m[1])
		}
	}
	if !found {
		return []string{"unknown"}
	}
	return out
}

// skipOwned reports an object another inventory (or none) owns.
func (e *engine) skipOwned(id object.ObjMetadata, owner string) {
	e.object(refOf(id), event.Skipped, "owned by "+inventory.Owner(owner)+" (use --adopt to take it over)", owner)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.skippedOwned++
	if vm, ok := e.vms[id]; ok {
		vm.skipped, vm.status, vm.message = true, event.VMSkipped, "owned by "+inventory.Owner(owner)
	}
}

// acquire takes the instance's lease (see inventory.Acquire).
func (e *engine) acquire(ctx context.Context, inv inventory.Inventory, d time.Duration) (*inventory.Held, context.Context, error) {
	cc, err := coordclient.NewForConfig(e.kc.Config)
	if err != nil {
		return nil, nil, err
	}
	h, leaseCtx, err := inventory.Acquire(ctx, cc, inv, d)
	if err != nil {
		var inUse *inventory.InUseError
		if errors.As(err, &inUse) {
			return nil, nil, err
		}
		return nil, nil, e.explain(err)
	}
	return h, leaseCtx, nil
}

func (e *engine) markVM(id object.ObjMetadata, status, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if vm, ok := e.vms[id]; ok {
		vm.status, vm.message = status, msg
	}
}

// recordWaitResults turns the waiter's end state into VM statuses and
// problems.
func (e *engine) recordWaitResults(w *waiter, timedOut bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, vm := range e.vms {
		if vm.status != "" { // skipped or failed to apply
			continue
		}
		t, ok := w.result(id)
		switch {
		case !ok:
		case t.done && t.status == event.StatusCurrent:
			vm.status = event.VMReady
		case t.done && (t.status == event.StatusFailed || t.vanished):
			vm.status, vm.message = event.VMFailed, t.message
		case timedOut:
			vm.status, vm.message = event.VMTimedOut, t.message
		}
	}
	for id, t := range w.unfinished() {
		reason := "timed out"
		if t.message != "" {
			reason += ": " + t.message
		} else if t.status != "" {
			reason += " (status " + t.status + ")"
		}
		e.summary.Problems = append(e.summary.Problems, event.Problem{Ref: refOf(id), Result: "timed-out", Reason: reason})
	}
	// Failed objects other than VMs (a DataVolume) are problems too; so is
	// any object that vanished during the wait.
	for id, t := range w.targets {
		if t.active && t.done && (t.status == event.StatusFailed || t.vanished) {
			if _, isVM := e.vms[id]; !isVM || t.vanished {
				e.summary.Problems = append(e.summary.Problems, event.Problem{Ref: refOf(id), Result: "failed", Reason: t.message})
				e.summary.Counts[event.Failed]++
			}
		}
	}
}

// applyGroups orders the objects: by depends-on annotations (cli-utils'
// graph sort) when any object has one; otherwise everything but the VMs
// first (Secrets the VMs boot from, Services), then the VMs. Within a group
// the objects are applied concurrently.
func applyGroups(items []*item) ([][]*item, error) {
	hasDeps := false
	for _, it := range items {
		if _, ok := it.obj.GetAnnotations()[dependson.Annotation]; ok {
			hasDeps = true
			break
		}
	}
	if hasDeps {
		objs := make(object.UnstructuredSet, len(items))
		byID := make(map[object.ObjMetadata]*item, len(items))
		for i, it := range items {
			objs[i] = it.obj
			byID[it.id] = it
		}
		sets, err := graph.SortObjs(objs)
		if err != nil {
			return nil, fmt.Errorf("ordering objects: %w", err)
		}
		var groups [][]*item
		for _, s := range sets {
			var g []*item
			for _, o := range s {
				g = append(g, byID[object.UnstructuredToObjMetadata(o)])
			}
			groups = append(groups, g)
		}
		return groups, nil
	}
	var first, vms []*item
	for _, it := range items {
		if isVM(it.id) {
			vms = append(vms, it)
		} else {
			first = append(first, it)
		}
	}
	return slices.DeleteFunc([][]*item{first, vms}, func(g []*item) bool { return len(g) == 0 }), nil
}

// deleted is the outcome of deleteAll.
type deleted struct {
	// remaining are the objects that may still exist and stay recorded.
	remaining object.ObjMetadataSet
	// accepted are the deletions to wait for (when waiting).
	accepted object.ObjMetadataSet
	// err is an error that stopped the deletions (the API server is
	// unreachable, no permission).
	err error
}

// deleteAll deletes ids (VMs and DataVolumes first, then the rest), each
// only if the inventory owns it (policy), with the live UID as a
// precondition so that an object recreated meanwhile by someone else is
// not deleted.
func (e *engine) deleteAll(ctx context.Context, inv inventory.Inventory, ids object.ObjMetadataSet, lives map[object.ObjMetadata]*live,
	policy cliinv.Policy, workers int, dryRun bool, result event.Result, wait bool) deleted {
	info := inv.Info()
	var first, rest object.ObjMetadataSet
	var mu sync.Mutex
	var out deleted
	keep := func(id object.ObjMetadata) {
		mu.Lock()
		out.remaining = append(out.remaining, id)
		mu.Unlock()
	}
	for _, id := range ids {
		l, ok := lives[id]
		if !ok {
			e.object(refOf(id), result, "already gone", "")
			continue
		}
		if can, _ := cliinv.CanPrune(info, annotationsOnly(l), policy); !can {
			// Someone else owns it now: leave it, and forget it.
			owner := l.Annotations[cliinv.OwningInventoryKey]
			e.object(refOf(id), event.Skipped, "not deleted: owned by "+inventory.Owner(owner), owner)
			continue
		}
		if isVM(id) || id.GroupKind == kvstatus.DataVolumeGK {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, group := range []object.ObjMetadataSet{first, rest} {
		forEach(dctx, workers, len(group), func(ctx context.Context, i int) {
			id := group[i]
			skip, owner, err := e.deleteOne(ctx, id, lives[id], info, policy, dryRun)
			switch {
			case skip != "":
				// Replaced or claimed by someone else since it was
				// listed: not ours to delete; forget it.
				e.object(refOf(id), event.Skipped, "not deleted: "+skip, owner)
			case err == nil || apierrors.IsNotFound(err):
				reason := ""
				if dryRun {
					reason = "dry run"
					keep(id)
				} else if wait && watched(id) {
					// Recorded until seen gone.
					keep(id)
					mu.Lock()
					out.accepted = append(out.accepted, id)
					mu.Unlock()
				}
				e.object(refOf(id), result, reason, "")
			default:
				keep(id)
				if ctx.Err() != nil {
					return
				}
				if err := e.explain(err); fatal(err) {
					mu.Lock()
					if out.err == nil {
						out.err = err
					}
					mu.Unlock()
					cancel()
					return
				}
				e.object(refOf(id), event.Failed, "delete: "+e.explain(err).Error(), "")
			}
		})
		if dctx.Err() != nil {
			// Callers return without writing the inventory: objects
			// not reached stay recorded.
			break
		}
	}
	return out
}

// stillThere drops from ids the objects the waiter saw gone.
func stillThere(ids object.ObjMetadataSet, w *waiter) object.ObjMetadataSet {
	if w == nil {
		return ids
	}
	var out object.ObjMetadataSet
	for _, id := range ids {
		if t, ok := w.result(id); ok && t.gone && t.done {
			continue
		}
		out = append(out, id)
	}
	return out
}

// deleteOne deletes one object on the condition that it is still the
// object that was listed (its UID) and still owned by the inventory: the
// delete carries the resourceVersion whose owner was checked, and when the
// object changed meanwhile it is read and checked again. skip says why an
// object was not deleted (replaced, or now owned by someone else).
func (e *engine) deleteOne(ctx context.Context, id object.ObjMetadata, l *live, info cliinv.Info, policy cliinv.Policy, dryRun bool) (skip, owner string, err error) {
	m, err := e.mapping(id.GroupKind, "")
	if err != nil {
		return "", "", err
	}
	client := e.kc.Metadata.Resource(m.Resource).Namespace(id.Namespace)
	uid, rv := types.UID(l.UID), l.ResourceVersion
	// A VM is deleted in the foreground: it stays, Terminating, until the
	// garbage collector has deleted what it owns (the VMI, whose guest
	// must shut down first, and the DataVolumes with their PVCs), so that
	// waiting for the VM to be gone waits for the running guest too.
	propagation := metav1.DeletePropagationBackground
	if isVM(id) {
		propagation = metav1.DeletePropagationForeground
	}
	for range 5 {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}, PropagationPolicy: &propagation}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		err = client.Delete(ctx, id.Name, opts)
		if !apierrors.IsConflict(err) {
			return "", "", err
		}
		cur, gerr := client.Get(ctx, id.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return "", "", nil
		case gerr != nil:
			return "", "", gerr
		case cur.UID != uid:
			return "replaced by another object of the same name", "", nil
		}
		if can, _ := cliinv.CanPrune(info, annotationsOnly(cur), policy); !can {
			owner := cur.Annotations[cliinv.OwningInventoryKey]
			return "owned by " + inventory.Owner(owner), owner, nil
		}
		rv = cur.ResourceVersion
	}
	return "", "", fmt.Errorf("%s kept changing under this run: %w", refOf(id), err)
}
