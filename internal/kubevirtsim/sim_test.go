package kubevirtsim_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/testcluster"
)

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{})
}

// env is one test's namespace on the shared cluster, with its own
// simulator settings.
type env struct {
	t   testing.TB
	c   *testcluster.Cluster
	ns  string
	dyn dynamic.Interface
}

func setup(t testing.TB, st kubevirtsim.Settings) *env {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t)
	if err := c.Simulator().Configure(ns, st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Simulator().Reset(ns) })
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, ns: ns, dyn: dyn}
}

// vm builds a VM shaped like a rendered virtwork VM: containerDisk root,
// a blank DataVolume from a template, cloud-init from a Secret.
func vm(name, runStrategy string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1",
		"kind":       "VirtualMachine",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"runStrategy": runStrategy,
			"dataVolumeTemplates": []any{map[string]any{
				"metadata": map[string]any{"name": name + "-data"},
				"spec": map[string]any{
					"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
					"source":  map[string]any{"blank": map[string]any{}},
				},
			}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"virtwork.io/vm": name}},
				"spec": map[string]any{
					"domain": map[string]any{
						"memory":  map[string]any{"guest": "1Gi"},
						"devices": map[string]any{"disks": []any{map[string]any{"name": "root", "disk": map[string]any{"bus": "virtio"}}}},
					},
					"volumes": []any{
						map[string]any{"name": "root", "containerDisk": map[string]any{"image": "quay.io/containerdisks/fedora:41"}},
						map[string]any{"name": "data", "dataVolume": map[string]any{"name": name + "-data"}},
						map[string]any{"name": "cloudinit", "cloudInitNoCloud": map[string]any{"secretRef": map[string]any{"name": name + "-ci"}}},
					},
				},
			},
		},
	}}
	u.SetAnnotations(annotations)
	return u
}

func (e *env) create(o *unstructured.Unstructured) {
	e.t.Helper()
	if _, err := e.dyn.Resource(kubevirtsim.VirtualMachines).Namespace(e.ns).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating VM %s: %v", o.GetName(), err)
	}
}

func (e *env) get(gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
	return e.dyn.Resource(gvr).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

// eventually polls cond until it returns "" or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after %s: %s", timeout, last)
}

func cond(o *unstructured.Unstructured, typ string) (status, reason string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == typ {
			s, _ := m["status"].(string)
			r, _ := m["reason"].(string)
			return s, r
		}
	}
	return "", ""
}

func field(o *unstructured.Unstructured, path ...string) string {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return fmt.Sprint(v)
}

var (
	vms  = kubevirtsim.VirtualMachines
	vmis = kubevirtsim.VirtualMachineInstances
	dvs  = kubevirtsim.DataVolumes
)

func TestVMBootsToReadyThenAgentConnectedAndDeletionRemovesDependents(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{BootDelay: 400 * time.Millisecond, AgentDelay: 300 * time.Millisecond, DataVolumeDelay: 300 * time.Millisecond})
	ctx := context.Background()
	w, err := e.dyn.Resource(vms).Namespace(e.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e.create(vm("boot", "Always", nil))

	// Record what a watching client sees until the guest agent connects.
	var seen []string
	readyBeforeAgent := false
	timeout := time.After(20 * time.Second)
watching:
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error {
				t.Fatalf("watch error: %v", ev.Object)
			}
			if ev.Type != watch.Modified {
				continue
			}
			o := ev.Object.(*unstructured.Unstructured)
			ps := field(o, "status", "printableStatus")
			if len(seen) == 0 || seen[len(seen)-1] != ps {
				seen = append(seen, ps)
			}
			ready, _ := cond(o, "Ready")
			agent, _ := cond(o, "AgentConnected")
			if ready == "True" && agent == "" {
				readyBeforeAgent = true
			}
			if agent == "True" {
				if field(o, "status", "ready") != "true" || field(o, "status", "created") != "true" {
					t.Errorf("agent connected but ready=%s created=%s", field(o, "status", "ready"), field(o, "status", "created"))
				}
				if og, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration"); og != o.GetGeneration() {
					t.Errorf("observedGeneration %d, generation %d", og, o.GetGeneration())
				}
				break watching
			}
		case <-timeout:
			t.Fatalf("VM not AgentConnected after 20s; printableStatus went %v", seen)
		}
	}
	if !slices.Equal(seen, []string{"Provisioning", "Starting", "Running"}) {
		t.Errorf("printableStatus went %v, want [Provisioning Starting Running]", seen)
	}
	if !readyBeforeAgent {
		t.Error("Ready never came before AgentConnected")
	}

	vmiObj, err := e.get(vmis, "boot")
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	var times []string
	stamps, _, _ := unstructured.NestedSlice(vmiObj.Object, "status", "phaseTransitionTimestamps")
	for _, s := range stamps {
		phases = append(phases, s.(map[string]any)["phase"].(string))
		times = append(times, s.(map[string]any)["phaseTransitionTimestamp"].(string))
	}
	if !slices.Equal(phases, []string{"Pending", "Scheduling", "Scheduled", "Running"}) || !slices.IsSorted(times) {
		t.Errorf("VMI phaseTransitionTimestamps %v %v, want Pending..Running in time order", phases, times)
	}
	if l := vmiObj.GetLabels()["virtwork.io/vm"]; l != "boot" {
		t.Errorf("VMI lacks the template's labels: %v", vmiObj.GetLabels())
	}
	dv, err := e.get(dvs, "boot-data")
	if err != nil {
		t.Fatal(err)
	}
	if p := field(dv, "status", "phase"); p != "Succeeded" {
		t.Errorf("DataVolume phase %s, want Succeeded", p)
	}
	if refs := dv.GetOwnerReferences(); len(refs) != 1 || refs[0].Kind != "VirtualMachine" || refs[0].Name != "boot" {
		t.Errorf("DataVolume owner references %v, want the VM", refs)
	}

	if err := e.dyn.Resource(vms).Namespace(e.ns).Delete(ctx, "boot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		_, errVMI := e.get(vmis, "boot")
		_, errDV := e.get(dvs, "boot-data")
		if apierrors.IsNotFound(errVMI) && apierrors.IsNotFound(errDV) {
			return ""
		}
		return fmt.Sprintf("after VM deletion: VMI get: %v; DataVolume get: %v", errVMI, errDV)
	})
}

func TestFaultsShowAsSpecified(t *testing.T) {
	type want struct {
		printable, vmiPhase, dvPhase string
		readyReason                  string
		failure                      bool
	}
	cases := []struct {
		fault kubevirtsim.Fault
		want  want
	}{
		{kubevirtsim.NeverReady, want{printable: "Running", vmiPhase: "Running", dvPhase: "Succeeded", readyReason: "GuestNotReady"}},
		{kubevirtsim.ErrImagePull, want{printable: "ErrImagePull", vmiPhase: "Scheduling", dvPhase: "Succeeded", readyReason: "GuestNotRunning"}},
		{kubevirtsim.ImagePullBackOff, want{printable: "ImagePullBackOff", vmiPhase: "Scheduling", dvPhase: "Succeeded", readyReason: "GuestNotRunning"}},
		{kubevirtsim.ErrorUnschedulable, want{printable: "ErrorUnschedulable", vmiPhase: "Scheduling", dvPhase: "Succeeded", readyReason: "PodNotReady"}},
		{kubevirtsim.DataVolumeFailed, want{printable: "DataVolumeError", dvPhase: "Failed", readyReason: "VMINotExists"}},
		{kubevirtsim.Failure, want{printable: "Starting", dvPhase: "Succeeded", readyReason: "VMINotExists", failure: true}},
	}
	for _, byAnnotation := range []bool{true, false} {
		for _, tc := range cases {
			how := "setting"
			if byAnnotation {
				how = "annotation"
			}
			t.Run(how+"/"+string(tc.fault), func(t *testing.T) {
				t.Parallel()
				st := kubevirtsim.Settings{}
				var ann map[string]string
				if byAnnotation {
					ann = map[string]string{kubevirtsim.FaultAnnotation: string(tc.fault)}
				} else {
					st.Fault = tc.fault
				}
				e := setup(t, st)
				e.create(vm("faulty", "Always", ann))
				var last string
				eventually(t, 15*time.Second, func() string {
					o, err := e.get(vms, "faulty")
					if err != nil {
						return err.Error()
					}
					ready, reason := cond(o, "Ready")
					failure, _ := cond(o, "Failure")
					last = fmt.Sprintf("printableStatus=%s Ready=%s/%s Failure=%s", field(o, "status", "printableStatus"), ready, reason, failure)
					if field(o, "status", "printableStatus") != tc.want.printable || ready != "False" || reason != tc.want.readyReason ||
						(failure == "True") != tc.want.failure {
						return last
					}
					return ""
				})
				dv, err := e.get(dvs, "faulty-data")
				if err != nil || field(dv, "status", "phase") != tc.want.dvPhase {
					t.Errorf("DataVolume: phase %s (err %v), want %s", field(dv, "status", "phase"), err, tc.want.dvPhase)
				}
				vmiObj, err := e.get(vmis, "faulty")
				switch {
				case tc.want.vmiPhase == "" && !apierrors.IsNotFound(err):
					t.Errorf("VMI exists (err %v), want none", err)
				case tc.want.vmiPhase != "" && (err != nil || field(vmiObj, "status", "phase") != tc.want.vmiPhase):
					t.Errorf("VMI phase %s (err %v), want %s", field(vmiObj, "status", "phase"), err, tc.want.vmiPhase)
				}
				if tc.fault == kubevirtsim.ErrorUnschedulable {
					if s, r := cond(vmiObj, "PodScheduled"); s != "False" || r != "Unschedulable" {
						t.Errorf("VMI PodScheduled %s/%s, want False/Unschedulable", s, r)
					}
				}
			})
		}
	}
}

func TestUnknownFaultAnnotationIsAFailureNamingIt(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{})
	e.create(vm("typo", "Always", map[string]string{kubevirtsim.FaultAnnotation: "never-redy"}))
	eventually(t, 10*time.Second, func() string {
		o, err := e.get(vms, "typo")
		if err != nil {
			return err.Error()
		}
		conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
		for _, c := range conds {
			m := c.(map[string]any)
			if m["type"] == "Failure" && strings.Contains(fmt.Sprint(m["message"]), kubevirtsim.FaultAnnotation) &&
				strings.Contains(fmt.Sprint(m["message"]), "never-redy") {
				return ""
			}
		}
		return fmt.Sprintf("conditions %v lack a Failure naming the annotation", conds)
	})
}

func waitPrintable(t *testing.T, e *env, name, want string) *unstructured.Unstructured {
	t.Helper()
	var o *unstructured.Unstructured
	eventually(t, 15*time.Second, func() string {
		var err error
		if o, err = e.get(vms, name); err != nil {
			return err.Error()
		}
		if ps := field(o, "status", "printableStatus"); ps != want {
			return fmt.Sprintf("VM %s printableStatus %s, want %s", name, ps, want)
		}
		return ""
	})
	return o
}

func setRunStrategy(t *testing.T, e *env, name, rs string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"spec":{"runStrategy":%q}}`, rs))
	if _, err := e.dyn.Resource(vms).Namespace(e.ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestHaltedVMIsStoppedAndStartsWhenAsked(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{})
	e.create(vm("halted", "Halted", nil))
	o := waitPrintable(t, e, "halted", "Stopped")
	if ready, reason := cond(o, "Ready"); ready != "False" || reason != "VMINotExists" || field(o, "status", "created") != "false" {
		t.Errorf("stopped VM: Ready %s/%s created %s", ready, reason, field(o, "status", "created"))
	}
	if _, err := e.get(vmis, "halted"); !apierrors.IsNotFound(err) {
		t.Errorf("halted VM has a VMI (err %v)", err)
	}
	setRunStrategy(t, e, "halted", "Always")
	o = waitPrintable(t, e, "halted", "Running")
	if og, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration"); og != o.GetGeneration() || og < 2 {
		t.Errorf("observedGeneration %d, generation %d", og, o.GetGeneration())
	}
	setRunStrategy(t, e, "halted", "Halted")
	waitPrintable(t, e, "halted", "Stopped")
	if _, err := e.get(vmis, "halted"); !apierrors.IsNotFound(err) {
		t.Errorf("VMI still there after halting (err %v)", err)
	}
}

func TestWaitForFirstConsumerHoldsDataVolumesUntilTheVMStarts(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{WaitForFirstConsumer: true, DataVolumeDelay: 200 * time.Millisecond})
	e.create(vm("wffc", "Halted", nil))
	eventually(t, 10*time.Second, func() string {
		dv, err := e.get(dvs, "wffc-data")
		if err != nil {
			return err.Error()
		}
		if p := field(dv, "status", "phase"); p != "WaitForFirstConsumer" {
			return "DataVolume phase " + p
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond) // longer than DataVolumeDelay
	if dv, _ := e.get(dvs, "wffc-data"); field(dv, "status", "phase") != "WaitForFirstConsumer" {
		t.Fatalf("DataVolume left WaitForFirstConsumer without a consumer: %s", field(dv, "status", "phase"))
	}
	setRunStrategy(t, e, "wffc", "Always")
	waitPrintable(t, e, "wffc", "Running")
	if dv, _ := e.get(dvs, "wffc-data"); field(dv, "status", "phase") != "Succeeded" {
		t.Errorf("DataVolume phase %s once the VM runs, want Succeeded", field(dv, "status", "phase"))
	}
}

func TestNamespaceDeletionFinalizes(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{})
	ctx := context.Background()
	cs, err := e.c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	e.create(vm("doomed", "Always", nil))
	waitPrintable(t, e, "doomed", "Running")
	if _, err := cs.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "doomed-ci"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "inventory"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, e.ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() string {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		return fmt.Sprintf("namespace still there: phase %v, err %v", ns.Status.Phase, err)
	})
}

// createVMs creates n VMs named vm-0000... with a few parallel clients.
func createVMs(t testing.TB, e *env, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				o := vm(fmt.Sprintf("vm-%04d", i), "Always", nil)
				if _, err := e.dyn.Resource(vms).Namespace(e.ns).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating VMs: %v", err)
	}
}

// readyCounter counts the namespace's VMs with status.ready, from a watch
// (listing thousands of VMs in a loop would load the API server more than
// the simulator does).
type readyCounter struct {
	mu    sync.Mutex
	ready map[string]bool
	stop  context.CancelFunc
}

func countReady(t testing.TB, e *env) *readyCounter {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &readyCounter{ready: map[string]bool{}, stop: cancel}
	t.Cleanup(cancel)
	inf := dynamicinformer.NewFilteredDynamicInformer(e.dyn, vms, e.ns, 0, cache.Indexers{}, nil).Informer()
	update := func(obj any) {
		o, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		ready, _, _ := unstructured.NestedBool(o.Object, "status", "ready")
		rc.mu.Lock()
		rc.ready[o.GetName()] = ready
		rc.mu.Unlock()
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: update, UpdateFunc: func(_, o any) { update(o) }})
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("VM informer did not sync")
	}
	return rc
}

func (rc *readyCounter) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, r := range rc.ready {
		if r {
			n++
		}
	}
	return n
}

func waitAllReady(t testing.TB, e *env, rc *readyCounter, n int, timeout time.Duration) {
	eventually(t, timeout, func() string {
		if ready := rc.count(); ready != n {
			return fmt.Sprintf("%d of %d VMs ready (simulator sees %+v)", ready, n, e.c.Simulator().Stats())
		}
		return ""
	})
}

func TestThousandVMsAllBecomeReady(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping 1,000 VMs")
	}
	e := setup(t, kubevirtsim.Settings{BootJitter: 500 * time.Millisecond})
	rc := countReady(t, e)
	createVMs(t, e, 1000)
	waitAllReady(t, e, rc, 1000, 5*time.Minute)
}

// BenchmarkThousandVMsToReady measures the time from the first create to
// all of 1,000 VMs (each with a DataVolume) being Ready.
func BenchmarkThousandVMsToReady(b *testing.B) {
	for _, boot := range []time.Duration{0, 2 * time.Second} {
		b.Run("boot="+boot.String(), func(b *testing.B) {
			for range b.N {
				e := setup(b, kubevirtsim.Settings{BootDelay: boot})
				rc := countReady(b, e)
				writes := e.c.Simulator().Stats().Writes
				start := time.Now()
				createVMs(b, e, 1000)
				created := time.Since(start)
				waitAllReady(b, e, rc, 1000, 10*time.Minute)
				b.ReportMetric(created.Seconds(), "create-s")
				b.ReportMetric(time.Since(start).Seconds(), "all-ready-s")
				b.ReportMetric(float64(e.c.Simulator().Stats().Writes-writes)/1000, "sim-writes/VM")
				// Let the namespace go before the next run, so that its
				// deletion does not compete with the next measurement.
				b.StopTimer()
				deleting := time.Now()
				deleteNamespaceAndWait(b, e)
				b.ReportMetric(time.Since(deleting).Seconds(), "ns-delete-s")
				b.StartTimer()
			}
		})
	}
}

// With no garbage collector running, the simulator completes foreground
// and orphan deletions of VMs the way the collector would.
func TestForegroundAndOrphanDeletionOfAVMComplete(t *testing.T) {
	e := setup(t, kubevirtsim.Settings{})
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan} {
		name := strings.ToLower(string(policy))
		e.create(vm(name, "Always", nil))
		waitPrintable(t, e, name, "Running")
		err := e.dyn.Resource(vms).Namespace(e.ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() string {
			_, errVM := e.get(vms, name)
			_, errVMI := e.get(vmis, name)
			_, errDV := e.get(dvs, name+"-data")
			// Foreground deletes the dependents; Orphan leaves them.
			foreground := policy == metav1.DeletePropagationForeground
			if apierrors.IsNotFound(errVM) && apierrors.IsNotFound(errVMI) == foreground && apierrors.IsNotFound(errDV) == foreground {
				return ""
			}
			return fmt.Sprintf("%s deletion: VM get: %v; VMI get: %v; DataVolume get: %v", policy, errVM, errVMI, errDV)
		})
	}
	dv, err := e.get(dvs, "orphan-data")
	if err != nil || len(dv.GetOwnerReferences()) != 0 {
		t.Errorf("orphaned DataVolume: err %v, owner references %v; want it kept without owner", err, dv.GetOwnerReferences())
	}
}

func deleteNamespaceAndWait(t testing.TB, e *env) {
	cs, err := e.c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cs.CoreV1().Namespaces().Delete(ctx, e.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, 5*time.Minute, func() string {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("namespace %s not gone (%v)", e.ns, err)
		}
		return ""
	})
}

// A deleted VMI stays, Terminating, while its guest shuts down
// (ShutdownDelay); a VM deleted in the foreground goes only after it, as
// with the garbage collector and virt-handler on a real cluster.
func TestVMIShutdownHoldsAForegroundDeletion(t *testing.T) {
	const delay = 1500 * time.Millisecond
	e := setup(t, kubevirtsim.Settings{ShutdownDelay: delay})
	e.create(vm("slow", "Always", nil))
	waitPrintable(t, e, "slow", "Running")
	vmi, err := e.get(vmis, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(vmi.GetFinalizers(), kubevirtsim.VMIFinalizer) {
		t.Errorf("VMI finalizers %v, want %s", vmi.GetFinalizers(), kubevirtsim.VMIFinalizer)
	}
	policy := metav1.DeletePropagationForeground
	start := time.Now()
	if err := e.dyn.Resource(vms).Namespace(e.ns).Delete(context.Background(), "slow", metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() string {
		_, errVMI := e.get(vmis, "slow")
		_, errVM := e.get(vms, "slow")
		switch {
		case apierrors.IsNotFound(errVM) && errVMI == nil:
			t.Fatal("the VM went before its VMI")
		case !apierrors.IsNotFound(errVM):
			return fmt.Sprintf("VM still there (%v); VMI: %v", errVM, errVMI)
		}
		return ""
	})
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("VM gone %s after the delete, before the VMI's %s shutdown", elapsed, delay)
	}
}
