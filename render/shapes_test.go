package render

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/workload"
)

// documentedShapes returns the CUE examples of the README's "Shaping the
// VM" section, so the README cannot show a shape that does not render.
func documentedShapes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "## Shaping the VM")
	if start < 0 {
		t.Fatal(`README has no "## Shaping the VM" section`)
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```cue\n(.*?)```").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	if len(out) < 4 {
		t.Fatalf("found %d CUE examples in README's Shaping the VM; want placement, instancetype, Multus and live migration", len(out))
	}
	return out
}

// The server-side dry run (testdata/script/apply_vm_shape.txtar) applies
// the same shapes the README shows.
func TestDocumentedShapesDryRun(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "testdata", "script", "apply_vm_shape.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range documentedShapes(t) {
		if !strings.Contains(string(script), src) {
			t.Errorf("apply_vm_shape.txtar does not apply this README shape; copy it there:\n%s", src)
		}
	}
}

// Every documented shape, and the shaping flags, render VMs the real
// KubeVirt schema accepts without pruning anything.
func TestDocumentedShapesConform(t *testing.T) {
	vmS := vmSchema(t, schemasDir(t))
	shaped := 0
	check := func(name string, cfg *config.Config, ws []workload.Workload) {
		for _, o := range mustRender(t, cfg, ws) {
			if o.GetKind() != "VirtualMachine" {
				continue
			}
			if err := conform(vmS, o.Object); err != nil {
				t.Errorf("%s: VirtualMachine %s: %v", name, o.GetName(), err)
			}
			shaped++
		}
	}
	for i, src := range documentedShapes(t) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "shape.cue"), []byte("package virtwork\n\n"+src), 0o644); err != nil {
			t.Fatal(err)
		}
		ws, err := workload.Load(workload.LoadOptions{Dir: dir, Input: workload.Input{Namespace: "virtwork"}})
		if err != nil {
			t.Fatalf("README shape %d: %v", i+1, err)
		}
		check("README shape "+src[:strings.Index(src, ":")+1], &config.Config{}, ws)
	}
	check("flags", &config.Config{Instancetype: "u1.small", Preference: "fedora", NodeSelector: map[string]string{"zone": "a"}}, builtins(t))
	check("--dedicated-cpu", &config.Config{DedicatedCPU: true}, builtins(t))
	if shaped == 0 {
		t.Fatal("no VMs checked")
	}
}
