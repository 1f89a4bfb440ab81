package vmshape

import (
	"fmt"
	"strings"
	"testing"

	"cuelang.org/go/cue"

	"cuelang.org/go/cue/cuecontext"
)

func BenchmarkLoadSchema(b *testing.B) {
	for b.Loop() {
		if _, err := New(cuecontext.New()); err != nil {
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
	for _, tc := range []struct {
		src, err string
		check    func(map[string]any) string
	}{
		{src: `spec: template: spec: domain: ioThreadsPolicy: "auto"`, check: func(vm map[string]any) string {
			d := domain(vm)
			if d["ioThreadsPolicy"] != "auto" || d["cpu"] == nil {
				return "want ioThreadsPolicy auto beside the template's cpu"
			}
			return ""
		}},
		{src: `spec: instancetype: name: "u1.small"
spec: template: spec: networks: [{name: "br", multus: networkName: "br"}]`, check: func(vm map[string]any) string {
			if d := domain(vm); d["cpu"] != nil || d["resources"] != nil {
				return "an instancetype VM still sets cpu or resources"
			}
			nets := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["networks"].([]any)
			if len(nets) != 2 || nets[0].(map[string]any)["name"] != "default" || nets[1].(map[string]any)["name"] != "br" {
				return fmt.Sprintf("networks %v, want default then br", nets)
			}
			return ""
		}},
		{src: `spec: template: spec: domain: ioThreadPolicy: "auto"`, err: "user.cue:1:31: vm.spec.template.spec.domain.ioThreadPolicy: field not allowed"},
		{src: `spec: template: spec: domain: cpu: cores: "two"`, err: "user.cue:1:36: vm.spec.template.spec.domain.cpu.cores: conflicting values"},
		{src: `spec: runStrategy: "Halted"`, err: "user.cue:1:7: vm.spec.runStrategy: virtwork owns spec.runStrategy"},
		{src: `metadata: labels: "app.kubernetes.io/component": "x"`, err: "virtwork owns the label app.kubernetes.io/component"},
		{src: `spec: template: spec: hostname: "x"`, err: "virtwork owns spec.template.spec.hostname"},
		{src: `spec: template: spec: networks: [{name: "default", pod: {}}]`, err: `virtwork owns the network "default"`},
	} {
		v := ctx.CompileString(tc.src, cue.Filename("user.cue"))
		out, err := checker.Apply(base, owned, []Layer{v})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.src, err)
			}
			if msg := tc.check(out); msg != "" {
				t.Errorf("%s: %s", tc.src, msg)
			}
			if domain(base)["cpu"] == nil {
				t.Fatalf("%s: Apply changed its base", tc.src)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.err)
		}
	}
}

func domain(vm map[string]any) map[string]any {
	return vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["domain"].(map[string]any)
}
