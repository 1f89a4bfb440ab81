package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/invariant"
)

// applyThenDelete starts an apply that waits for a VM that never becomes
// ready, runs del once the wait has seen that VM, and returns how the
// apply ended and how long it took after del.
func applyThenDelete(e *env, del func() error) (*event.Summary, error, time.Duration) {
	e.t.Helper()
	objs := []*unstructured.Unstructured{secret(e.t, "cpu-cloudinit", "x"), vm(e.t, "ok-1"), vm(e.t, "stuck-1", "sim.virtwork.io/fault", "never-ready")}
	waiting := make(chan struct{})
	var closed bool
	r := &recorder{}
	sink := func(ev event.Event) {
		r.sink(ev)
		if ev.Status != nil && ev.Status.Ref.Name == "stuck-1" && !closed {
			closed = true // the sink is serialized
			close(waiting)
		}
	}
	type result struct {
		s   *event.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := apply.Apply(context.Background(), e.kc, objs, apply.Options{Namespace: e.ns, Timeout: 40 * time.Second}, sink)
		done <- result{s, err}
	}()
	select {
	case <-waiting:
	case res := <-done:
		e.t.Fatalf("apply ended before waiting: %v %+v", res.err, res.s)
	}
	if err := del(); err != nil {
		e.t.Fatal(err)
	}
	deleted := time.Now()
	res := <-done
	return res.s, res.err, time.Since(deleted)
}

// An object deleted by someone else while apply waits for it ends the wait
// at once, as a failure naming it, instead of waiting until --timeout.
func TestObjectDeletedDuringTheWaitFailsFast(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	s, err, took := applyThenDelete(e, func() error {
		return e.kc.Dynamic.Resource(vmsGVR).Namespace(e.ns).Delete(context.Background(), "stuck-1", metav1.DeleteOptions{})
	})
	if took > 20*time.Second {
		t.Errorf("apply went on waiting %s after the VM was deleted", took)
	}
	if s == nil || s.Outcome != event.Failure || apply.ExitCode(s, err) != apply.ExitFailed {
		t.Fatalf("outcome %+v, err %v (exit %d), want a failure, exit %d", s, err, apply.ExitCode(s, err), apply.ExitFailed)
	}
	for _, v := range s.VMs {
		if v.Name == "stuck-1" && (v.Status != event.VMFailed || !strings.Contains(v.Message, "deleted")) {
			t.Errorf("stuck-1: %s %q, want Failed saying it was deleted", v.Status, v.Message)
		}
	}
	e.holds("after the apply", f)
}

// The namespace deleted during the wait: a failure saying so, not "the
// namespace does not exist: create it".
func TestNamespaceDeletedDuringTheWaitFailsFast(t *testing.T) {
	e := newEnv(t)
	s, err, took := applyThenDelete(e, func() error {
		return e.kc.Dynamic.Resource(nsGVR).Delete(context.Background(), e.ns, metav1.DeleteOptions{})
	})
	if took > 20*time.Second {
		t.Errorf("apply went on waiting %s after the namespace was deleted", took)
	}
	if err == nil || !strings.Contains(err.Error(), "namespace "+e.ns+" was deleted") || strings.Contains(err.Error(), "create it") {
		t.Errorf("error %v, want one saying the namespace was deleted during the run", err)
	}
	if code := apply.ExitCode(s, err); code != apply.ExitFailed {
		t.Errorf("exit %d, want %d", code, apply.ExitFailed)
	}
	// Whoever deleted the namespace meant everything in it to go.
	e.waitNamespaceGone(t)
	e.holds("once the namespace is gone", invariant.Foreign{})
}
