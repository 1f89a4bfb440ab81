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

// shapingExamples returns the examples in lang (cue, yaml) of the
// README's "Shaping the VM" section, so the README cannot show a shape
// that does not render.
func shapingExamples(t *testing.T, lang string) []string {
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
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// documentedShapes returns the CUE examples of "Shaping the VM".
func documentedShapes(t *testing.T) []string {
	t.Helper()
	out := shapingExamples(t, "cue")
	if len(out) < 7 {
		t.Fatalf("found %d CUE examples in README's Shaping the VM; want placement, instancetype, Multus, live migration, storage and two Services", len(out))
	}
	return out
}

// documentedConfigs returns the config-file examples of "Shaping the VM".
func documentedConfigs(t *testing.T) []string {
	t.Helper()
	out := shapingExamples(t, "yaml")
	if len(out) < 1 {
		t.Fatal("found no YAML config-file example in README's Shaping the VM")
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
	for _, src := range append(documentedShapes(t), documentedConfigs(t)...) {
		if !strings.Contains(string(script), src) {
			t.Errorf("apply_vm_shape.txtar does not apply this README shape; copy it there:\n%s", src)
		}
	}
}

// Every documented shape, and the shaping flags, render VMs and
// DataVolumes the real KubeVirt and CDI schemas accept without pruning
// anything. There is no such schema of core/v1 Service here: render's
// strict decode checks the Services, and the server dry run
// (apply_vm_shape.txtar) has the API server validate them.
func TestDocumentedShapesConform(t *testing.T) {
	dir := schemasDir(t)
	vmS, dvS := vmSchema(t, dir), dvSchema(t, dir)
	var vms, dvs int
	check := func(cfg *config.Config, ws []workload.Workload) {
		vms, dvs = checkConformance(t, vmS, dvS, mustRender(t, cfg, ws), vms, dvs)
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
		check(&config.Config{}, ws)
	}
	for i, src := range documentedConfigs(t) {
		path := filepath.Join(t.TempDir(), "virtwork.yaml")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Flags{Config: &path}, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("README config file %d: %v", i+1, err)
		}
		check(cfg, builtins(t))
	}
	check(&config.Config{Instancetype: "u1.small", Preference: "fedora", NodeSelector: map[string]string{"zone": "a"}}, builtins(t))
	check(&config.Config{DedicatedCPU: true}, builtins(t))
	if vms == 0 || dvs == 0 {
		t.Fatalf("checked %d VMs and %d DataVolumes; want some of each", vms, dvs)
	}
}
