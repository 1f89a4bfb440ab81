package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

var namespaceGK = schema.GroupKind{Kind: "Namespace"}

// engine holds what one command run shares: the client, the event sink and
// the tallies that become the Summary.
type engine struct {
	kc      *kube.Client
	sink    event.Sink
	summary event.Summary
	mu      sync.Mutex // guards summary and vms
	vms     map[object.ObjMetadata]*vmState
	// mappings caches RESTMappings by GroupKind.
	mappings sync.Map
	// nsResult is what applying the Namespace did, and why.
	nsResult event.Result
	nsReason string
	// redact masks the content of the set's Secrets in messages.
	redact redactor
	// skippedOwned counts objects apply left alone because another
	// inventory (or none) owns them: the set was not applied as asked.
	skippedOwned int
}

// vmState tracks one VM for the summary.
type vmState struct {
	ref                   event.Ref
	workload, role        string
	applied, ready, agent time.Time
	status, message       string
	skipped, failed       bool
	// created: this run's apply created it; seen, readyAtFirstSight: the
	// watch has reported it, and was it Ready then (see readPhases).
	created, seen, readyAtFirstSight bool
	measured                         bool
	started                          time.Time
	phases                           event.PhaseTimes
	// fromCreation: applied is the VM's creation (status --wait, on a VM
	// someone else applied), set when the watch first sees it.
	fromCreation bool
}

func newEngine(kc *kube.Client, cmd event.Command, dryRun bool, sink event.Sink) *engine {
	if sink == nil {
		sink = func(event.Event) {}
	}
	return &engine{
		kc:   kc,
		sink: event.Serialized(sink),
		vms:  map[object.ObjMetadata]*vmState{},
		summary: event.Summary{
			Command: cmd, DryRun: dryRun, Start: time.Now(), Counts: map[event.Result]int{},
		},
	}
}

func (e *engine) emit(ev event.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.sink(ev)
}

// object records and reports the outcome for one object.
func (e *engine) object(ref event.Ref, result event.Result, reason, owner string) {
	e.mu.Lock()
	e.summary.Counts[result]++
	switch result {
	case event.Failed, event.Skipped:
		if result == event.Failed || owner != "" || reason != "" {
			e.summary.Problems = append(e.summary.Problems, event.Problem{Ref: ref, Result: string(result), Reason: e.redact.string(reason)})
		}
	}
	e.mu.Unlock()
	e.emit(event.Event{Type: event.TypeObject, Object: &event.Object{Ref: ref, Result: result, Reason: e.redact.string(reason), Owner: owner}})
}

// finish closes the run: outcome, VM table, the Summary event.
func (e *engine) finish(ctx context.Context, runErr error, timedOut bool) *event.Summary {
	e.mu.Lock()
	s := &e.summary
	s.Duration = event.Seconds(time.Since(s.Start))
	failed := s.Counts[event.Failed] > 0 || e.skippedOwned > 0
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), inventory.ErrLeaseLost) {
		runErr = context.Cause(ctx)
	}
	for _, vm := range e.vms {
		v := event.VM{Name: vm.ref.Name, Workload: vm.workload, Role: vm.role, Status: vm.status, Message: vm.message,
			Applied: vm.applied, Ready: vm.ready, AgentConnected: vm.agent,
			Started: vm.started, Phases: vm.phases, Measured: vm.measured}
		if !vm.ready.IsZero() && !vm.applied.IsZero() && vm.status == event.VMReady {
			// The watch may see Ready a moment before the apply call
			// returns (a VM that was ready already): never negative.
			v.TimeToReady = event.Seconds(max(vm.ready.Sub(vm.applied), 0))
		}
		if v.Status == event.VMFailed {
			failed = true
		}
		s.VMs = append(s.VMs, v)
	}
	sort.Slice(s.VMs, func(i, j int) bool { return s.VMs[i].Name < s.VMs[j].Name })
	s.Phases = event.PhaseSummary(s.VMs)
	sort.SliceStable(s.Problems, func(i, j int) bool { return s.Problems[i].Ref.String() < s.Problems[j].Ref.String() })
	switch {
	case runErr != nil && ctx.Err() != nil && errors.Is(runErr, ctx.Err()):
		s.Outcome = event.Interrupted
		s.Error = "interrupted"
	case runErr != nil:
		s.Outcome = event.Failure
		s.Error = e.redact.string(runErr.Error())
	case failed:
		s.Outcome = event.Failure
	case timedOut:
		s.Outcome = event.TimedOut
	default:
		s.Outcome = event.Succeeded
	}
	out := *s
	e.mu.Unlock()
	e.emit(event.Event{Type: event.TypeSummary, Summary: &out})
	return &out
}

// explain words an error for users (see kube.Explain).
func (e *engine) explain(err error) error { return e.redact.error(kube.Explain(err, e.kc.Host())) }

// fatal reports whether an error from one object's call means the whole run
// cannot go on (no permission, bad credentials, no server, no such kind):
// then the run stops at once rather than failing every object alike.
func fatal(err error) bool {
	var unreachable *kube.UnreachableError
	return kube.IsPermissionDenied(err) || apierrors.IsUnauthorized(err) || meta.IsNoMatchError(err) ||
		errors.As(err, &unreachable)
}

func refOf(id object.ObjMetadata) event.Ref {
	return event.Ref{Group: id.GroupKind.Group, Kind: id.GroupKind.Kind, Namespace: id.Namespace, Name: id.Name}
}

// mapping finds the REST resource for a kind (a specific version if given).
func (e *engine) mapping(gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	key := gk.String() + "/" + version
	if m, ok := e.mappings.Load(key); ok {
		return m.(*meta.RESTMapping), nil
	}
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := e.kc.Mapper.RESTMapping(gk, versions...)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("%s: %w", kube.NotInstalled(gk), err)
		}
		return nil, e.explain(fmt.Errorf("looking up %s: %w", gk, err))
	}
	e.mappings.Store(key, m)
	return m, nil
}

// served keeps the kinds the cluster serves.
func (e *engine) served(gks []schema.GroupKind) []schema.GroupKind {
	var out []schema.GroupKind
	for _, gk := range gks {
		if _, err := e.mapping(gk, ""); err == nil {
			out = append(out, gk)
		}
	}
	return out
}

// item is one object to apply.
type item struct {
	id  object.ObjMetadata
	obj *unstructured.Unstructured
	gvr schema.GroupVersionResource
}

// prepare checks the manifest set and maps it to resources. The Namespace
// (at most one: the target namespace) is returned apart: it is applied
// first and never recorded in the inventory (see package inventory).
func (e *engine) prepare(objs []*unstructured.Unstructured, namespace string) (*unstructured.Unstructured, []*item, error) {
	var ns *unstructured.Unstructured
	items := make([]*item, 0, len(objs))
	seen := make(map[object.ObjMetadata]bool, len(objs))
	var values []string
	defer func() { e.redact = newRedactor(values) }()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Kind == "" || o.GetName() == "" {
			return nil, nil, fmt.Errorf("object %s %q: kind and metadata.name are required", gvk.Kind, o.GetName())
		}
		if gvk.GroupKind() == namespaceGK {
			if o.GetName() != namespace {
				return nil, nil, fmt.Errorf("Namespace %q in the manifest set differs from the target namespace %q: render for -n %s or drop it", o.GetName(), namespace, o.GetName())
			}
			ns = o
			continue
		}
		if _, ok := o.GetLabels()[common.InventoryLabel]; ok {
			return nil, nil, fmt.Errorf("%s %q carries the inventory label %s: inventory objects cannot be applied", gvk.Kind, o.GetName(), common.InventoryLabel)
		}
		m, err := e.mapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, nil, err
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return nil, nil, fmt.Errorf("%s %q is cluster-scoped: virtwork applies only namespaced objects (and the Namespace)", gvk.Kind, o.GetName())
		}
		switch o.GetNamespace() {
		case "":
			o = o.DeepCopy()
			o.SetNamespace(namespace)
		case namespace:
		default:
			return nil, nil, fmt.Errorf("%s %q is in namespace %q, not the target namespace %q: render for -n %s", gvk.Kind, o.GetName(), o.GetNamespace(), namespace, o.GetNamespace())
		}
		if gvk.GroupKind() == secretGK {
			values = append(values, secretValues(o)...)
			n, err := normalizeSecret(o)
			if err != nil {
				return nil, nil, err
			}
			o = n
		}
		id := object.UnstructuredToObjMetadata(o)
		if seen[id] {
			return nil, nil, fmt.Errorf("%s appears twice in the manifest set", refOf(id))
		}
		seen[id] = true
		items = append(items, &item{id: id, obj: o, gvr: m.Resource})
	}
	return ns, items, nil
}

// live is what a metadata LIST says about an existing object.
type live = metav1.PartialObjectMetadata

// listLive reads the metadata of every object of the given kinds in the
// namespace, one paged LIST per kind, instead of a GET per object.
func (e *engine) listLive(ctx context.Context, namespace string, gks []schema.GroupKind) (map[object.ObjMetadata]*live, error) {
	return listPaged(ctx, e, namespace, gks, func(gvr schema.GroupVersionResource, opts metav1.ListOptions) ([]*live, string, error) {
		list, err := e.kc.Metadata.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		items := make([]*live, len(list.Items))
		for i := range list.Items {
			items[i] = &list.Items[i]
		}
		return items, list.Continue, nil
	})
}

// listPaged runs one paged LIST per kind in the namespace through list
// and keys the items by object id.
func listPaged[T metav1.Object](ctx context.Context, e *engine, namespace string, gks []schema.GroupKind,
	list func(schema.GroupVersionResource, metav1.ListOptions) ([]T, string, error)) (map[object.ObjMetadata]T, error) {
	out := map[object.ObjMetadata]T{}
	for _, gk := range gks {
		m, err := e.mapping(gk, "")
		if err != nil {
			return nil, err
		}
		opts := metav1.ListOptions{Limit: 500}
		for {
			items, cont, err := list(m.Resource, opts)
			if apierrors.IsNotFound(err) {
				// A collection is never "not found" unless its type is not
				// served: the mapping came from a stale discovery cache
				// (kubectl's, keyed by host and port, outlives a cluster).
				return nil, e.explain(&meta.NoKindMatchError{GroupKind: gk})
			}
			if err != nil {
				return nil, e.explain(fmt.Errorf("listing %s in namespace %s: %w", m.Resource.GroupResource(), namespace, err))
			}
			for _, it := range items {
				out[object.ObjMetadata{GroupKind: gk, Namespace: it.GetNamespace(), Name: it.GetName()}] = it
			}
			if cont == "" {
				break
			}
			opts.Continue = cont
		}
	}
	return out, nil
}

// annotationsOnly wraps live metadata for cli-utils' policy functions,
// which read only the owning-inventory annotation.
func annotationsOnly(l *live) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAnnotations(l.Annotations)
	return u
}

// groupKinds lists the distinct kinds of ids, sorted.
func groupKinds(ids ...object.ObjMetadataSet) []schema.GroupKind {
	set := map[schema.GroupKind]bool{}
	for _, s := range ids {
		for _, id := range s {
			set[id.GroupKind] = true
		}
	}
	out := make([]schema.GroupKind, 0, len(set))
	for gk := range set {
		out = append(out, gk)
	}
	slices.SortFunc(out, func(a, b schema.GroupKind) int {
		if a.Group != b.Group {
			if a.Group < b.Group {
				return -1
			}
			return 1
		}
		if a.Kind < b.Kind {
			return -1
		} else if a.Kind > b.Kind {
			return 1
		}
		return 0
	})
	return out
}

// forEach runs fn for 0..n-1 on workers goroutines. It stops handing out
// work when ctx is done and returns once every started call has returned.
func forEach(ctx context.Context, workers, n int, fn func(ctx context.Context, i int)) {
	if workers > n {
		workers = n
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(ctx, i)
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
}

// isVM reports whether an id is a VirtualMachine.
func isVM(id object.ObjMetadata) bool { return id.GroupKind == kvstatus.VirtualMachineGK }
