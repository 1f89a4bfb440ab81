package templates

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"cuelang.org/go/cue/cuecontext"

	virtworkcue "github.com/virtwork/virtwork/cue"
)

// inputs are a valid in of each template.
var inputs = map[string]any{
	"#Namespace": map[string]any{"name": "ns", "labels": map[string]any{"a": "b"}},
	"#Secret":    map[string]any{"name": "s", "namespace": "ns", "labels": map[string]any{"a": "b"}, "userData": "#cloud-config\n"},
	"#Service": map[string]any{"name": "s", "namespace": "ns", "labels": map[string]any{"a": "b"}, "selector": map[string]any{"a": "b"},
		"headless": true, "type": "ClusterIP", "ports": []any{map[string]any{"port": 5432}}},
	"#VirtualMachine": map[string]any{"namespace": "ns", "labels": map[string]any{"a": "b"}, "image": "img", "secret": "s",
		"cores": 2, "memory": "2Gi", "dataDisks": []any{map[string]any{"name": "data", "size": "10Gi"}}, "storageClass": "fast", "subdomain": "x"},
}

// TestTemplatesTyped breaks one field of a template at a time, as a typo
// or a wrong value would, and expects the check against the generated API
// type to reject it at the template's file:line:col.
func TestTemplatesTyped(t *testing.T) {
	for _, tc := range []struct {
		file, def, old, new, err string
	}{
		{"vm.cue", "#VirtualMachine", "terminationGracePeriodSeconds: 0", "terminationGracePeriodSecond: 0", "terminationGracePeriodSecond: field not allowed"},
		{"vm.cue", "#VirtualMachine", "cpu: cores: in.cores", `cpu: cores: "two"`, "cores: conflicting values"},
		{"vm.cue", "#VirtualMachine", "source: blank: {}", "source: blanc: {}", "blanc: field not allowed"},
		{"service.cue", "#Service", "targetPort: p.port", "targetPorts: p.port", "targetPorts: field not allowed"},
		{"secret.cue", "#Secret", "stringData: (#UserDataKey): in.userData", "stringData: (#UserDataKey): 1", "conflicting values"},
		{"namespace.cue", "#Namespace", "labels: in.labels", "label: in.labels", "label: field not allowed"},
	} {
		t.Run(tc.file+"/"+tc.new, func(t *testing.T) {
			src, err := fs.ReadFile(virtworkcue.Templates, "templates/"+tc.file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			at := strings.Index(text, tc.old)
			if at < 0 {
				t.Fatalf("%s no longer has %q: update the test", tc.file, tc.old)
			}
			line := strings.Count(text[:at], "\n") + 1
			broken := embedded()
			broken["templates/"+tc.file] = &fstest.MapFile{Data: []byte(strings.Replace(text, tc.old, tc.new, 1))}

			err = func() error {
				inst, err := parse(broken)
				if err != nil {
					return err
				}
				pkg, err := buildInstance(cuecontext.New(), inst)
				if err != nil {
					return err
				}
				return check(pkg)
			}()
			wantAt := fmt.Sprintf("cue/templates/%s:%d:", tc.file, line)
			if err == nil || !strings.Contains(err.Error(), wantAt) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v\nwant %q at %s", err, tc.err, wantAt)
			}
		})
	}
}

// TestEveryTemplateChecked: a template without a check in checks.cue
// would go untyped, so it is an error.
func TestEveryTemplateChecked(t *testing.T) {
	m := embedded()
	m["templates/extra.cue"] = &fstest.MapFile{Data: []byte("package templates\n\n#ConfigMap: {in: {}, out: {apiVersion: \"v1\", kind: \"ConfigMap\"}}\n")}
	inst, err := parse(m)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := buildInstance(cuecontext.New(), inst)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(pkg); err == nil || !strings.Contains(err.Error(), "template #ConfigMap has no check") {
		t.Errorf("error %v, want one saying #ConfigMap has no check", err)
	}
}

// embedded is a copy of the embedded templates to change.
func embedded() fstest.MapFS {
	m := fstest.MapFS{}
	fs.WalkDir(virtworkcue.Templates, "templates", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(virtworkcue.Templates, p)
			m[p] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	return m
}

// TestEval evaluates each template with a valid input: integers decode as
// int64 (as unstructured objects hold them), optional inputs appear.
func TestEval(t *testing.T) {
	for def, in := range inputs {
		obj, err := Eval(def, in)
		if err != nil {
			t.Fatalf("%s: %v", def, err)
		}
		if obj["apiVersion"] == nil || obj["kind"] == nil {
			t.Errorf("%s: no apiVersion or kind in %v", def, obj)
		}
	}
	vm, err := Eval("#VirtualMachine", inputs["#VirtualMachine"])
	if err != nil {
		t.Fatal(err)
	}
	podSpec := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	if cores := podSpec["domain"].(map[string]any)["cpu"].(map[string]any)["cores"]; cores != int64(2) {
		t.Errorf("cores = %#v, want int64(2)", cores)
	}
	if podSpec["subdomain"] != "x" {
		t.Errorf("subdomain = %v, want x", podSpec["subdomain"])
	}
	if _, err := Eval("#VirtualMachine", map[string]any{"cores": 0}); err == nil || !strings.Contains(err.Error(), "#VirtualMachine") {
		t.Errorf("incomplete input: error %v, want one naming #VirtualMachine", err)
	}
}

// BenchmarkEval measures one evaluation of each template (render does one
// per role, Service and Namespace; the package is built and checked once
// per process, before the timer).
func BenchmarkEval(b *testing.B) {
	if _, err := Eval("#Namespace", inputs["#Namespace"]); err != nil {
		b.Fatal(err)
	}
	for _, def := range []string{"#Namespace", "#Secret", "#Service", "#VirtualMachine"} {
		b.Run(def, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Eval(def, inputs[def]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
