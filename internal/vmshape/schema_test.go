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
		// An instancetype sizes the VM: KubeVirt's webhook refuses domain.cpu,
		// domain.memory and resources requests beside one.
		{src: `spec: instancetype: name: "u1.medium"
spec: template: spec: domain: cpu: {cores: 8, dedicatedCpuPlacement: true}`, err: "user.cue:2:31: vm.spec.template.spec.domain.cpu: an instancetype (spec.instancetype) sizes the VM"},
		{src: `spec: instancetype: name: "u1.medium"
spec: template: spec: domain: resources: requests: memory: "16Gi"`, err: "user.cue:2:42: vm.spec.template.spec.domain.resources.requests: an instancetype"},
		{src: `spec: instancetype: name: "u1.medium"
spec: template: spec: domain: memory: guest: "16Gi"`, err: "user.cue:2:31: vm.spec.template.spec.domain.memory: an instancetype"},
		{src: `spec: template: spec: evictionStrategy: "LiveMigrat"`, err: "vm.spec.template.spec.evictionStrategy"},
		{src: `spec: template: spec: domain: ioThreadsPolicy: "automatic"`, err: "vm.spec.template.spec.domain.ioThreadsPolicy"},
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

func TestDataVolume(t *testing.T) {
	ctx := cuecontext.New()
	checker, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{
		"metadata": map[string]any{"name": "", "annotations": map[string]any{"cdi.kubevirt.io/storage.deleteAfterCompletion": "false"}},
		"spec": map[string]any{"source": map[string]any{"blank": map[string]any{}},
			"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "10Gi"}}}},
	}
	for _, tc := range []struct {
		src, err string
		sc       StorageClass
		check    func(map[string]any) string
	}{
		{src: `spec: storage: {accessModes: ["ReadWriteMany"], volumeMode: "Block"}
metadata: annotations: "a.example.com/x": "y"`, check: func(dv map[string]any) string {
			st := dv["spec"].(map[string]any)["storage"].(map[string]any)
			ann := dv["metadata"].(map[string]any)["annotations"].(map[string]any)
			if st["volumeMode"] != "Block" || fmt.Sprint(st["accessModes"]) != "[ReadWriteMany]" || st["resources"] == nil {
				return fmt.Sprintf("storage %v: want RWX Block beside the size", st)
			}
			if ann["a.example.com/x"] != "y" || ann["cdi.kubevirt.io/storage.deleteAfterCompletion"] != "false" {
				return fmt.Sprintf("annotations %v: want both", ann)
			}
			return ""
		}},
		// The storage class: the overlay's, or the same as --storage-class.
		{src: `spec: storage: storageClassName: "fast"`, sc: StorageClass{"fast", "--storage-class"}, check: func(dv map[string]any) string {
			if dv["spec"].(map[string]any)["storage"].(map[string]any)["storageClassName"] != "fast" {
				return "storage class lost"
			}
			return ""
		}},
		{src: `spec: storage: storageClassName: "slow"`, sc: StorageClass{"fast", "--storage-class"},
			err: `user.cue:1:16: dataVolume.spec.storage.storageClassName: "slow" conflicts with storageClass "fast" (--storage-class)`},
		{src: `spec: storage: accesModes: ["ReadWriteMany"]`, err: "user.cue:1:16: dataVolume.spec.storage.accesModes: field not allowed"},
		{src: `spec: storage: volumeMode: "Blok"`, err: `user.cue:1:16: dataVolume.spec.storage.volumeMode: "Blok" is not one of "Block", "Filesystem"`},
		{src: `spec: storage: resources: requests: storage: "1Gi"`, err: "user.cue:1:37: dataVolume.spec.storage.resources.requests.storage: virtwork owns spec.storage.resources.requests.storage"},
		{src: `spec: source: http: url: "http://example.com/disk.img"`, err: "virtwork owns spec.source: data disks are blank"},
		{src: `metadata: name: "mine"`, err: "dataVolume.metadata.name: virtwork owns metadata.name"},
		{src: `metadata: annotations: "cdi.kubevirt.io/storage.deleteAfterCompletion": "true"`, err: "virtwork owns the annotation cdi.kubevirt.io/storage.deleteAfterCompletion"},
	} {
		o, err := checker.DataVolume(tc.sc, []Layer{ctx.CompileString(tc.src, cue.Filename("user.cue"))})
		checkMerge(t, tc.src, tc.err, o, err, base, tc.check, func() bool {
			return len(base["metadata"].(map[string]any)["annotations"].(map[string]any)) == 1
		})
	}
}

// checkMerge expects err to contain want or, when want is empty, the
// overlay o merged into base to pass check and leave base unchanged.
func checkMerge(t *testing.T, src, want string, o *Overlay, err error, base map[string]any, check func(map[string]any) string, unchanged func() bool) {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line", src, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if msg := check(o.Merge(base)); msg != "" {
		t.Errorf("%s: %s", src, msg)
	}
	if !unchanged() {
		t.Fatalf("%s: Merge changed its base", src)
	}
}

func TestService(t *testing.T) {
	ctx := cuecontext.New()
	checker, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "db", "labels": map[string]any{"app.kubernetes.io/component": "database"}},
		"spec": map[string]any{"type": "ClusterIP", "selector": map[string]any{"app.kubernetes.io/component": "database"},
			"ports": []any{map[string]any{"name": "postgres", "port": int64(5432)}}},
	}
	owned := ServiceOwned{Labels: []string{"app.kubernetes.io/component"}, Ports: []Port{{"postgres", 5432}}}
	headless := owned
	headless.Headless = "peers"
	for _, tc := range []struct {
		src, err string
		owned    ServiceOwned
		check    func(map[string]any) string
	}{
		{src: `spec: {type: "LoadBalancer", ports: [{name: "metrics", port: 9187}]}
metadata: annotations: "lb.example.com/pool": "perf"`, owned: owned, check: func(svc map[string]any) string {
			spec := svc["spec"].(map[string]any)
			ports := spec["ports"].([]any)
			if spec["type"] != "LoadBalancer" || len(ports) != 2 || ports[0].(map[string]any)["name"] != "postgres" || ports[1].(map[string]any)["name"] != "metrics" {
				return fmt.Sprintf("spec %v: want LoadBalancer, postgres then metrics", spec)
			}
			return ""
		}},
		{src: `spec: ipFamilyPolicy: "PreferDualStack"`, owned: headless, check: func(svc map[string]any) string {
			if svc["spec"].(map[string]any)["ipFamilyPolicy"] != "PreferDualStack" {
				return "ipFamilyPolicy lost"
			}
			return ""
		}},
		{src: `spec: typ: "NodePort"`, owned: owned, err: "user.cue:1:7: service.spec.typ: field not allowed"},
		{src: `spec: type: "Nodeport"`, owned: owned, err: `user.cue:1:7: service.spec.type: "Nodeport" is not one of "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		{src: `spec: type: "NodePort"`, owned: headless, err: "user.cue:1:7: service.spec.type: virtwork owns spec.type: a headless Service (peers)"},
		// A misspelt type on a headless Service: the owned field first and alone.
		{src: `spec: type: "Loadbalancer"`, owned: headless, err: "user.cue:1:7: service.spec.type: virtwork owns spec.type: a headless Service (peers)"},
		{src: `spec: clusterIP: "10.0.0.5"`, owned: headless, err: "virtwork owns spec.clusterIP"},
		{src: `spec: selector: app: "x"`, owned: owned, err: "service.spec.selector: virtwork owns spec.selector"},
		{src: `metadata: labels: "app.kubernetes.io/component": "x"`, owned: owned, err: "virtwork owns the label app.kubernetes.io/component"},
		{src: `spec: ports: [{name: "postgres", port: 5433}]`, owned: owned, err: `user.cue:1:16: service.spec.ports: virtwork owns the port "postgres"`},
		{src: `spec: ports: [{name: "pg", port: 5432}]`, owned: owned, err: `service.spec.ports: virtwork owns port 5432`},
	} {
		o, err := checker.Service(tc.owned, []Layer{ctx.CompileString(tc.src, cue.Filename("user.cue"))})
		checkMerge(t, tc.src, tc.err, o, err, base, tc.check, func() bool {
			return len(base["spec"].(map[string]any)["ports"].([]any)) == 1
		})
	}
}
