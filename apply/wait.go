package apply

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	pollevent "sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
)

// unwatchedKinds are ready as soon as they exist, so waiting on them would
// only cost a watch (and, for Secrets, a cache of their contents).
var unwatchedKinds = map[schema.GroupKind]bool{
	{Kind: "Secret"}: true, {Kind: "ConfigMap"}: true, {Kind: "Service"}: true, {Kind: "ServiceAccount"}: true,
}

func watched(id object.ObjMetadata) bool { return !unwatchedKinds[id.GroupKind] }

// target is one object being waited for.
type target struct {
	// gone: wait until it no longer exists (pruned or destroyed);
	// otherwise until Current or Failed.
	gone bool
	// active: counted by the wait (cleared for objects whose apply or
	// delete failed or was skipped).
	active          bool
	status, message string
	done            bool
	// vanished: to be applied, but deleted during the wait (done).
	vanished bool
	// seen: the wait has seen it exist.
	seen bool
}

// waiter follows the status watcher's events for a set of objects from
// before they are applied, so that status changes (and each VM's time to
// Ready) are seen as they happen, and reports when every active target is
// done.
type waiter struct {
	e       *engine
	waitFor kvstatus.WaitFor
	mu      sync.Mutex
	targets map[object.ObjMetadata]*target
	pending int           // active targets not done
	changed chan struct{} // signalled when pending may have dropped
	err     error         // a fatal watch error
	synced  bool          // the watch's first LIST has been reported
	// awaitCreation: objects not there yet are waited for until they
	// appear (status --wait, of a set someone else applies); otherwise
	// (apply) an object not found was deleted after its apply.
	awaitCreation bool
	cancel        context.CancelFunc
	stopped       chan struct{}
}

// startWaiter starts watching ids (objects to apply) and gone (objects to
// delete), namespace-scoped so that namespace-bound RBAC suffices. With
// awaitCreation (status --wait), ids need not exist yet: each is waited
// for until it appears, whatever its kind, and fails fast only if it
// vanishes after the wait saw it.
func (e *engine) startWaiter(ctx context.Context, waitFor kvstatus.WaitFor, ids, gone object.ObjMetadataSet, awaitCreation bool) *waiter {
	ctx, cancel := context.WithCancel(ctx)
	w := &waiter{e: e, waitFor: waitFor, targets: map[object.ObjMetadata]*target{}, awaitCreation: awaitCreation,
		changed: make(chan struct{}, 1), cancel: cancel, stopped: make(chan struct{})}
	var all object.ObjMetadataSet
	for _, id := range ids {
		if watched(id) || awaitCreation {
			w.targets[id] = &target{active: true}
			all = append(all, id)
		}
	}
	for _, id := range gone {
		if watched(id) {
			w.targets[id] = &target{gone: true, active: true}
			all = append(all, id)
		}
	}
	w.pending = len(w.targets)
	if len(all) == 0 {
		close(w.stopped)
		return w
	}
	sw := watcher.NewDefaultStatusWatcher(e.kc.Dynamic, e.kc.Mapper)
	sw.StatusReader = kvstatus.NewStatusReader(e.kc.Mapper, waitFor)
	events := sw.Watch(ctx, all, watcher.Options{RESTScopeStrategy: watcher.RESTScopeNamespace})
	go func() {
		defer close(w.stopped)
		for ev := range events {
			switch ev.Type {
			case pollevent.ErrorEvent:
				w.mu.Lock()
				if w.err == nil && ctx.Err() == nil {
					w.err = e.explain(fmt.Errorf("watching status: %w", ev.Error))
				}
				w.mu.Unlock()
				w.signal()
			case pollevent.SyncEvent:
				w.mu.Lock()
				w.synced = true
				w.mu.Unlock()
				go w.resolveMissing(ctx)
			case pollevent.ResourceUpdateEvent:
				w.update(ev.Resource, false)
			}
		}
	}()
	return w
}

func (w *waiter) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// resolveMissing settles the targets the watch's first LIST did not
// report: the watch says nothing about objects that are not there, so
// objects that a fresh LIST no longer finds are gone (to be deleted),
// vanished (applied, then deleted by someone else) or, with
// awaitCreation, not created yet. (Objects the LIST finds are in the
// watch too, and their events follow.)
func (w *waiter) resolveMissing(ctx context.Context) {
	w.mu.Lock()
	var missing object.ObjMetadataSet
	for id, t := range w.targets {
		if t.status == "" {
			missing = append(missing, id)
		}
	}
	w.mu.Unlock()
	if len(missing) == 0 {
		return
	}
	lives, err := w.e.listLive(ctx, missing[0].Namespace, groupKinds(missing))
	if err != nil {
		w.mu.Lock()
		if w.err == nil && ctx.Err() == nil {
			w.err = err
		}
		w.mu.Unlock()
		w.signal()
		return
	}
	for _, id := range missing {
		if _, there := lives[id]; !there {
			w.update(&pollevent.ResourceStatus{Identifier: id, Status: status.NotFoundStatus, Message: "gone"}, true)
		}
	}
}

// update records a status from the watch. With ifUnknown it applies only
// if the watch has said nothing about the object yet.
func (w *waiter) update(rs *pollevent.ResourceStatus, ifUnknown bool) {
	now := time.Now()
	w.mu.Lock()
	t, ok := w.targets[rs.Identifier]
	if !ok || ifUnknown && t.status != "" {
		w.mu.Unlock()
		return
	}
	st, msg := string(rs.Status), rs.Message
	if rs.Error != nil {
		st, msg = event.StatusUnknown, rs.Error.Error()
	}
	switch {
	case t.gone:
	case rs.Status != status.NotFoundStatus:
		t.seen = true
	case w.awaitCreation && !t.seen:
		// Not applied yet (Argo CD or Flux has not synced): wait.
		msg = "not created yet"
	default:
		// Applied (or seen), then deleted: waiting for it cannot end
		// well.
		t.vanished, msg = true, "deleted during the wait (by someone else, or with its namespace)"
	}
	changed := st != t.status || msg != t.message
	t.status, t.message = st, msg
	var done bool
	if t.gone {
		done = rs.Status == status.NotFoundStatus
	} else {
		done = rs.Status == status.CurrentStatus || rs.Status == status.FailedStatus || t.vanished
	}
	if done != t.done {
		t.done = done
		if t.active {
			if done {
				w.pending--
			} else {
				w.pending++
			}
		}
	}
	synced := w.synced
	w.mu.Unlock()

	var workload, role string
	if isVM(rs.Identifier) {
		workload, role = w.e.trackVM(rs, now, synced)
	}
	if changed {
		w.e.emit(event.Event{Time: now, Type: event.TypeStatus, Status: &event.Status{
			Ref: refOf(rs.Identifier), Status: st, Message: msg, Workload: workload, Role: role,
		}})
	}
	w.signal()
}

// trackVM records when a VM's Ready and AgentConnected conditions became
// True: when the watch reported the change, or, for a VM already so in the
// watch's first LIST, the condition's lastTransitionTime (whole seconds),
// kept between the VM's apply and now.
func (e *engine) trackVM(rs *pollevent.ResourceStatus, now time.Time, synced bool) (string, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	vm, ok := e.vms[rs.Identifier]
	if !ok {
		return "", ""
	}
	if rs.Resource != nil && !vm.seen {
		vm.seen = true
		_, vm.readyAtFirstSight = conditionTrueSince(rs.Resource, "Ready")
	}
	if rs.Resource != nil {
		if vm.workload == "" && vm.role == "" {
			// A VM status --wait saw created (by someone else).
			l := rs.Resource.GetLabels()
			vm.workload, vm.role = l[WorkloadLabel], l[RoleLabel]
		}
		if vm.fromCreation && vm.applied.IsZero() {
			vm.applied = rs.Resource.GetCreationTimestamp().Time
		}
		seen := func(typ string) time.Time {
			since, ok := conditionTrueSince(rs.Resource, typ)
			if !ok {
				return time.Time{}
			}
			if synced || since.IsZero() {
				return now
			}
			if since.Before(vm.applied) {
				since = vm.applied
			}
			if since.After(now) {
				since = now
			}
			return since
		}
		if vm.ready.IsZero() {
			vm.ready = seen("Ready")
		}
		if vm.agent.IsZero() {
			vm.agent = seen("AgentConnected")
		}
	}
	vm.message = rs.Message
	return vm.workload, vm.role
}

// conditionTrueSince reports whether condition typ is True, and since when
// (zero if the condition has no lastTransitionTime).
func conditionTrueSince(u *unstructured.Unstructured, typ string) (time.Time, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != typ {
			continue
		}
		if m["status"] != "True" {
			return time.Time{}, false
		}
		ts, _ := m["lastTransitionTime"].(string)
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			return time.Time{}, true
		}
		return t, true
	}
	return time.Time{}, false
}

// wait blocks until every active target is done, the deadline passes, the
// context ends or the watch fails. It returns whether it timed out.
func (w *waiter) wait(ctx context.Context, deadline time.Time) (bool, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		w.mu.Lock()
		pending, err := w.pending, w.err
		w.mu.Unlock()
		switch {
		case err != nil:
			return false, err
		case pending <= 0:
			return false, nil
		}
		select {
		case <-w.changed:
		case <-timer.C:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// stop ends the watch.
func (w *waiter) stop() {
	w.cancel()
	<-w.stopped
}

// unfinished lists the active targets not done, with their last status.
func (w *waiter) unfinished() map[object.ObjMetadata]target {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[object.ObjMetadata]target{}
	for id, t := range w.targets {
		if t.active && !t.done {
			out[id] = *t
		}
	}
	return out
}

// result is a target's final state.
func (w *waiter) result(id object.ObjMetadata) (target, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.targets[id]
	if !ok {
		return target{}, false
	}
	return *t, true
}
