package kubevirtsim

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

const ownerIndex = "ownerVM"

// indexByOwnerVM indexes DataVolumes by "namespace/vm" of their owning VM.
func indexByOwnerVM(obj any) ([]string, error) {
	o := asUnstructured(obj)
	if o == nil {
		return nil, nil
	}
	if owner := ownerVM(o); owner != "" {
		return []string{o.GetNamespace() + "/" + owner}, nil
	}
	return nil, nil
}

func ownerVM(o *unstructured.Unstructured) string {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "VirtualMachine" && ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}

// vmClock is what the simulator remembers about a VM between reconciles:
// when its DataVolumes' and its VMI's clocks started. Object timestamps have
// only second precision, too coarse for sub-second boot delays.
type vmClock struct {
	vmUID     types.UID
	dvStart   map[string]time.Time
	vmiUID    types.UID
	bootStart time.Time
	boot      time.Duration
	// written is the last status written per object (resource/name/uid), so
	// that a cache still showing the older status causes no repeated write.
	written map[string]string
}

func (s *Simulator) clock(key string, uid types.UID) *vmClock {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clocks[key]
	if c == nil || c.vmUID != uid {
		c = &vmClock{vmUID: uid, dvStart: map[string]time.Time{}, written: map[string]string{}}
		s.clocks[key] = c
	}
	return c
}

func (s *Simulator) forget(key string) {
	s.mu.Lock()
	delete(s.clocks, key)
	s.mu.Unlock()
}

// reconcile brings the VM named by key and its dependents one step closer
// to what KubeVirt and CDI would show, and returns when to look again.
func (s *Simulator) reconcile(ctx context.Context, key string) (time.Duration, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	obj, exists, err := s.vms.GetIndexer().GetByKey(key)
	if err != nil {
		return 0, err
	}
	vm := asUnstructured(obj)
	// A VMI being deleted (its VM's name) stops first, VM or not.
	stopIn, err := s.stopVMI(ctx, key)
	if err != nil {
		return 0, err
	}
	if !exists || vm == nil {
		// No garbage collector runs with a bare API server: delete the
		// VM's dependents here, as the owner references ask.
		s.forget(key)
		return stopIn, s.deleteDependents(ctx, namespace, name)
	}
	if vm.GetDeletionTimestamp() != nil {
		return stopIn, s.finishDeletion(ctx, vm)
	}
	now := time.Now()
	st := s.settingsFor(namespace)
	fault, faultErr := faultOf(vm, st)
	clk := s.clock(key, vm.GetUID())
	p := plan{now: now, vm: vm, fault: fault, faultErr: faultErr}

	// DataVolumes from the VM's templates.
	vmi, vmiExists := s.cachedVMI(key)
	if vmiExists && !ownedBy(vmi, vm) {
		vmiExists = false
	}
	// dvsReady: all Succeeded; dvsStartable: all Succeeded or waiting for
	// the VMI as their first consumer.
	dvsReady, dvsStartable, dvFailed := true, true, false
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	for _, t := range templates {
		tmpl, _ := t.(map[string]any)
		dvName, _, _ := unstructured.NestedString(tmpl, "metadata", "name")
		if dvName == "" {
			continue
		}
		dv, ok := s.cachedDV(namespace + "/" + dvName)
		if !ok {
			// Go on with the created DataVolume at once: with no delay it
			// is done, and the VM's first status is already the right one.
			if dv, err = s.createDataVolume(ctx, vm, tmpl); err != nil {
				return 0, err
			}
			if dv == nil {
				dvsReady, dvsStartable = false, false
				continue
			}
		}
		if !ownedBy(dv, vm) {
			// Someone else's DataVolume; KubeVirt would wait too.
			dvsReady, dvsStartable = false, false
			continue
		}
		start, started := clk.dvStart[dvName]
		waiting := st.WaitForFirstConsumer && !vmiExists && !started
		if !started && !waiting {
			start = now
			clk.dvStart[dvName] = start
		}
		status, phase, next := dataVolumeStatus(dv, now, start, waiting, st.DataVolumeDelay, fault == DataVolumeFailed)
		p.after(next)
		if err := s.patchStatus(ctx, clk, DataVolumes, dv, status); err != nil {
			return 0, err
		}
		switch phase {
		case "Succeeded":
		case "Failed":
			dvFailed, dvsReady, dvsStartable = true, false, false
		case "WaitForFirstConsumer":
			dvsReady = false // the VMI is the first consumer: it may start
		default:
			dvsReady, dvsStartable = false, false
		}
	}

	wantVMI := wantsRunning(vm) && faultErr == nil && fault != Failure && dvsStartable
	stoppingVMI := vmiExists && vmi.GetDeletionTimestamp() != nil
	switch {
	case stoppingVMI:
	case !wantVMI && vmiExists:
		s.writes.Add(1)
		if err := s.dyn.Resource(VirtualMachineInstances).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("deleting VMI: %w", err)
		}
		vmi, vmiExists = nil, false
	case wantVMI && !vmiExists:
		created, err := s.createVMI(ctx, vm)
		if err != nil {
			return 0, err
		}
		if created == nil { // exists already; its event will bring us back
			return 0, nil
		}
		vmi, vmiExists = created, true
		// The create may have taken a while (a busy API server): the VMI's
		// clock starts when it exists, as KubeVirt's does, never before.
		now = time.Now()
		p.now = now
	}
	if stoppingVMI {
		// Shutting down (stopVMI): no status changes, no new VMI yet.
		p.after(stopIn)
	} else if vmiExists {
		if clk.vmiUID != vmi.GetUID() {
			clk.vmiUID, clk.bootStart = vmi.GetUID(), time.Time{}
		}
		if clk.bootStart.IsZero() && dvsReady {
			clk.bootStart = now
			clk.boot = bootDelay(vm, st)
		}
		status, next := vmiStatus(vmi, now, clk.bootStart, clk.boot, st.AgentDelay, fault)
		p.after(next)
		if err := s.patchStatus(ctx, clk, VirtualMachineInstances, vmi, status); err != nil {
			return 0, err
		}
		p.vmiStatus = status
	}
	p.dvFailed, p.dvsReady = dvFailed, dvsReady
	if err := s.patchStatus(ctx, clk, VirtualMachines, vm, vmStatus(p)); err != nil {
		return 0, err
	}
	return p.next, nil
}

// plan collects what reconcile learned for the VM's status and when the
// next timed transition is due.
type plan struct {
	now                time.Time
	vm                 *unstructured.Unstructured
	fault              Fault
	faultErr           error
	vmiStatus          map[string]any
	dvsReady, dvFailed bool
	next               time.Duration
}

func (p *plan) after(d time.Duration) {
	if d > 0 && (p.next == 0 || d < p.next) {
		p.next = d
	}
}

func wantsRunning(vm *unstructured.Unstructured) bool {
	if rs, ok, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy"); ok {
		switch rs {
		case "Always", "RerunOnFailure", "Once":
			return true
		default: // Halted, Manual
			return false
		}
	}
	running, _, _ := unstructured.NestedBool(vm.Object, "spec", "running")
	return running
}

func faultOf(vm *unstructured.Unstructured, st Settings) (Fault, error) {
	if v, ok := vm.GetAnnotations()[FaultAnnotation]; ok {
		f := Fault(v)
		if !validFault(f) {
			return NoFault, fmt.Errorf("annotation %s: unknown fault %q (want one of %v)", FaultAnnotation, v, Faults)
		}
		return f, nil
	}
	return st.Fault, nil
}

// bootDelay is the VM's boot time: its annotation, else the settings' delay
// plus a part of the jitter that is stable for the VM.
func bootDelay(vm *unstructured.Unstructured, st Settings) time.Duration {
	if v, ok := vm.GetAnnotations()[BootDelayAnnotation]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	d := st.BootDelay
	if st.BootJitter > 0 {
		h := fnv.New64a()
		h.Write([]byte(vm.GetUID()))
		d += time.Duration(h.Sum64() % uint64(st.BootJitter))
	}
	return d
}

func ownedBy(o, vm *unstructured.Unstructured) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == vm.GetUID() {
			return true
		}
	}
	return false
}

func (s *Simulator) cachedVMI(key string) (*unstructured.Unstructured, bool) {
	obj, ok, _ := s.vmis.GetIndexer().GetByKey(key)
	if !ok {
		return nil, false
	}
	return asUnstructured(obj), true
}

func (s *Simulator) cachedDV(key string) (*unstructured.Unstructured, bool) {
	obj, ok, _ := s.dvs.GetIndexer().GetByKey(key)
	if !ok {
		return nil, false
	}
	return asUnstructured(obj), true
}

func controllerRef(vm *unstructured.Unstructured) []any {
	return []any{map[string]any{
		"apiVersion":         "kubevirt.io/v1",
		"kind":               "VirtualMachine",
		"name":               vm.GetName(),
		"uid":                string(vm.GetUID()),
		"controller":         true,
		"blockOwnerDeletion": true,
	}}
}

// createDataVolume creates a DataVolume from a VM's template. It returns nil
// without error when the DataVolume exists already (the cache lagged behind)
// or the namespace is terminating.
func (s *Simulator) createDataVolume(ctx context.Context, vm *unstructured.Unstructured, tmpl map[string]any) (*unstructured.Unstructured, error) {
	meta, _, _ := unstructured.NestedMap(tmpl, "metadata")
	spec, _, _ := unstructured.NestedMap(tmpl, "spec")
	md := map[string]any{
		"name":            meta["name"],
		"namespace":       vm.GetNamespace(),
		"ownerReferences": controllerRef(vm),
	}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := meta[k]; ok {
			md[k] = v
		}
	}
	dv := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cdi.kubevirt.io/v1beta1",
		"kind":       "DataVolume",
		"metadata":   md,
		"spec":       spec,
	}}
	s.writes.Add(1)
	created, err := s.dyn.Resource(DataVolumes).Namespace(vm.GetNamespace()).Create(ctx, dv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || terminating(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("creating DataVolume %s: %w", dv.GetName(), err)
	}
	return created, nil
}

// createVMI creates the VM's instance from its template. It returns nil
// without error when the VMI exists already (the cache lagged behind).
func (s *Simulator) createVMI(ctx context.Context, vm *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	meta, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "metadata")
	spec, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "spec")
	md := map[string]any{
		"name":            vm.GetName(),
		"namespace":       vm.GetNamespace(),
		"ownerReferences": controllerRef(vm),
		// KubeVirt removes it once the guest has stopped (stopVMI).
		"finalizers": []any{VMIFinalizer},
	}
	labels := map[string]any{"kubevirt.io/vm": vm.GetName()}
	if l, ok := meta["labels"].(map[string]any); ok {
		for k, v := range l {
			labels[k] = v
		}
	}
	md["labels"] = labels
	if a, ok := meta["annotations"]; ok {
		md["annotations"] = a
	}
	vmi := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1",
		"kind":       "VirtualMachineInstance",
		"metadata":   md,
		"spec":       spec,
	}}
	s.writes.Add(1)
	created, err := s.dyn.Resource(VirtualMachineInstances).Namespace(vm.GetNamespace()).Create(ctx, vmi, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || terminating(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("creating VMI: %w", err)
	}
	return created, nil
}

// VMIFinalizer is the finalizer KubeVirt puts on every VMI
// (kubevirt.io/api core/v1 VirtualMachineInstanceFinalizer); virt-handler
// removes it once the guest has stopped.
const VMIFinalizer = "kubevirt.io/foregroundDeleteVirtualMachine"

// stopVMI plays virt-handler for the VMI named by key if it is being
// deleted: the guest takes ShutdownDelay to stop, then the finalizer is
// removed and the VMI goes. It returns how long until then (0: done, or
// nothing to stop).
func (s *Simulator) stopVMI(ctx context.Context, key string) (time.Duration, error) {
	vmi, ok := s.cachedVMI(key)
	if !ok || vmi.GetDeletionTimestamp() == nil || !slices.Contains(vmi.GetFinalizers(), VMIFinalizer) {
		return 0, nil
	}
	now := time.Now()
	s.mu.Lock()
	since, seen := s.stopping[vmi.GetUID()]
	if !seen {
		since = now
		s.stopping[vmi.GetUID()] = since
	}
	s.mu.Unlock()
	if left := s.settingsFor(vmi.GetNamespace()).ShutdownDelay - now.Sub(since); left > 0 {
		return left, nil
	}
	kept := slices.DeleteFunc(slices.Clone(vmi.GetFinalizers()), func(f string) bool { return f == VMIFinalizer })
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": kept, "resourceVersion": vmi.GetResourceVersion()}})
	if err != nil {
		return 0, err
	}
	s.writes.Add(1)
	_, err = s.dyn.Resource(VirtualMachineInstances).Namespace(vmi.GetNamespace()).Patch(ctx, vmi.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case apierrors.IsConflict(err):
		return 0, nil // a newer version's event brings the VM back
	case err != nil:
		return 0, fmt.Errorf("removing the VMI's finalizer: %w", err)
	}
	s.mu.Lock()
	delete(s.stopping, vmi.GetUID())
	s.mu.Unlock()
	return 0, nil
}

// finishDeletion plays the garbage collector for a VM deleted with
// propagationPolicy Foreground or Orphan: the VM keeps a finalizer until its
// dependents are gone (Foreground) or released (Orphan).
func (s *Simulator) finishDeletion(ctx context.Context, vm *unstructured.Unstructured) error {
	finalizers := vm.GetFinalizers()
	orphan := slices.Contains(finalizers, metav1.FinalizerOrphanDependents)
	if orphan {
		if err := s.releaseDependents(ctx, vm); err != nil {
			return err
		}
	} else {
		if err := s.deleteDependents(ctx, vm.GetNamespace(), vm.GetName()); err != nil {
			return err
		}
		_, vmiLeft := s.cachedVMI(vm.GetNamespace() + "/" + vm.GetName())
		dvsLeft, _ := s.dvs.GetIndexer().ByIndex(ownerIndex, vm.GetNamespace()+"/"+vm.GetName())
		if vmiLeft || len(dvsLeft) > 0 {
			return nil // their delete events bring the VM back
		}
	}
	kept := slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool {
		return f == metav1.FinalizerDeleteDependents || f == metav1.FinalizerOrphanDependents
	})
	if len(kept) == len(finalizers) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": kept, "resourceVersion": vm.GetResourceVersion()}})
	if err != nil {
		return err
	}
	_, err = s.dyn.Resource(VirtualMachines).Namespace(vm.GetNamespace()).Patch(ctx, vm.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the garbage collector's finalizer: %w", err)
	}
	return nil
}

// releaseDependents removes the VM's owner reference from its VMI and
// DataVolumes, as the garbage collector does for an orphaning deletion.
func (s *Simulator) releaseDependents(ctx context.Context, vm *unstructured.Unstructured) error {
	s.mu.Lock()
	s.orphaned[vm.GetUID()] = true
	s.mu.Unlock()
	deps, err := s.dependents(vm.GetNamespace(), vm.GetName())
	if err != nil {
		return err
	}
	for _, d := range deps {
		if !ownedBy(d.obj, vm) {
			continue
		}
		patch := []byte(`{"metadata":{"ownerReferences":null}}`)
		_, err := s.dyn.Resource(d.gvr).Namespace(vm.GetNamespace()).Patch(ctx, d.obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("releasing %s %s: %w", d.gvr.Resource, d.obj.GetName(), err)
		}
	}
	return nil
}

type dependent struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

// dependents returns the cached VMI and DataVolumes of VM namespace/name.
func (s *Simulator) dependents(namespace, name string) ([]dependent, error) {
	var deps []dependent
	if vmi, ok := s.cachedVMI(namespace + "/" + name); ok && ownerVM(vmi) == name {
		deps = append(deps, dependent{VirtualMachineInstances, vmi})
	}
	dvs, err := s.dvs.GetIndexer().ByIndex(ownerIndex, namespace+"/"+name)
	if err != nil {
		return nil, err
	}
	for _, obj := range dvs {
		deps = append(deps, dependent{DataVolumes, asUnstructured(obj)})
	}
	return deps, nil
}

// terminating reports a create refused because the namespace is going away
// (its VMs are about to be deleted too).
func terminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

func (s *Simulator) deleteDependents(ctx context.Context, namespace, name string) error {
	deps, err := s.dependents(namespace, name)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if s.isOrphaned(d.obj) {
			continue // released by an orphaning deletion; the cache lags
		}
		if d.obj.GetDeletionTimestamp() != nil {
			continue // going already
		}
		s.writes.Add(1)
		err := s.dyn.Resource(d.gvr).Namespace(namespace).Delete(ctx, d.obj.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s %s: %w", d.gvr.Resource, d.obj.GetName(), err)
		}
	}
	return nil
}

func (s *Simulator) isOrphaned(o *unstructured.Unstructured) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range o.GetOwnerReferences() {
		if s.orphaned[ref.UID] {
			return true
		}
	}
	return false
}

// patchStatus writes status through the status subresource when it differs
// from what the object shows. A merge patch needs no resourceVersion, so a
// lagging cache causes no conflicts.
func (s *Simulator) patchStatus(ctx context.Context, clk *vmClock, gvr schema.GroupVersionResource, o *unstructured.Unstructured, status map[string]any) error {
	current, _, _ := unstructured.NestedMap(o.Object, "status")
	if sameStatus(current, status) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	writtenKey := gvr.Resource + "/" + o.GetName() + "/" + string(o.GetUID())
	if clk.written[writtenKey] == string(patch) {
		return nil
	}
	s.writes.Add(1)
	_, err = s.dyn.Resource(gvr).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile; its delete event brings the VM back
	}
	if err != nil {
		return fmt.Errorf("updating %s %s status: %w", gvr.Resource, o.GetName(), err)
	}
	clk.written[writtenKey] = string(patch)
	return nil
}

// sameStatus compares the fields status sets (a merge patch leaves others).
func sameStatus(current, status map[string]any) bool {
	for k, v := range status {
		a, _ := json.Marshal(current[k])
		b, _ := json.Marshal(v)
		if string(a) != string(b) {
			return false
		}
	}
	return true
}

// condition builds a condition that changed at the given time, keeping
// lastTransitionTime from old when the status did not change.
func condition(old []any, typ string, status corev1.ConditionStatus, reason, message string, at time.Time) map[string]any {
	ts := stamp(at)
	for _, c := range old {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == string(status) {
			if t, ok := m["lastTransitionTime"].(string); ok {
				ts = t
			}
		}
	}
	c := map[string]any{"type": typ, "status": string(status), "lastTransitionTime": ts}
	if reason != "" {
		c["reason"] = reason
	}
	if message != "" {
		c["message"] = message
	}
	return c
}
