package apply_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

var leasesGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// raceRounds is how often each racy scenario below runs. Each round starts
// both runs at the same instant; on the code before the instance lease,
// every scenario broke the invariant within its first 3 rounds.
const raceRounds = 8

// atOnce runs fns concurrently, released together.
func atOnce(fns ...func()) {
	var start, done sync.WaitGroup
	start.Add(1)
	for _, fn := range fns {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn()
		}()
	}
	start.Done()
	done.Wait()
}

type run struct {
	s   *event.Summary
	r   *recorder
	err error
}

func (x run) code() int { return apply.ExitCode(x.s, x.err) }

// Item 2 of issue 10: a destroy racing an apply of the same instance
// deleted the inventory with the apply's new entries in it, left their
// objects running unrecorded, and exited 0.
func TestApplyAndDestroyOfOneInstanceAtOnce(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	refused := 0
	defer func() { t.Logf("%d of %d rounds: one run refused, the instance in use", refused, raceRounds) }()
	for round := range raceRounds {
		name := fmt.Sprintf("ad%d", round)
		e.applyOK(set(t, 10, name), apply.Options{Name: name, NoWait: true})
		var a, d run
		atOnce(
			func() { a.s, a.r, a.err = e.apply(set(t, 30, name), apply.Options{Name: name, NoWait: true}) },
			func() { d.s, d.r, d.err = e.destroy(apply.DestroyOptions{Name: name}) },
		)
		e.check(round, f)
		for _, x := range []run{a, d} {
			if x.code() != 0 && !strings.Contains(fmt.Sprint(x.err), "is in use by") {
				t.Errorf("round %d: exit %d, %v: a run that loses the race must say who holds the instance", round, x.code(), x.err)
			}
			if x.code() != 0 {
				refused++
			}
		}
		// Whatever the order, destroying again leaves nothing of it.
		e.destroyOK(apply.DestroyOptions{Name: name})
		e.check(round, f)
	}
}

// Item 3: two applies of one instance; the final inventory write re-read
// the ConfigMap, so the last writer dropped the other's objects. The
// second apply starts while the first is applying its VMs (after its first
// inventory write, before its last).
func TestTwoAppliesOfOneInstanceAtOnce(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	for round := range raceRounds {
		var x, y run
		var second sync.WaitGroup
		second.Add(1)
		started := 0
		sink := func(ev event.Event) {
			if ev.Object != nil && ev.Object.Ref.Kind == "VirtualMachine" {
				if started++; started == 3 {
					go func() {
						defer second.Done()
						y.s, y.r, y.err = e.apply(set(t, 5, fmt.Sprintf("y%d", round)), apply.Options{NoWait: true})
					}()
				}
			}
		}
		x.r = &recorder{}
		x.s, x.err = apply.Apply(context.Background(), e.kc, set(t, 30, fmt.Sprintf("x%d", round)),
			apply.Options{Namespace: e.ns, Workers: 4, Timeout: time.Minute}, func(ev event.Event) { x.r.sink(ev); sink(ev) })
		second.Wait()
		e.check(round, f)
		if x.code() != 0 {
			t.Errorf("round %d: the first apply: exit %d, %v", round, x.code(), x.err)
		}
		// The second started while the first held the instance.
		if y.code() != apply.ExitError || !strings.Contains(fmt.Sprint(y.err), "is in use by") || !strings.Contains(fmt.Sprint(y.err), " since ") {
			t.Errorf("round %d: the second apply: exit %d, %v: want 1, naming the holder and since when", round, y.code(), y.err)
		}
	}
	e.destroyOK(apply.DestroyOptions{})
	e.check(raceRounds, f)
}

// Item 4: two instances applying the same names at once both claimed them.
// Each object must end in exactly one inventory, and the loser must report
// it skipped, naming the winner.
func TestTwoInstancesClaimTheSameObjects(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	split := 0
	defer func() { t.Logf("%d of %d rounds: both instances won some of the objects", split, raceRounds) }()
	for round := range raceRounds {
		prefix := fmt.Sprintf("shared%d", round)
		objs := set(t, 10, prefix)
		var a, b run
		atOnce(
			func() { a.s, a.r, a.err = e.apply(objs, apply.Options{Name: "a", NoWait: true}) },
			func() { b.s, b.r, b.err = e.apply(objs, apply.Options{Name: "b", NoWait: true}) },
		)
		e.check(round, f)
		if a.err != nil || b.err != nil {
			t.Fatalf("round %d: %v / %v", round, a.err, b.err)
		}
		if a.s.Counts[event.Skipped] > 0 && b.s.Counts[event.Skipped] > 0 {
			split++
		}
		for _, o := range objs {
			key := o.GetKind() + "/" + o.GetName()
			ra, rb := a.r.results()[key], b.r.results()[key]
			if (ra == event.Skipped) == (rb == event.Skipped) {
				t.Errorf("round %d: %s: a %s, b %s: want exactly one skipped", round, key, ra, rb)
				continue
			}
			loser, winner := a, e.ns+".b"
			if rb == event.Skipped {
				loser, winner = b, e.ns+".a"
			}
			if ev := loser.r.object(o.GetKind(), o.GetName()); ev.Owner != winner {
				t.Errorf("round %d: %s skipped with owner %q, want %q", round, key, ev.Owner, winner)
			}
		}
		// The next round: objects of this one move to a (adopt), so that
		// b prunes nothing of a's.
		e.applyOK(objs, apply.Options{Name: "a", NoWait: true, Adopt: true})
	}
	e.destroyOK(apply.DestroyOptions{Name: "b"})
	e.destroyOK(apply.DestroyOptions{Name: "a"})
	e.check(raceRounds, f)
}

// Item 9: exit statuses that differed from the README.
func TestExitStatus(t *testing.T) {
	t.Run("interrupted during setup", func(t *testing.T) {
		e := newEnv(t)
		f := e.plant()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // Ctrl-C before the first request
		s, err := apply.Apply(ctx, e.kc, set(t, 1, "cpu"), apply.Options{Namespace: e.ns}, nil)
		if code := apply.ExitCode(s, err); code != apply.ExitInterrupted {
			t.Errorf("apply interrupted during setup: exit %d (%v), want %d", code, err, apply.ExitInterrupted)
		}
		s, err = apply.Destroy(ctx, e.kc, apply.DestroyOptions{Namespace: e.ns}, nil)
		if code := apply.ExitCode(s, err); code != apply.ExitInterrupted {
			t.Errorf("destroy interrupted during setup: exit %d (%v), want %d", code, err, apply.ExitInterrupted)
		}
		e.holds("after the interrupted runs", f)
	})
	t.Run("every object skipped", func(t *testing.T) {
		e := newEnv(t)
		f := e.plant()
		e.applyOK(set(t, 2, "cpu"), apply.Options{Name: "a", NoWait: true})
		s, _, err := e.apply(set(t, 2, "cpu"), apply.Options{Name: "b"})
		if code := apply.ExitCode(s, err); code != apply.ExitFailed {
			t.Errorf("apply whose objects another instance owns: exit %d (%v), want %d", code, err, apply.ExitFailed)
		}
		e.holds("after the skipped apply", f)
	})
	t.Run("API server unreachable mid-run", func(t *testing.T) {
		e := newEnv(t)
		f := e.plant()
		p := startProxy(t, e.c.Host())
		kc := e.clientThrough(p)
		sent := 0
		var once sync.Once
		sink := func(ev event.Event) {
			if ev.Object != nil && ev.Object.Ref.Kind == "VirtualMachine" {
				if sent++; sent == 3 {
					once.Do(p.cut) // the API server goes away
				}
			}
		}
		s, err := apply.Apply(context.Background(), kc, set(t, 200, "cpu"), apply.Options{Namespace: e.ns, Workers: 2, Timeout: 20 * time.Second}, sink)
		var unreachable *kube.UnreachableError
		if code := apply.ExitCode(s, err); code != apply.ExitError || !errors.As(err, &unreachable) {
			t.Errorf("exit %d, %v: want %d and 'cannot reach the Kubernetes API server'", code, err, apply.ExitError)
		}
		if s != nil && s.Outcome == event.TimedOut {
			t.Error("went on to wait for VMs on an unreachable server")
		}
		e.holds("after the cut", f)
	})
}

// proxy forwards loopback TCP connections to the API server until cut.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, host string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(host, "https://")
	p := &proxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut stops listening (new connections are refused) and breaks every open
// connection.
func (p *proxy) cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// clientThrough is an admin client that reaches the API server through p.
func (e *env) clientThrough(p *proxy) *kube.Client {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.c.Kubeconfig())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + p.l.Addr().String()
	}
	path := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.t.Fatal(err)
	}
	kc, err := kube.New(kube.Options{Kubeconfig: path, Namespace: e.ns})
	if err != nil {
		e.t.Fatal(err)
	}
	return kc
}

// leaseOf writes the instance's Lease as another host's run would.
func (e *env) leaseOf(name, holder string, renewed time.Time) {
	e.t.Helper()
	cs, err := e.c.Clientset()
	if err != nil {
		e.t.Fatal(err)
	}
	secs := int32(30)
	at := metav1.NewMicroTime(renewed)
	_, err = cs.CoordinationV1().Leases(e.ns).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "virtwork-lock-" + name,
			Annotations: map[string]string{"virtwork.io/holder-host": "elsewhere", "virtwork.io/holder-pid": "1"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &at, RenewTime: &at},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestInstanceInUseIsRefused(t *testing.T) {
	e := newEnv(t)
	e.leaseOf("virtwork", "alice@elsewhere (pid 1)", time.Now())
	s, _, err := e.apply(set(t, 1, "cpu"), apply.Options{})
	want := `instance "virtwork" in namespace ` + e.ns + ` is in use by alice@elsewhere (pid 1) since `
	if code := apply.ExitCode(s, err); code != apply.ExitError || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("apply of an instance in use: exit %d, %v; want 1 and %q", code, err, want)
	}
	if e.exists(cmGVR, "virtwork-inventory-virtwork") || len(e.names(vmsGVR)) != 0 {
		t.Error("the refused apply changed the cluster")
	}
	if _, _, err := e.destroy(apply.DestroyOptions{}); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("destroy of an instance in use: %v", err)
	}
	// Dry runs and other instances are not held up.
	if s, _, err := e.apply(set(t, 1, "cpu"), apply.Options{DryRun: true}); err != nil || s.Outcome != event.Succeeded {
		t.Errorf("dry run: %v", err)
	}
	e.applyOK(set(t, 1, "other"), apply.Options{Name: "other"})
}

// A holder killed on another host stops renewing; once the lease has
// expired the next run takes it over, and releases it at the end.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	e := newEnv(t)
	e.leaseOf("virtwork", "bob@elsewhere (pid 1)", time.Now().Add(-time.Minute))
	e.applyOK(set(t, 2, "cpu"), apply.Options{})
	if e.exists(leasesGVR, "virtwork-lock-virtwork") {
		t.Error("the lease outlived the run")
	}
	e.destroyOK(apply.DestroyOptions{})
}

// A run whose Lease was taken over (it could not renew in time) stops:
// its context ends with ErrLeaseLost, and releasing leaves the new
// holder's Lease alone.
func TestLostLeaseStopsTheRun(t *testing.T) {
	e := newEnv(t)
	cs, err := e.c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New("lost", e.ns)
	if err != nil {
		t.Fatal(err)
	}
	held, ctx, err := inventory.Acquire(context.Background(), cs.CoordinationV1(), inv, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leases := cs.CoordinationV1().Leases(e.ns)
	l, err := leases.Get(context.Background(), inv.LeaseName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := "mallory@elsewhere (pid 1)"
	l.Spec.HolderIdentity = &other
	if _, err := leases.Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after its lease was taken over")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, inventory.ErrLeaseLost) {
		t.Errorf("cause %v, want ErrLeaseLost", cause)
	}
	held.Release()
	if l, err := leases.Get(context.Background(), inv.LeaseName(), metav1.GetOptions{}); err != nil || *l.Spec.HolderIdentity != other {
		t.Errorf("after release: %v, %v: the new holder's lease must stay", l, err)
	}
}

// Every inventory write is a compare-and-swap against the version the run
// last read or wrote: a change by a writer that did not take the Lease (an
// older virtwork, kubectl edit) between a run's first and last write makes
// the last one fail instead of overwriting it. (Before, apply's final write
// re-read the ConfigMap and overwrote it; destroy deleted it with a UID
// precondition only.)
func TestInventoryWritesAreCompareAndSwap(t *testing.T) {
	for _, cmd := range []string{"apply", "destroy"} {
		t.Run(cmd, func(t *testing.T) {
			e := newEnv(t)
			objs := []*unstructured.Unstructured{vm(t, "slow-1", "sim.virtwork.io/boot-delay", "2s")}
			if cmd == "destroy" {
				e.applyOK(objs, apply.Options{})
			} else {
				// Something to prune, so that the final write changes
				// the inventory.
				e.applyOK([]*unstructured.Unstructured{vm(t, "old-1")}, apply.Options{})
			}
			cms := e.kc.Dynamic.Resource(cmGVR).Namespace(e.ns)
			var once sync.Once
			edit := func(ev event.Event) {
				if ev.Object != nil && ev.Object.Ref.Kind == "VirtualMachine" {
					once.Do(func() {
						cm, err := cms.Get(context.Background(), "virtwork-inventory-virtwork", metav1.GetOptions{})
						if err != nil {
							t.Error(err)
							return
						}
						cm.SetAnnotations(map[string]string{"edited": "by hand"})
						if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
							t.Error(err)
						}
					})
				}
			}
			var err error
			if cmd == "apply" {
				_, err = apply.Apply(context.Background(), e.kc, objs, apply.Options{Namespace: e.ns, Timeout: time.Minute}, edit)
			} else {
				_, err = apply.Destroy(context.Background(), e.kc, apply.DestroyOptions{Namespace: e.ns, Timeout: time.Minute}, edit)
			}
			if err == nil || !strings.Contains(err.Error(), "was changed by someone else") {
				t.Errorf("%s with the inventory changed under it: %v, want a conflict", cmd, err)
			}
			cm, gerr := cms.Get(context.Background(), "virtwork-inventory-virtwork", metav1.GetOptions{})
			if gerr != nil || cm.GetAnnotations()["edited"] != "by hand" {
				t.Errorf("the other writer's inventory was overwritten or deleted: %v", gerr)
			}
		})
	}
}
