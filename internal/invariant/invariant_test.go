package invariant

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kind of every listed object comes from discovery, with its group:
// a metadata-only LIST may name its items PartialObjectMetadata or nothing,
// and a Kind alone would mix up two groups' kinds of one name.
func TestResourcesTakeTheKindFromDiscovery(t *testing.T) {
	list := func(gv string, rs ...metav1.APIResource) *metav1.APIResourceList {
		return &metav1.APIResourceList{GroupVersion: gv, APIResources: rs}
	}
	ns := func(name, kind string, verbs ...string) metav1.APIResource {
		return metav1.APIResource{Name: name, Kind: kind, Namespaced: true, Verbs: verbs}
	}
	rs, err := resources([]*metav1.APIResourceList{
		list("v1", ns("secrets", "Secret", "list", "get"), ns("secrets/status", "Secret", "get"),
			ns("events", "Event", "list"), ns("bindings", "Binding", "create"),
			metav1.APIResource{Name: "nodes", Kind: "Node", Verbs: []string{"list"}}),
		list("kubevirt.io/v1", ns("virtualmachines", "VirtualMachine", "list")),
		list("test.virtwork.io/v1", ns("virtualmachines", "VirtualMachine", "list")),
		list("metrics.k8s.io/v1beta1", ns("pods", "PodMetrics", "list")),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.gvr.String()+" -> "+key(r.gk, "x"))
	}
	want := []string{
		"/v1, Resource=secrets -> Secret/x",
		"kubevirt.io/v1, Resource=virtualmachines -> VirtualMachine.kubevirt.io/x",
		"test.virtwork.io/v1, Resource=virtualmachines -> VirtualMachine.test.virtwork.io/x",
	}
	if !slices.Equal(got, want) {
		t.Errorf("resources:\n got %q\nwant %q", got, want)
	}
}
