package vmshape

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"

	"cuelang.org/go/cue/cuecontext"
)

func BenchmarkLoadSchema(b *testing.B) {
	for b.Loop() {
		if _, err := schema(cuecontext.New()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestApply(t *testing.T) {
	ctx := cuecontext.New()
	checker, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": "", "labels": map[string]any{"app.kubernetes.io/component": "disk"}},
		"spec": map[string]any{"runStrategy": "Always", "template": map[string]any{"spec": map[string]any{
			"domain":   map[string]any{"cpu": map[string]any{"cores": int64(2)}, "resources": map[string]any{}, "devices": map[string]any{}},
			"networks": []any{map[string]any{"name": "default", "pod": map[string]any{}}},
		}}}}
	owned := Owned{Labels: []string{"app.kubernetes.io/component"}, Volumes: []string{"rootdisk"}, Networks: []string{"default"}}
	for _, tc := range []struct{ src, err string }{
		{`spec: template: spec: domain: ioThreadsPolicy: "auto"`, ""},
		{`spec: instancetype: name: "u1.small"
spec: template: spec: networks: [{name: "br", multus: networkName: "br"}]`, ""},
		{`spec: template: spec: domain: ioThreadPolicy: "auto"`, "user.cue:1:31: vm.spec.template.spec.domain.ioThreadPolicy: field not allowed"},
		{`spec: runStrategy: "Halted"`, "virtwork owns spec.runStrategy"},
		{`metadata: labels: "app.kubernetes.io/component": "x"`, "virtwork owns the label app.kubernetes.io/component"},
		{`spec: template: spec: networks: [{name: "default", pod: {}}]`, `virtwork owns the network "default"`},
	} {
		v := ctx.CompileString(tc.src, cue.Filename("user.cue"))
		out, err := checker.Apply(base, owned, []Layer{v})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.src, err)
			}
			if out["spec"].(map[string]any)["template"] == nil {
				t.Errorf("%s: lost the template", tc.src)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.err)
		} else {
			t.Logf("%v", err)
		}
	}
}
