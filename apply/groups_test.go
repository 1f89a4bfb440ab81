package apply

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
)

func testItem(kind, group, name string, annotations map[string]string) *item {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(group + "/v1")
	if group == "" {
		u.SetAPIVersion("v1")
	}
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace("ns")
	u.SetAnnotations(annotations)
	return &item{id: object.UnstructuredToObjMetadata(u), obj: u}
}

func groupNames(groups [][]*item) [][]string {
	var out [][]string
	for _, g := range groups {
		var n []string
		for _, it := range g {
			n = append(n, it.id.Name)
		}
		out = append(out, n)
	}
	return out
}

func TestApplyGroupsPutVMsLast(t *testing.T) {
	items := []*item{
		testItem("VirtualMachine", "kubevirt.io", "vm-1", nil),
		testItem("Secret", "", "s", nil),
		testItem("Service", "", "svc", nil),
	}
	groups, err := applyGroups(items)
	if err != nil {
		t.Fatal(err)
	}
	got := groupNames(groups)
	if len(got) != 2 || len(got[0]) != 2 || got[1][0] != "vm-1" {
		t.Errorf("groups %v, want [[s svc] [vm-1]]", got)
	}
}

func TestApplyGroupsFollowDependsOn(t *testing.T) {
	items := []*item{
		testItem("VirtualMachine", "kubevirt.io", "client", map[string]string{
			"config.kubernetes.io/depends-on": "kubevirt.io/namespaces/ns/VirtualMachine/server"}),
		testItem("VirtualMachine", "kubevirt.io", "server", nil),
	}
	groups, err := applyGroups(items)
	if err != nil {
		t.Fatal(err)
	}
	if got := groupNames(groups); len(got) != 2 || got[0][0] != "server" || got[1][0] != "client" {
		t.Errorf("groups %v, want server before client", got)
	}
}
