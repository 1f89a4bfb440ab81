package apply

import (
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"
)

func TestUnifiedDiffOfCreatedAndPrunedObjects(t *testing.T) {
	id := object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "Service"}, Namespace: "ns", Name: "svc"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "svc", "namespace": "ns"},
	}}
	pruned, err := unifiedDiff(id, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pruned, "+++ /dev/null\n") || regexp.MustCompile(`(?m)^\+[^+]`).MatchString(pruned) {
		t.Errorf("a pruned object should diff against /dev/null with only removed lines:\n%s", pruned)
	}
	created, err := unifiedDiff(id, nil, obj)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(created, "--- /dev/null\n") || regexp.MustCompile(`(?m)^-[^-]`).MatchString(created) {
		t.Errorf("a new object should diff from /dev/null with only added lines:\n%s", created)
	}
}
