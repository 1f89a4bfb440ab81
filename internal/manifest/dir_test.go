package manifest

import (
	"log"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func vm(name string, cores int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1",
		"kind":       "VirtualMachine",
		"metadata":   map[string]any{"name": name, "namespace": "ns"},
		"spec": map[string]any{
			"runStrategy": "Always",
			"template": map[string]any{"spec": map[string]any{"domain": map[string]any{
				"cpu": map[string]any{"cores": cores},
			}}},
		},
	}}
}

func set(n int) []*unstructured.Unstructured {
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ns"}}},
		obj("Secret", "s", map[string]any{"data": map[string]any{"userdata": "eA=="}}),
	}
	for i := 1; i <= n; i++ {
		objs = append(objs, vm("cpu-"+strconv.Itoa(i), 2))
	}
	return objs
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteDirAndBuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "base")
	objs := set(3)
	if err := WriteDir(dir, objs); err != nil {
		t.Fatal(err)
	}
	want := []string{"kustomization.yaml", "namespace-ns.yaml", "secret-s.yaml", "virtualmachine-cpu-1.yaml", "virtualmachine-cpu-2.yaml", "virtualmachine-cpu-3.yaml"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	k, _ := os.ReadFile(filepath.Join(dir, KustomizationFile))
	wantK := marker + `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
sortOptions:
  order: fifo
resources:
- namespace-ns.yaml
- secret-s.yaml
- virtualmachine-cpu-1.yaml
- virtualmachine-cpu-2.yaml
- virtualmachine-cpu-3.yaml
`
	if string(k) != wantK {
		t.Errorf("kustomization.yaml:\n%s\nwant:\n%s", k, wantK)
	}
	one, _ := os.ReadFile(filepath.Join(dir, "virtualmachine-cpu-2.yaml"))
	if want, _ := Marshal(objs[3]); string(one) != string(want) {
		t.Errorf("virtualmachine-cpu-2.yaml:\n%s\nwant:\n%s", one, want)
	}

	built, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(objs) {
		t.Fatalf("built %d objects, want %d", len(built), len(objs))
	}
	for i := range objs {
		if !reflect.DeepEqual(built[i].Object, objs[i].Object) {
			t.Errorf("built object %d:\n%#v\nwant\n%#v", i, built[i].Object, objs[i].Object)
		}
	}

	// An overlay beside the base: a name prefix and a patch of the cores.
	overlay := filepath.Join(filepath.Dir(dir), "overlay")
	if err := os.Mkdir(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(overlay, KustomizationFile), `resources:
- ../base
namePrefix: big-
patches:
- target:
    kind: VirtualMachine
    name: cpu-2
  patch: |-
    - op: replace
      path: /spec/template/spec/domain/cpu/cores
      value: 8
`)
	built, err = Build(overlay)
	if err != nil {
		t.Fatal(err)
	}
	cores := map[string]int64{}
	for _, o := range built {
		if o.GetKind() == "VirtualMachine" {
			c, _, err := unstructured.NestedInt64(o.Object, "spec", "template", "spec", "domain", "cpu", "cores")
			if err != nil {
				t.Fatal(err)
			}
			cores[o.GetName()] = c
		}
	}
	if want := map[string]int64{"big-cpu-1": 2, "big-cpu-2": 8, "big-cpu-3": 2}; !reflect.DeepEqual(cores, want) {
		t.Errorf("overlay VMs %v, want %v", cores, want)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteDirReplacesPreviousRender(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, set(3)); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(dir, set(1)); err != nil {
		t.Fatalf("second render: %v", err)
	}
	want := []string{"kustomization.yaml", "namespace-ns.yaml", "secret-s.yaml", "virtualmachine-cpu-1.yaml"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (stale VMs removed)", got, want)
	}
	if got := listDir(t, filepath.Dir(dir)); !slices.Equal(got, []string{"out"}) {
		t.Errorf("left behind beside the output: %v", got)
	}
}

func TestWriteDirIntoEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDir(dir, set(1)); err != nil {
		t.Fatal(err)
	}
	if got := len(listDir(t, dir)); got != 4 {
		t.Errorf("%d files", got)
	}
}

func TestWriteDirRefuses(t *testing.T) {
	t.Run("foreign non-empty dir", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "notes.txt"), "mine")
		err := WriteDir(dir, set(1))
		if err == nil || !strings.Contains(err.Error(), "is not empty and holds no virtwork render") {
			t.Fatalf("WriteDir = %v", err)
		}
		if got := listDir(t, dir); !slices.Equal(got, []string{"notes.txt"}) {
			t.Errorf("dir changed: %v", got)
		}
	})
	t.Run("someone else's kustomization", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, KustomizationFile), "resources: []\n")
		if err := WriteDir(dir, set(1)); err == nil {
			t.Fatal("WriteDir replaced a kustomization it did not write")
		}
	})
	t.Run("file added to a previous render", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		if err := WriteDir(dir, set(2)); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "patch.yaml"), "x: 1\n")
		err := WriteDir(dir, set(1))
		if err == nil || !strings.Contains(err.Error(), "holds patch.yaml, which virtwork did not write") {
			t.Fatalf("WriteDir = %v", err)
		}
		if got := len(listDir(t, dir)); got != 6 {
			t.Errorf("dir changed: %d entries", got)
		}
	})
}

func TestWriteDirWritesNothingOnError(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	bad := set(2)
	bad = append(bad, obj("ConfigMap", "x", map[string]any{"data": map[string]any{"k": struct{}{}}}))
	if err := WriteDir(dir, bad); err == nil {
		t.Fatal("no error for an object that cannot be encoded")
	}
	dup := append(set(1), set(1)[2])
	if err := WriteDir(dir, dup); err == nil || !strings.Contains(err.Error(), "both be written to virtualmachine-cpu-1.yaml") {
		t.Fatalf("duplicate: %v", err)
	}
	if got := listDir(t, parent); len(got) != 0 {
		t.Errorf("written on error: %v", got)
	}

	// A failed render leaves a previous one as it was.
	if err := WriteDir(dir, set(2)); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)
	if err := WriteDir(dir, bad); err == nil {
		t.Fatal("no error")
	}
	if got := listDir(t, dir); !slices.Equal(got, before) {
		t.Errorf("previous render changed to %v", got)
	}
	if got := listDir(t, parent); !slices.Equal(got, []string{"out"}) {
		t.Errorf("left behind: %v", got)
	}
}

func TestBuildError(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, KustomizationFile), "resources:\n- missing.yaml\n")
	_, err := Build(dir)
	if err == nil || !strings.Contains(err.Error(), "kustomize build "+dir) {
		t.Fatalf("Build = %v", err)
	}
}

// Build orders like the kustomize CLI: a base of WriteDir's keeps its own
// order (sortOptions fifo), an overlay without sortOptions gets
// kustomize's legacy order, and neither logs a warning.
func TestBuildOrder(t *testing.T) {
	var logged strings.Builder
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)

	parent := t.TempDir()
	base := filepath.Join(parent, "base")
	objs := append([]*unstructured.Unstructured{vm("cpu-9", 2)}, append(set(0), vm("cpu-10", 2))...)
	if err := WriteDir(base, objs); err != nil {
		t.Fatal(err)
	}
	names := func(objs []*unstructured.Unstructured) string {
		var out []string
		for _, o := range objs {
			out = append(out, o.GetName())
		}
		return strings.Join(out, " ")
	}
	built, err := Build(base)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(built), "cpu-9 ns s cpu-10"; got != want {
		t.Errorf("base order %q, want %q", got, want)
	}
	overlay := filepath.Join(parent, "overlay")
	if err := os.Mkdir(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(overlay, KustomizationFile), "resources:\n- ../base\n")
	if built, err = Build(overlay); err != nil {
		t.Fatal(err)
	}
	if got, want := names(built), "ns s cpu-10 cpu-9"; got != want {
		t.Errorf("overlay order %q, want %q", got, want)
	}
	if logged.Len() > 0 {
		t.Errorf("kustomize logged: %s", logged.String())
	}
}

func TestWriteDirRefusesCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := WriteDir(".", set(1)); err == nil || !strings.Contains(err.Error(), "is the current directory") {
		t.Fatalf("WriteDir(.) = %v", err)
	}
	if err := WriteDir("sub", set(1)); err != nil {
		t.Fatalf("relative path: %v", err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"sub"}) {
		t.Errorf("entries %v", got)
	}
}
