//go:build e2e

// Package e2e runs virtwork's whole lifecycle on a real KubeVirt cluster (the
// one $KUBECONFIG selects): render a small set, apply it and wait until every
// guest's agent has connected, check that the guests really run (the guest
// agent reports the OS; each workload Service answers on its ports from
// inside the cluster), then destroy it and check that nothing is left.
//
// Run it with `make e2e`; `go test ./...` never builds it (build tag e2e).
// Settings: E2E_WORKLOADS (default "cpu,network"), E2E_VMS per role
// (default 1), E2E_TIMEOUT for the wait (default 20m), E2E_PROBE_IMAGE (an
// image with sh and nc; default registry.k8s.io/e2e-test-images/busybox).
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/printer"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
)

var (
	vmisGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	vmsGVR  = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("virtwork-e2e-%05d", rand.IntN(100000))
	kc, err := kube.New(kube.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster %s (context %q), namespace %s", kc.Host(), kc.ContextName(), ns)

	vms, _ := strconv.Atoi(env("E2E_VMS", "1"))
	timeout, err := time.ParseDuration(env("E2E_TIMEOUT", "20m"))
	if err != nil {
		t.Fatalf("E2E_TIMEOUT: %v", err)
	}
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: ns}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Namespace: ns, Workloads: strings.Split(env("E2E_WORKLOADS", "cpu,network"), ","), VMCount: vms}
	objs, err := render.Render(cfg, ws)
	if err != nil {
		t.Fatal(err)
	}

	// Whatever happens, take it all away again.
	t.Cleanup(func() {
		s, err := apply.Destroy(context.Background(), kc, apply.DestroyOptions{Namespace: ns, DeleteNamespace: true, Timeout: 10 * time.Minute},
			printer.New(os.Stdout, printer.Plain).Handle)
		if err != nil || s.Outcome != event.Succeeded {
			t.Errorf("destroy: %v (%v); clean up by hand: kubectl delete namespace %s", err, s, ns)
		}
	})

	p := printer.New(os.Stdout, printer.Plain)
	s, err := apply.Apply(ctx, kc, objs, apply.Options{Namespace: ns, WaitFor: kvstatus.WaitForAgent, Timeout: timeout}, p.Handle)
	p.Close()
	if err != nil || s.Outcome != event.Succeeded {
		t.Fatalf("apply: %v, outcome %v", err, s)
	}

	// The guest agent reports the guest OS on every VMI.
	for _, o := range objs {
		if o.GetKind() != "VirtualMachine" {
			continue
		}
		vmi, err := kc.Dynamic.Resource(vmisGVR).Namespace(ns).Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("VMI of %s: %v", o.GetName(), err)
		}
		osName, _, _ := unstructured.NestedString(vmi.Object, "status", "guestOSInfo", "name")
		phase, _, _ := unstructured.NestedString(vmi.Object, "status", "phase")
		if osName == "" || phase != "Running" {
			t.Errorf("VMI %s: phase %q, guest OS %q: want Running with the guest agent reporting the OS", o.GetName(), phase, osName)
		} else {
			t.Logf("VMI %s: %s, guest OS %s", o.GetName(), phase, osName)
		}
	}

	// Every workload Service answers on each of its TCP ports.
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		for _, p := range ports {
			pm, _ := p.(map[string]any)
			if proto, _ := pm["protocol"].(string); proto != "" && proto != "TCP" {
				continue
			}
			port, _, _ := unstructured.NestedInt64(pm, "port")
			if port == 0 {
				if f, ok := pm["port"].(float64); ok {
					port = int64(f)
				}
			}
			probe(t, kc, ns, o.GetName(), port)
		}
	}

	// Every VM of a headless Service's role answers by its own DNS name
	// (how network client N reaches server N), on the Service's ports.
	for _, o := range objs {
		sub, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "subdomain")
		if o.GetKind() != "VirtualMachine" || sub == "" {
			continue
		}
		for _, svc := range objs {
			if svc.GetKind() != "Service" || svc.GetName() != sub {
				continue
			}
			ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			for _, p := range ports {
				if port, ok, _ := unstructured.NestedInt64(p.(map[string]any), "port"); ok {
					probe(t, kc, ns, o.GetName()+"."+sub, port)
				}
			}
		}
	}

	// Destroy (the cleanup) must leave no VM behind.
	s, err = apply.Destroy(ctx, kc, apply.DestroyOptions{Namespace: ns, Timeout: 10 * time.Minute}, nil)
	if err != nil || s.Outcome != event.Succeeded {
		t.Fatalf("destroy: %v, %v", err, s)
	}
	list, err := kc.Dynamic.Resource(vmsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d VMs left after destroy", len(list.Items))
	}
}

// probe runs a pod that connects to svc:port until it answers (5 min).
func probe(t *testing.T, kc *kube.Client, ns, svc string, port int64) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("probe-%s-%d", strings.ReplaceAll(svc, ".", "-"), port)
	script := fmt.Sprintf("for i in $(seq 60); do nc -z -w 3 %s %d && echo open && exit 0; sleep 5; done; exit 1", svc, port)
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"restartPolicy": "Never",
			"containers": []any{map[string]any{
				"name": "probe", "image": env("E2E_PROBE_IMAGE", "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"),
				"command": []any{"sh", "-c", script},
			}},
		},
	}}
	pods := kc.Dynamic.Resource(podsGVR).Namespace(ns)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("probe pod: %v", err)
	}
	defer pods.Delete(ctx, name, metav1.DeleteOptions{})
	deadline := time.Now().Add(6 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch phase, _, _ := unstructured.NestedString(got.Object, "status", "phase"); phase {
		case "Succeeded":
			t.Logf("service %s port %d answers", svc, port)
			return
		case "Failed":
			t.Errorf("service %s port %d never answered", svc, port)
			return
		}
		time.Sleep(5 * time.Second)
	}
	t.Errorf("probe of %s:%d did not finish in time", svc, port)
}
