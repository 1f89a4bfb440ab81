package render

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/names"
	"github.com/virtwork/virtwork/internal/workload"
)

// The metrics Service selects every VM of the set on the exporter's port,
// headless; the ServiceMonitor comes only when asked for and selects that
// Service alone.
func TestMetricsServiceAndServiceMonitor(t *testing.T) {
	objs := mustRender(t, &config.Config{}, fixtures())
	svc := find(t, objs, "Service", MetricsServiceName)
	if ip, _, _ := unstructured.NestedString(svc.Object, "spec", "clusterIP"); ip != "None" {
		t.Errorf("clusterIP %q, want None (headless: one endpoint per VM)", ip)
	}
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	for _, vm := range byKind(objs, "VirtualMachine") {
		labels, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("the metrics Service's selector %v misses VM %s (template labels %v)", sel, vm.GetName(), labels)
			}
		}
	}
	if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ServiceMonitor" }) {
		t.Error("a ServiceMonitor without --service-monitor")
	}

	objs = mustRender(t, &config.Config{ServiceMonitor: true}, fixtures())
	sm := find(t, objs, "ServiceMonitor", MetricsServiceName)
	if err := Check(sm); err != nil {
		t.Fatal(err)
	}
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for _, s := range byKind(objs, "Service") {
		selected := true
		for k, v := range match {
			selected = selected && s.GetLabels()[k] == v
		}
		if selected != (s.GetName() == MetricsServiceName) {
			t.Errorf("ServiceMonitor selector %v selects Service %s: %v", match, s.GetName(), selected)
		}
	}
	// Checked as strictly as the other kinds.
	bad := sm.DeepCopy()
	_ = unstructured.SetNestedSlice(bad.Object, []any{map[string]any{"port": "metrics", "intervall": "30s"}}, "spec", "endpoints")
	if err := Check(bad); err == nil || !strings.Contains(err.Error(), `unknown field "spec.endpoints[0].intervall"`) {
		t.Errorf("Check of a misspelt endpoint field: %v", err)
	}
}

func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in %d objects", kind, name, len(objs))
	return nil
}

// Of the built-in workloads only the network server declares no metrics:
// its VMs, and no others, carry the annotation that tells results they
// report with guest figures alone, each VM its own copy of it.
func TestGuestFiguresAnnotation(t *testing.T) {
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: "perf"}})
	if err != nil {
		t.Fatal(err)
	}
	vms := byKind(mustRender(t, &config.Config{Namespace: "perf", VMCount: 2}, ws), "VirtualMachine")
	annotated := map[string]bool{}
	for _, vm := range vms {
		if v, ok := vm.GetAnnotations()[names.AnnotationFigures]; ok {
			annotated[vm.GetName()] = v == names.FiguresGuest
		}
	}
	if len(annotated) != 2 || !annotated["network-server-1"] || !annotated["network-server-2"] {
		t.Errorf("annotated %v, want network-server-1 and -2 with %q only", annotated, names.FiguresGuest)
	}
	for _, vm := range vms {
		if vm.GetName() == "network-server-1" {
			if err := unstructured.SetNestedField(vm.Object, "changed", "metadata", "annotations", names.AnnotationFigures); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, vm := range vms {
		if vm.GetName() == "network-server-2" && vm.GetAnnotations()[names.AnnotationFigures] != names.FiguresGuest {
			t.Error("changing one server's annotations changed the other's")
		}
	}
}
