package apply_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/testenv"
)

// The default set as committed (render's golden file, what `virtwork render`
// prints and users keep in Git) applies from -f until every VM is Ready,
// and destroy with --delete-namespace takes it all away.
func TestApplyCommittedDefaultRender(t *testing.T) {
	e := newEnv(t)
	f, err := os.Open("../testdata/golden/render-default.yaml")
	if err != nil {
		testenv.Missing(t, "no committed render: %v", err)
	}
	defer f.Close()
	objs, err := manifest.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// The golden file targets namespace "virtwork"; this test owns it
	// while it runs (no other test uses that name).
	ns := objs[0].GetName()
	if objs[0].GetKind() != "Namespace" {
		t.Fatalf("first object %s, want the Namespace", objs[0].GetKind())
	}
	s, err := apply.Apply(context.Background(), e.kc, objs, apply.Options{Namespace: ns, Timeout: 2 * time.Minute}, nil)
	t.Cleanup(func() {
		_, _ = apply.Destroy(context.Background(), e.kc, apply.DestroyOptions{Namespace: ns, DeleteNamespace: true, Timeout: 2 * time.Minute}, nil)
	})
	mustSucceed(t, s, err)
	if len(s.VMs) == 0 {
		t.Fatal("no VMs in the default set")
	}
	for _, v := range s.VMs {
		if v.Status != event.VMReady || v.Workload == "" {
			t.Errorf("VM %+v: want Ready, with its workload", v)
		}
	}
	st, err := apply.Status(context.Background(), e.kc, nil, apply.StatusOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Counts(); c[event.StatusCurrent] != len(objs)-1 {
		t.Errorf("status counts %v, want %d Current (all but the Namespace)", c, len(objs)-1)
	}
	s, err = apply.Destroy(context.Background(), e.kc, apply.DestroyOptions{Namespace: ns, DeleteNamespace: true, Timeout: 2 * time.Minute}, nil)
	mustSucceed(t, s, err)
	list, err := e.kc.Dynamic.Resource(vmsGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d VMs left", len(list.Items))
	}
}

// A kustomize overlay over a rendered base (-k) applies with its patches.
func TestApplyKustomizeOverlay(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	objs := set(t, 2, "cpu")
	for _, o := range objs {
		o.SetNamespace(e.ns)
	}
	if err := manifest.WriteDir(base, objs); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	kustomization := `resources: [../base]
labels:
- pairs: {team: perf}
patches:
- target: {kind: VirtualMachine}
  patch: |
    - op: replace
      path: /spec/template/spec/domain/memory/guest
      value: 3Gi
`
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	built, err := manifest.Build(overlay)
	if err != nil {
		t.Fatal(err)
	}
	e.applyOK(built, apply.Options{})
	got, err := e.get(vmsGVR, "cpu-2")
	if err != nil {
		t.Fatal(err)
	}
	mem, _, _ := unstructured.NestedString(got.Object, "spec", "template", "spec", "domain", "memory", "guest")
	if mem != "3Gi" || got.GetLabels()["team"] != "perf" {
		t.Errorf("VM memory %q, labels %v: the overlay's patch and label did not apply", mem, got.GetLabels())
	}
}
