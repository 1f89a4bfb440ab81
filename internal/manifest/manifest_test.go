package manifest

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func obj(kind, name string, extra map[string]any) *unstructured.Unstructured {
	o := map[string]any{
		"apiVersion": "v1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": "ns"},
	}
	for k, v := range extra {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

func sample() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ns"}}},
		obj("Secret", "s", map[string]any{"type": "Opaque", "data": map[string]any{"userdata": "I2Nsb3VkLWNvbmZpZwo="}}),
		obj("Service", "svc", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(5201), "protocol": "TCP"}}}}),
		obj("ConfigMap", "cm", map[string]any{"data": map[string]any{"on": "yes", "mode": "0644", "multi": "a\nb\n", "ratio": 0.5}}),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	objs := sample()
	var buf bytes.Buffer
	if err := Encode(&buf, objs); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n---\n"); n != len(objs)-1 {
		t.Errorf("%d separators for %d documents:\n%s", n, len(objs), buf.String())
	}
	got, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(objs) {
		t.Fatalf("decoded %d objects, want %d", len(got), len(objs))
	}
	for i := range objs {
		if !reflect.DeepEqual(got[i].Object, objs[i].Object) {
			t.Errorf("object %d:\n got %#v\nwant %#v", i, got[i].Object, objs[i].Object)
		}
	}
}

// The emitter's output means the same as sigs.k8s.io/yaml's, which
// kubectl uses.
func TestEncodeMatchesSigsYAML(t *testing.T) {
	for _, o := range sample() {
		mine, err := Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := sigsyaml.Unmarshal(mine, &a); err != nil {
			t.Fatal(err)
		}
		if err := sigsyaml.Unmarshal(theirs, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: mine\n%s\nsigs.k8s.io/yaml\n%s", o.GetName(), mine, theirs)
		}
	}
}

func TestDecode(t *testing.T) {
	in := `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
data:
  n: "1"
---
---
# only a comment
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: b
- apiVersion: kubevirt.io/v1
  kind: VirtualMachine
  metadata:
    name: c
  spec:
    template:
      spec:
        domain:
          cpu:
            cores: 2
`
	objs, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	if want := "ConfigMap/a Secret/b VirtualMachine/c"; strings.Join(names, " ") != want {
		t.Fatalf("decoded %v, want %s", names, want)
	}
	if cores, _, err := unstructured.NestedInt64(objs[2].Object, "spec", "template", "spec", "domain", "cpu", "cores"); err != nil || cores != 2 {
		t.Errorf("cores = %v (%v), want int64 2", cores, err)
	}
}

func TestDecodeJSONStream(t *testing.T) {
	in := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}
  {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"x":"1"}}`
	objs, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[1].GetName() != "b" {
		t.Fatalf("decoded %v", objs)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkey: [unclosed\n", "YAML document 2"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\n- a list\n", "YAML document 3 (line 7): not an object"},
		{"apiVersion: v1\nmetadata:\n  name: a\n", "YAML document 1 (line 1): an object needs both apiVersion and kind"},
		{"apiVersion: v1\nkind: ConfigMap\n", "YAML document 1 (line 1): ConfigMap has no metadata.name"},
		{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}} {"oops"`, "JSON document 2"},
	}
	for _, tt := range tests {
		_, err := Decode(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestEncodeRejectsNonJSONValues(t *testing.T) {
	o := obj("ConfigMap", "x", map[string]any{"data": map[string]any{"k": struct{}{}}})
	if err := Encode(&bytes.Buffer{}, []*unstructured.Unstructured{o}); err == nil || !strings.Contains(err.Error(), "ConfigMap ns/x") {
		t.Errorf("Encode = %v, want an error naming the object", err)
	}
}
