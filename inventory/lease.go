package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// An instance is changed by one run at a time: apply and destroy hold a
// coordination.k8s.io/v1 Lease named after the instance, next to its
// inventory ConfigMap, for as long as they run. The holder renews it every
// third of its duration; a holder that was killed stops renewing, and the
// next run takes the Lease over once it has expired, or at once when the
// holder was a process on the same host that no longer exists. Every write
// of the Lease is a compare-and-swap on its resourceVersion, so two runs
// never both believe they hold it.

// DefaultLeaseDuration is how long a Lease stays valid without renewal.
const DefaultLeaseDuration = 30 * time.Second

// Annotations on the Lease that say which process holds it, so that a run on
// the same host can tell that the holder is gone.
const (
	holderHostAnnotation = "virtwork.io/holder-host"
	holderPIDAnnotation  = "virtwork.io/holder-pid"
)

// LeaseName is the name of the instance's Lease.
func (i Inventory) LeaseName() string { return "virtwork-lock-" + i.Name }

// InUseError says another run holds the instance.
type InUseError struct {
	Inventory Inventory
	Holder    string
	Since     time.Time
	Renewed   time.Time
	Duration  time.Duration
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("instance %q in namespace %s is in use by %s since %s (lease renewed %s ago): wait until that run ends; if it was killed, the lease expires %s after its last renewal",
		e.Inventory.Name, e.Inventory.Namespace, e.Holder, e.Since.UTC().Format(time.RFC3339),
		time.Since(e.Renewed).Round(time.Second), e.Duration)
}

// ErrLeaseLost is the cause of a Held's context being cancelled when
// another run took the Lease over (this run stopped renewing it in time).
var ErrLeaseLost = errors.New("lost the lease on the instance (another run took it over after this run could not renew it): nothing more was changed; run again")

// Held is a Lease this run holds.
type Held struct {
	inv      Inventory
	leases   coordclient.LeaseInterface
	duration time.Duration
	mu       sync.Mutex
	lease    *coordinationv1.Lease // as last written
	stop     context.CancelFunc
	done     chan struct{}
	release  sync.Once
}

// Acquire takes the instance's Lease or fails at once with an InUseError
// naming the holder. duration 0 means DefaultLeaseDuration. The returned
// context is cancelled (cause ErrLeaseLost) if the Lease is lost; Release
// ends the renewal and gives the Lease up.
func Acquire(ctx context.Context, leases coordclient.LeasesGetter, inv Inventory, duration time.Duration) (*Held, context.Context, error) {
	if duration <= 0 {
		duration = DefaultLeaseDuration
	}
	h := &Held{inv: inv, leases: leases.Leases(inv.Namespace), duration: duration}
	for range 5 {
		ok, err := h.tryAcquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			runCtx, cancel := context.WithCancelCause(ctx)
			renewCtx, stop := context.WithCancel(context.Background())
			h.stop, h.done = stop, make(chan struct{})
			go h.renew(renewCtx, cancel)
			return h, runCtx, nil
		}
	}
	return nil, nil, fmt.Errorf("lease %s/%s keeps changing under this run: another run is starting; try again", inv.Namespace, inv.LeaseName())
}

// tryAcquire creates the Lease, or takes it over when it is free. false:
// it changed meanwhile, try again.
func (h *Held) tryAcquire(ctx context.Context) (bool, error) {
	now := metav1.NowMicro()
	secs := int32(h.duration / time.Second)
	host, _ := os.Hostname()
	mine := coordinationv1.LeaseSpec{
		HolderIdentity: ptr(holderIdentity(host)), LeaseDurationSeconds: &secs,
		AcquireTime: &now, RenewTime: &now,
	}
	annotations := map[string]string{holderHostAnnotation: host, holderPIDAnnotation: strconv.Itoa(os.Getpid())}
	created, err := h.leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: h.inv.LeaseName(), Namespace: h.inv.Namespace, Annotations: annotations,
			Labels: map[string]string{ManagedByLabel: "virtwork", InstanceLabel: h.inv.Name}},
		Spec: mine,
	}, metav1.CreateOptions{FieldManager: "virtwork"})
	if err == nil {
		h.lease = created
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, h.errorf("creating", err)
	}
	cur, err := h.leases.Get(ctx, h.inv.LeaseName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil // released meanwhile
	}
	if err != nil {
		return false, h.errorf("reading", err)
	}
	if held := h.heldByOther(cur, host, now.Time); held != nil {
		return false, held
	}
	// Free: take it over, on the condition that nobody else did first
	// (Update carries cur's resourceVersion).
	transitions := int32(0)
	if cur.Spec.LeaseTransitions != nil {
		transitions = *cur.Spec.LeaseTransitions + 1
	}
	mine.LeaseTransitions = &transitions
	cur.Spec = mine
	cur.Annotations = annotations
	updated, err := h.leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "virtwork"})
	switch {
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, h.errorf("taking over", err)
	}
	h.lease = updated
	return true, nil
}

// heldByOther returns an InUseError unless the Lease is free: released,
// expired, or held by a process of this host that no longer exists.
func (h *Held) heldByOther(l *coordinationv1.Lease, host string, now time.Time) error {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil {
		return nil
	}
	d := h.duration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	if now.After(l.Spec.RenewTime.Add(d)) {
		return nil
	}
	if l.Annotations[holderHostAnnotation] == host {
		if pid, err := strconv.Atoi(l.Annotations[holderPIDAnnotation]); err == nil && pid > 0 &&
			errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			return nil
		}
	}
	since := l.Spec.RenewTime.Time
	if l.Spec.AcquireTime != nil {
		since = l.Spec.AcquireTime.Time
	}
	return &InUseError{Inventory: h.inv, Holder: *l.Spec.HolderIdentity, Since: since, Renewed: l.Spec.RenewTime.Time, Duration: d}
}

// renew keeps the Lease until stopped; when it cannot (someone else took
// it, or no renewal succeeded for a whole lease duration) it cancels the
// run with ErrLeaseLost.
func (h *Held) renew(ctx context.Context, cancelRun context.CancelCauseFunc) {
	defer close(h.done)
	every := h.duration / 3
	t := time.NewTicker(every)
	defer t.Stop()
	h.mu.Lock()
	last := h.lease.Spec.RenewTime.Time
	h.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		next := h.lease.DeepCopy()
		h.mu.Unlock()
		now := metav1.NowMicro()
		next.Spec.RenewTime = &now
		rctx, cancel := context.WithTimeout(ctx, every)
		updated, err := h.leases.Update(rctx, next, metav1.UpdateOptions{FieldManager: "virtwork"})
		cancel()
		switch {
		case err == nil:
			h.mu.Lock()
			h.lease = updated
			h.mu.Unlock()
			last = now.Time
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			cancelRun(ErrLeaseLost)
			return
		case ctx.Err() != nil:
			return
		case time.Since(last)+every > h.duration:
			// Others may take it over before the next try: stop before
			// they can.
			cancelRun(ErrLeaseLost)
			return
		}
	}
}

// Release stops renewing and deletes the Lease, if it is still this run's
// (a precondition on its resourceVersion). It uses its own short deadline,
// so that an interrupted run still releases. Calls after the first, and on
// nil, do nothing.
func (h *Held) Release() {
	if h == nil {
		return
	}
	h.release.Do(h.doRelease)
}

func (h *Held) doRelease() {
	h.stop()
	<-h.done
	h.mu.Lock()
	l := h.lease
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uid, rv := types.UID(l.UID), l.ResourceVersion
	// A failure leaves the Lease to expire; a conflict means it is no
	// longer ours.
	_ = h.leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
}

// NoNamespaceError says the instance's namespace does not exist (so
// neither does its inventory).
type NoNamespaceError struct{ Namespace string }

func (e *NoNamespaceError) Error() string {
	return fmt.Sprintf("namespace %s does not exist: create it, or apply a set that includes it (virtwork render does)", e.Namespace)
}

func (h *Held) errorf(what string, err error) error {
	if apierrors.IsNotFound(err) {
		return &NoNamespaceError{h.inv.Namespace}
	}
	return fmt.Errorf("%s lease %s/%s: %w", what, h.inv.Namespace, h.inv.LeaseName(), err)
}

// holderIdentity names this process: user@host (pid N).
func holderIdentity(host string) string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return fmt.Sprintf("%s@%s (pid %d)", name, host, os.Getpid())
}

func ptr[T any](v T) *T { return &v }
