package apply_test

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/kubevirtsim"
)

var (
	vmisGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	dvsGVR  = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
)

// destroy returns only once the guests are gone: the VMIs (which take a
// while to shut down) and the DataVolumes the VMs own, not only the VMs.
func TestDestroyWaitsForTheGuestsAndTheirDisks(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	const shutdown = 2 * time.Second
	sim := e.c.Simulator()
	if err := sim.Configure(e.ns, kubevirtsim.Settings{ShutdownDelay: shutdown}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Reset(e.ns) })
	objs := []*unstructured.Unstructured{secret(t, "disk-cloudinit", "#cloud-config\n")}
	for i := 1; i <= 3; i++ {
		objs = append(objs, vmWithDataVolume(t, fmt.Sprintf("disk-%d", i)))
	}
	e.applyOK(objs, apply.Options{})
	if got := e.names(vmisGVR); len(got) != 3 {
		t.Fatalf("VMIs after apply: %v", got)
	}

	start := time.Now()
	e.destroyOK(apply.DestroyOptions{})
	took := time.Since(start)
	for _, gvr := range []schema.GroupVersionResource{vmsGVR, vmisGVR, dvsGVR} {
		if got := ours(e.allNames(gvr)); len(got) != 0 {
			t.Errorf("destroy returned after %s with %s still there: %v", took.Round(time.Millisecond), gvr.Resource, got)
		}
	}
	if took < shutdown {
		t.Errorf("destroy took %s, less than the guests' %s shutdown", took, shutdown)
	}
	e.holds("after the destroy", f)
}
