// Package kubevirtsim is a controller that plays KubeVirt and CDI against a
// bare kube-apiserver: it gives VirtualMachines instances, DataVolumes and
// statuses the way a client sees them on a real cluster, with configurable
// boot times and injectable faults, and finalizes deleted namespaces (the
// job of kube-controller-manager, which does not run here).
package kubevirtsim

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Resources the simulator works on.
var (
	VirtualMachines         = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	VirtualMachineInstances = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	DataVolumes             = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
)

// Fault is a failure the simulator plays for a VM instead of booting it.
type Fault string

// Faults. FaultAnnotation on a VM selects one for that VM; Settings.Fault
// for every VM of a namespace.
const (
	NoFault Fault = ""
	// NeverReady: the VMI runs but its Ready condition stays False.
	NeverReady Fault = "never-ready"
	// ErrImagePull and ImagePullBackOff: the VMI stays Scheduling and the
	// VM's printableStatus names the pull error.
	ErrImagePull     Fault = "ErrImagePull"
	ImagePullBackOff Fault = "ImagePullBackOff"
	// ErrorUnschedulable: the VMI stays Scheduling with PodScheduled=False.
	ErrorUnschedulable Fault = "ErrorUnschedulable"
	// DataVolumeFailed: the VM's DataVolumes end in phase Failed and the VM
	// shows DataVolumeError (VMs without DataVolume templates boot normally).
	DataVolumeFailed Fault = "DataVolumeFailed"
	// Failure: no VMI is created and the VM gets condition Failure=True.
	Failure Fault = "Failure"
)

// Faults lists the valid faults.
var Faults = []Fault{NeverReady, ErrImagePull, ImagePullBackOff, ErrorUnschedulable, DataVolumeFailed, Failure}

// Annotations read from a VM.
const (
	FaultAnnotation     = "sim.virtwork.io/fault"
	BootDelayAnnotation = "sim.virtwork.io/boot-delay" // a Go duration, e.g. "5s"
)

// Settings shape how VMs boot. They apply cluster-wide (Config.Defaults) or
// to one namespace (Simulator.Configure).
type Settings struct {
	// BootDelay is the time from a VMI's start (its DataVolumes ready) to
	// Running and Ready; each VM adds a random part of BootJitter to it.
	// The VMI passes Scheduling at 10% and Scheduled at 40% of that time.
	BootDelay, BootJitter time.Duration
	// AgentDelay is the time from Running to AgentConnected.
	AgentDelay time.Duration
	// DataVolumeDelay is the time from a DataVolume's creation to
	// Succeeded; it is PVCBound from 30% of that time.
	DataVolumeDelay time.Duration
	// WaitForFirstConsumer keeps DataVolumes in WaitForFirstConsumer until
	// their VM's VMI exists, as with a storage class of that binding mode.
	WaitForFirstConsumer bool
	// ShutdownDelay is the time a deleted VMI takes to go away: KubeVirt
	// keeps its finalizer until the guest has stopped. 0: at once.
	ShutdownDelay time.Duration
	// Fault applies to every VM without a fault annotation.
	Fault Fault
}

// Config configures a Simulator.
type Config struct {
	// Defaults apply to namespaces without their own settings.
	Defaults Settings
	// Workers is the number of VMs reconciled at once; default 16.
	Workers int
	// NoNamespaceFinalizer leaves Terminating namespaces alone.
	NoNamespaceFinalizer bool
	// Logf, if set, receives errors and notable events.
	Logf func(format string, args ...any)
}

// Simulator plays KubeVirt and CDI. Create it with New and run it with Run.
type Simulator struct {
	cfg  Config
	dyn  dynamic.Interface
	cs   kubernetes.Interface
	meta metadata.Interface
	rest *rest.Config

	factory        dynamicinformer.DynamicSharedInformerFactory
	vms, vmis, dvs cache.SharedIndexInformer
	queue          workqueue.TypedRateLimitingInterface[string]

	mu         sync.Mutex
	namespaces map[string]Settings
	clocks     map[string]*vmClock
	orphaned   map[types.UID]bool      // VMs deleted with propagationPolicy Orphan
	stopping   map[types.UID]time.Time // VMIs being deleted: when seen so

	nsf    *namespaceFinalizer
	synced chan struct{}
	writes atomic.Int64 // creates, status patches and deletes sent
}

// New prepares a simulator for the cluster that restConfig points at. The
// client's rate limits are raised: the simulator writes several statuses
// per VM and must keep up with thousands of them.
func New(restConfig *rest.Config, cfg Config) (*Simulator, error) {
	rc := rest.CopyConfig(restConfig)
	rc.QPS, rc.Burst = 2000, 4000
	rc.WarningHandler = rest.NoWarnings{}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := cfg.Defaults.Validate(); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("making dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("making clientset: %w", err)
	}
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("making metadata client: %w", err)
	}
	s := &Simulator{
		cfg: cfg, dyn: dyn, cs: cs, meta: meta, rest: rc,
		factory:    dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0),
		namespaces: map[string]Settings{},
		clocks:     map[string]*vmClock{},
		orphaned:   map[types.UID]bool{},
		stopping:   map[types.UID]time.Time{},
		synced:     make(chan struct{}),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubevirtsim"}),
	}
	s.vms = s.factory.ForResource(VirtualMachines).Informer()
	s.vmis = s.factory.ForResource(VirtualMachineInstances).Informer()
	s.dvs = s.factory.ForResource(DataVolumes).Informer()
	if err := s.dvs.AddIndexers(cache.Indexers{ownerIndex: indexByOwnerVM}); err != nil {
		return nil, fmt.Errorf("indexing DataVolumes: %w", err)
	}
	enqueueSelf := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	// A VMI has its VM's name; a DataVolume names its VM as owner.
	handlers := []struct {
		inf     cache.SharedIndexInformer
		enqueue func(any)
	}{
		{s.vms, enqueueSelf},
		{s.vmis, enqueueSelf},
		{s.dvs, func(obj any) {
			if o := asUnstructured(obj); o != nil {
				if owner := ownerVM(o); owner != "" {
					s.queue.Add(o.GetNamespace() + "/" + owner)
				}
			}
		}},
	}
	for _, h := range handlers {
		_, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    h.enqueue,
			UpdateFunc: func(_, obj any) { h.enqueue(obj) },
			DeleteFunc: h.enqueue,
		})
		if err != nil {
			return nil, fmt.Errorf("adding event handler: %w", err)
		}
	}
	if !cfg.NoNamespaceFinalizer {
		s.nsf = newNamespaceFinalizer(cs, meta, cfg.Logf)
	}
	return s, nil
}

// Run runs the simulator until ctx is done. It returns once its workers
// have stopped.
func (s *Simulator) Run(ctx context.Context) error {
	defer s.queue.ShutDown()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	var wg sync.WaitGroup
	if s.nsf != nil {
		wg.Go(func() { s.nsf.run(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.vms.HasSynced, s.vmis.HasSynced, s.dvs.HasSynced) {
		wg.Wait()
		return fmt.Errorf("kubevirtsim: caches did not sync: %w", ctx.Err())
	}
	if s.nsf != nil && !s.nsf.waitSynced(ctx) {
		wg.Wait()
		return fmt.Errorf("kubevirtsim: namespace cache did not sync: %w", ctx.Err())
	}
	close(s.synced)
	for range s.cfg.Workers {
		wg.Go(func() { wait.UntilWithContext(ctx, s.work, time.Second) })
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

// Synced is closed once the simulator has seen every existing object and
// acts on changes.
func (s *Simulator) Synced() <-chan struct{} { return s.synced }

func (s *Simulator) work(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		func() {
			defer s.queue.Done(key)
			next, err := s.reconcile(ctx, key)
			switch {
			case err != nil && s.queue.NumRequeues(key) < 15:
				s.queue.AddRateLimited(key)
			case err != nil:
				s.cfg.Logf("kubevirtsim: giving up on VM %s: %v", key, err)
				s.queue.Forget(key)
			default:
				s.queue.Forget(key)
				if next > 0 {
					s.queue.AddAfter(key, next)
				}
			}
			if err != nil && ctx.Err() == nil {
				s.cfg.Logf("kubevirtsim: VM %s: %v", key, err)
			}
		}()
	}
}

// Configure sets the settings for VMs in namespace, replacing the defaults
// there. A VM whose boot clock has started keeps its boot time; faults and
// the other delays apply from its next step.
func (s *Simulator) Configure(namespace string, settings Settings) error {
	if err := settings.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.namespaces[namespace] = settings
	s.mu.Unlock()
	s.requeueNamespace(namespace)
	return nil
}

// Reset returns namespace to the default settings.
func (s *Simulator) Reset(namespace string) {
	s.mu.Lock()
	delete(s.namespaces, namespace)
	s.mu.Unlock()
	s.requeueNamespace(namespace)
}

// SetDefaults replaces the default settings.
func (s *Simulator) SetDefaults(settings Settings) error {
	if err := settings.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg.Defaults = settings
	s.mu.Unlock()
	s.requeueNamespace("")
	return nil
}

func (s *Simulator) settingsFor(namespace string) Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.namespaces[namespace]; ok {
		return st
	}
	return s.cfg.Defaults
}

// requeueNamespace reconciles the VMs of namespace ("" for all) again.
func (s *Simulator) requeueNamespace(namespace string) {
	for _, key := range s.vms.GetStore().ListKeys() {
		if ns, _, _ := cache.SplitMetaNamespaceKey(key); namespace == "" || ns == namespace {
			s.queue.Add(key)
		}
	}
}

// Validate reports a fault name or delay the simulator cannot play.
func (st Settings) Validate() error {
	if st.Fault != NoFault && !validFault(st.Fault) {
		return fmt.Errorf("kubevirtsim: unknown fault %q (want one of %v)", st.Fault, Faults)
	}
	if st.BootDelay < 0 || st.BootJitter < 0 || st.AgentDelay < 0 || st.DataVolumeDelay < 0 || st.ShutdownDelay < 0 {
		return fmt.Errorf("kubevirtsim: negative delay in %+v", st)
	}
	return nil
}

func validFault(f Fault) bool {
	for _, v := range Faults {
		if f == v {
			return true
		}
	}
	return false
}

// Stats counts the objects the simulator sees and the writes it sent.
type Stats struct {
	VMs, VMIs, DataVolumes int
	Writes                 int64
}

// Stats returns counts from the simulator's caches and its write count.
func (s *Simulator) Stats() Stats {
	return Stats{
		VMs:         len(s.vms.GetStore().ListKeys()),
		VMIs:        len(s.vmis.GetStore().ListKeys()),
		DataVolumes: len(s.dvs.GetStore().ListKeys()),
		Writes:      s.writes.Load(),
	}
}

func asUnstructured(obj any) *unstructured.Unstructured {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, _ := obj.(*unstructured.Unstructured)
	return o
}
