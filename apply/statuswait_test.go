package apply_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
)

// waitStatusUntilNotFound starts status --wait on objs (none of which
// exist yet) and returns once the wait has reported name NotFound, with a
// channel for how the wait ends.
func waitStatusUntilNotFound(e *env, objs []*unstructured.Unstructured, name string, timeout time.Duration) <-chan waitResult {
	e.t.Helper()
	seen := make(chan struct{})
	var once sync.Once
	sink := func(ev event.Event) {
		if ev.Status != nil && ev.Status.Ref.Name == name && ev.Status.Status == event.StatusNotFound {
			once.Do(func() { close(seen) })
		}
	}
	done := make(chan waitResult, 1)
	go func() {
		s, err := apply.WaitStatus(context.Background(), e.kc, objs, apply.StatusOptions{Namespace: e.ns, Timeout: timeout}, sink)
		done <- waitResult{s, err, time.Now()}
	}()
	select {
	case <-seen:
	case res := <-done:
		e.t.Fatalf("status --wait ended before reporting %s NotFound: %v %+v", name, res.err, res.s)
	}
	return done
}

type waitResult struct {
	s   *event.Summary
	err error
	at  time.Time
}

// The GitOps case: status -k DIR --wait starts before Argo CD or Flux
// has applied the set. Objects not there yet are waited for (they were
// never seen, so they did not vanish), and the wait succeeds once they
// are created and ready.
func TestWaitStatusWaitsForObjectsNotCreatedYet(t *testing.T) {
	e := newEnv(t)
	objs := []*unstructured.Unstructured{secret(t, "cpu-cloudinit", "x"), vm(t, "cpu-1")}
	done := waitStatusUntilNotFound(e, objs, "cpu-1", 40*time.Second)
	// As kubectl apply would, a moment later.
	for _, o := range objs {
		o := o.DeepCopy()
		o.SetNamespace(e.ns)
		gvr := secretsGVR
		if o.GetKind() == "VirtualMachine" {
			gvr = vmsGVR
		}
		if _, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res := <-done
	if res.s == nil || res.s.Outcome != event.Succeeded || apply.ExitCode(res.s, res.err) != apply.ExitOK {
		t.Fatalf("outcome %+v, err %v (exit %d), want success once the objects were created", res.s, res.err, apply.ExitCode(res.s, res.err))
	}
	if len(res.s.VMs) != 1 || res.s.VMs[0].Status != event.VMReady || res.s.VMs[0].TimeToReady <= 0 {
		t.Errorf("VMs %+v, want cpu-1 Ready with its time to Ready", res.s.VMs)
	}
}

// Objects that are never created: the wait runs until --timeout and ends
// timed out (exit 4), naming them as not found; not as failed.
func TestWaitStatusTimesOutOnObjectsNeverCreated(t *testing.T) {
	e := newEnv(t)
	objs := []*unstructured.Unstructured{secret(t, "cpu-cloudinit", "x"), vm(t, "cpu-1")}
	start := time.Now()
	res := <-waitStatusUntilNotFound(e, objs, "cpu-1", 2*time.Second)
	if took := res.at.Sub(start); took < 2*time.Second {
		t.Errorf("the wait ended after %s, before --timeout 2s", took)
	}
	if res.s == nil || res.s.Outcome != event.TimedOut || apply.ExitCode(res.s, res.err) != apply.ExitTimeout {
		t.Fatalf("outcome %+v, err %v (exit %d), want timed out, exit %d", res.s, res.err, apply.ExitCode(res.s, res.err), apply.ExitTimeout)
	}
	var named []string
	for _, p := range res.s.Problems {
		if p.Result == "timed-out" && strings.Contains(p.Reason, "not created yet") {
			named = append(named, p.Ref.Kind+"/"+p.Ref.Name)
		}
	}
	if strings.Join(named, ",") != "Secret/cpu-cloudinit,VirtualMachine/cpu-1" {
		t.Errorf("problems %+v, want both objects timed out as not found", res.s.Problems)
	}
}

// An object seen during the wait and then deleted still ends the wait at
// once, as a failure: waiting for it cannot end well.
func TestWaitStatusFailsFastWhenAnObjectSeenVanishes(t *testing.T) {
	e := newEnv(t)
	stuck := vm(t, "stuck-1", "sim.virtwork.io/fault", "never-ready")
	e.applyOK([]*unstructured.Unstructured{stuck}, apply.Options{NoWait: true})
	seen := make(chan struct{})
	var once sync.Once
	sink := func(ev event.Event) {
		if ev.Status != nil && ev.Status.Ref.Name == "stuck-1" && ev.Status.Status == event.StatusInProgress {
			once.Do(func() { close(seen) })
		}
	}
	done := make(chan waitResult, 1)
	go func() {
		s, err := apply.WaitStatus(context.Background(), e.kc, []*unstructured.Unstructured{stuck}, apply.StatusOptions{Namespace: e.ns, Timeout: 40 * time.Second}, sink)
		done <- waitResult{s, err, time.Now()}
	}()
	<-seen
	if err := e.kc.Dynamic.Resource(vmsGVR).Namespace(e.ns).Delete(context.Background(), "stuck-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	res := <-done
	if took := res.at.Sub(deleted); took > 20*time.Second {
		t.Errorf("status went on waiting %s after the VM was deleted", took)
	}
	if res.s == nil || res.s.Outcome != event.Failure || apply.ExitCode(res.s, res.err) != apply.ExitFailed {
		t.Fatalf("outcome %+v, err %v, want a failure, exit %d", res.s, res.err, apply.ExitFailed)
	}
}

// A --selector that matches nothing is refused, naming it, like an empty
// -f or -k: a typo must not pass a CI gate as "0 objects, all ready".
func TestStatusRefusesASelectorMatchingNothing(t *testing.T) {
	e := newEnv(t)
	e.applyOK(set(t, 1, "cpu"), apply.Options{NoWait: true})
	sel := labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": "cpuu"})
	for _, objs := range [][]*unstructured.Unstructured{nil, set(t, 1, "cpu")} {
		opts := apply.StatusOptions{Namespace: e.ns, Selector: sel, Timeout: 2 * time.Second}
		if r, err := apply.Status(context.Background(), e.kc, objs, opts); err == nil || !strings.Contains(err.Error(), `--selector "app.kubernetes.io/component=cpuu" matches no`) {
			t.Errorf("status (%d objects given): report %+v, err %v; want a refusal naming the selector", len(objs), r, err)
		}
		if s, err := apply.WaitStatus(context.Background(), e.kc, objs, opts, func(event.Event) {}); err == nil || !strings.Contains(err.Error(), "matches no") {
			t.Errorf("status --wait (%d objects given): %+v, err %v; want a refusal", len(objs), s, err)
		}
	}
}
