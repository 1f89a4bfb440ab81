package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/workload"
)

// fixtures are hand-built workloads covering each shape render handles:
// one role without disks, one role with two data disks (one with its own
// size), and two roles with a Service.
func fixtures() []workload.Workload {
	unit := []workload.Unit{{Name: "virtwork-x.service", Content: "[Service]\nExecStart=/bin/true\n"}}
	return []workload.Workload{
		{Name: "plain", Roles: []workload.Role{{Name: "main", VMCount: 1, Units: unit}}},
		{Name: "store", Roles: []workload.Role{{
			Name: "main", VMCount: 2, CPUCores: 4, Memory: "3Gi", Units: unit,
			DataDisks: []workload.DataDisk{
				{Name: "data", MountPath: "/mnt/data"},
				{Name: "logs", MountPath: "/mnt/logs", Size: "1Gi"},
			},
		}}},
		{
			Name: "pair",
			Roles: []workload.Role{
				{Name: "client", VMCount: 1, Units: unit},
				{Name: "server", VMCount: 1, Units: unit},
			},
			Services: []workload.Service{{Name: "pair-server", Role: "server", Ports: []workload.Port{{Name: "p", Port: 5201, Protocol: "TCP"}}}},
		},
	}
}

func mustRender(t testing.TB, cfg *config.Config, ws []workload.Workload) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(cfg, ws)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return objs
}

func builtins(t testing.TB) []workload.Workload {
	t.Helper()
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: config.DefaultNamespace}})
	if err != nil {
		t.Fatalf("workload.Load: %v", err)
	}
	return ws
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestRenderBuiltinDefaults(t *testing.T) {
	objs := mustRender(t, &config.Config{}, builtins(t))
	want := []string{
		"Namespace/virtwork",
		"Secret/cpu-cloudinit", "Secret/memory-cloudinit", "Secret/disk-cloudinit", "Secret/database-cloudinit",
		"Secret/network-client-cloudinit", "Secret/network-server-cloudinit",
		"Service/iperf3-server", "Service/virtwork-metrics",
		"VirtualMachine/cpu-1", "VirtualMachine/memory-1", "VirtualMachine/disk-1", "VirtualMachine/database-1",
		"VirtualMachine/network-client-1", "VirtualMachine/network-server-1",
	}
	if got := ids(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}
	checkStructure(t, objs)
}

func TestRenderFixtureOrder(t *testing.T) {
	cfg := &config.Config{Namespace: "ns1"}
	objs := mustRender(t, cfg, fixtures())
	want := []string{
		"Namespace/ns1",
		"Secret/plain-cloudinit", "Secret/store-cloudinit", "Secret/pair-client-cloudinit", "Secret/pair-server-cloudinit",
		"Service/pair-server", "Service/virtwork-metrics",
		"VirtualMachine/plain-1", "VirtualMachine/store-1", "VirtualMachine/store-2",
		"VirtualMachine/pair-client-1", "VirtualMachine/pair-server-1",
	}
	if got := ids(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}
	for _, o := range objs[1:] {
		if o.GetNamespace() != "ns1" {
			t.Errorf("%s: namespace %q, want ns1", o.GetName(), o.GetNamespace())
		}
	}
	checkStructure(t, objs)
}

func TestRenderNaturalOrder(t *testing.T) {
	objs := mustRender(t, &config.Config{VMCount: 12, Workloads: []string{"plain"}}, fixtures())
	vms := byKind(objs, "VirtualMachine")
	for i, vm := range vms {
		if want := fmt.Sprintf("plain-%d", i+1); vm.GetName() != want {
			t.Fatalf("VM %d is %s, want %s (vm-2 before vm-10)", i, vm.GetName(), want)
		}
	}
}

// checkStructure asserts what KubeVirt, CDI and the Services need of the
// rendered objects; the webhook rules are listed in REFERENCE.md.
func checkStructure(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	secrets := map[string]*unstructured.Unstructured{}
	for _, s := range byKind(objs, "Secret") {
		secrets[s.GetName()] = s
		if _, found, _ := unstructured.NestedMap(s.Object, "data"); found {
			t.Errorf("Secret %s uses data: the user data belongs in stringData, readable", s.GetName())
		}
		ud, _, _ := unstructured.NestedString(s.Object, "stringData", "userdata")
		if !strings.HasPrefix(ud, "#cloud-config\n") {
			t.Errorf("Secret %s: stringData.userdata is not #cloud-config", s.GetName())
		}
	}
	vms := byKind(objs, "VirtualMachine")
	if len(vms) == 0 {
		t.Fatal("no VMs")
	}
	for _, vm := range vms {
		name := vm.GetName()
		if err := Check(vm); err != nil {
			t.Errorf("Check: %v", err)
		}
		spec := vm.Object["spec"].(map[string]any)
		if spec["runStrategy"] != "Always" {
			t.Errorf("%s: runStrategy %v", name, spec["runStrategy"])
		}
		if _, ok := spec["running"]; ok {
			t.Errorf("%s: sets the deprecated spec.running", name)
		}
		labels := vm.GetLabels()
		tlabels, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
		if !maps.Equal(labels, tlabels) {
			t.Errorf("%s: VM labels %v differ from template labels %v", name, labels, tlabels)
		}
		for _, k := range []string{LabelName, LabelManagedBy, LabelComponent} {
			if labels[k] == "" {
				t.Errorf("%s: no label %s", name, k)
			}
		}
		if labels[LabelName] != "virtwork" || labels[LabelManagedBy] != "virtwork" {
			t.Errorf("%s: labels %v", name, labels)
		}

		disks, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "domain", "devices", "disks")
		volumes, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
		dvts, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
		diskNames := map[string]map[string]any{}
		for _, d := range disks {
			d := d.(map[string]any)
			if bus, _, _ := unstructured.NestedString(d, "disk", "bus"); bus != "virtio" {
				t.Errorf("%s: disk %v bus %q", name, d["name"], bus)
			}
			diskNames[d["name"].(string)] = d
		}
		volNames := map[string]map[string]any{}
		for _, v := range volumes {
			v := v.(map[string]any)
			volNames[v["name"].(string)] = v
		}
		if !maps.EqualFunc(diskNames, volNames, func(a, b map[string]any) bool { return true }) || len(disks) != len(volumes) {
			t.Errorf("%s: disks %v and volumes %v do not pair up by name", name, slices.Sorted(maps.Keys(diskNames)), slices.Sorted(maps.Keys(volNames)))
		}
		if img, _, _ := unstructured.NestedString(volNames["rootdisk"], "containerDisk", "image"); img == "" {
			t.Errorf("%s: no containerDisk root disk", name)
		}
		ref, _, _ := unstructured.NestedString(volNames["cloudinitdisk"], "cloudInitNoCloud", "secretRef", "name")
		if s, ok := secrets[ref]; !ok {
			t.Errorf("%s: cloud-init secretRef %q names no rendered Secret", name, ref)
		} else if !maps.Equal(s.GetLabels(), labels) {
			t.Errorf("%s: its Secret %s has labels %v, want the VM's %v", name, ref, s.GetLabels(), labels)
		}
		for _, dvt := range dvts {
			dvt := dvt.(map[string]any)
			dvName, _, _ := unstructured.NestedString(dvt, "metadata", "name")
			if errs := validation.IsDNS1123Label(dvName); len(errs) > 0 {
				t.Errorf("%s: DataVolume name %q: %v", name, dvName, errs)
			}
			if a, _, _ := unstructured.NestedString(dvt, "metadata", "annotations", AnnotationDeleteAfterCompletion); a != "false" {
				t.Errorf("%s: DataVolume %s: annotation %s = %q", name, dvName, AnnotationDeleteAfterCompletion, a)
			}
			if _, ok, _ := unstructured.NestedMap(dvt, "spec", "source", "blank"); !ok {
				t.Errorf("%s: DataVolume %s: not a blank source", name, dvName)
			}
			if size, _, _ := unstructured.NestedString(dvt, "spec", "storage", "resources", "requests", "storage"); size == "" {
				t.Errorf("%s: DataVolume %s: no spec.storage size", name, dvName)
			}
			var disk string
			for dn, v := range volNames {
				if n, _, _ := unstructured.NestedString(v, "dataVolume", "name"); n == dvName {
					disk = dn
				}
			}
			if disk == "" {
				t.Errorf("%s: DataVolume template %s is referenced by no volume", name, dvName)
				continue
			}
			if serial, _ := diskNames[disk]["serial"].(string); serial != disk {
				t.Errorf("%s: disk %s has serial %q, want its name (for /dev/disk/by-id/virtio-%s)", name, disk, serial, disk)
			}
		}
		if len(volumes) != 2+len(dvts) {
			t.Errorf("%s: %d volumes for %d DataVolume templates", name, len(volumes), len(dvts))
		}
		ifaces, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "domain", "devices", "interfaces")
		nets, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "networks")
		if len(ifaces) != 1 || len(nets) != 1 {
			t.Fatalf("%s: want one interface and one network, got %v and %v", name, ifaces, nets)
		}
		iface, net := ifaces[0].(map[string]any), nets[0].(map[string]any)
		if _, ok := iface["masquerade"]; !ok || iface["name"] != net["name"] {
			t.Errorf("%s: interface %v / network %v", name, iface, net)
		}
		if _, ok := net["pod"]; !ok {
			t.Errorf("%s: network %v is not the pod network", name, net)
		}
	}

	// Every workload Service selects the VMs of its role (through the
	// template labels, which the launcher pods carry) and no others; the
	// metrics Service selects them all (TestMetricsServiceAndServiceMonitor).
	for _, svc := range byKind(objs, "Service") {
		if svc.GetName() == MetricsServiceName {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
		if len(sel) == 0 {
			t.Errorf("Service %s: empty selector", svc.GetName())
		}
		selected := 0
		for _, vm := range vms {
			tl, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
			matches := true
			for k, v := range sel {
				matches = matches && tl[k] == v
			}
			if matches {
				selected++
				if svc.GetLabels()[LabelComponent] != tl[LabelComponent] {
					t.Errorf("Service %s selects VM %s of another workload", svc.GetName(), vm.GetName())
				}
			}
		}
		if selected == 0 {
			t.Errorf("Service %s selects no VM", svc.GetName())
		}
	}
}

func TestServiceSelectsOnlyItsRole(t *testing.T) {
	objs := mustRender(t, &config.Config{}, fixtures())
	svc := byKind(objs, "Service")[0]
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	if want := map[string]string{LabelComponent: "pair", LabelRole: "server"}; !maps.Equal(sel, want) {
		t.Errorf("selector %v, want %v", sel, want)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if want := []any{map[string]any{"name": "p", "port": int64(5201), "targetPort": int64(5201), "protocol": "TCP"}}; !equalJSON(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	if typ, _, _ := unstructured.NestedString(svc.Object, "spec", "type"); typ != "ClusterIP" {
		t.Errorf("type %q", typ)
	}
	for _, vm := range byKind(objs, "VirtualMachine") {
		_, hasRole := vm.GetLabels()[LabelRole]
		if multi := strings.HasPrefix(vm.GetName(), "pair-"); hasRole != multi {
			t.Errorf("%s: has role label %v, want %v (only multi-role workloads)", vm.GetName(), hasRole, multi)
		}
	}
}

func equalJSON(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func ptr[T any](v T) *T { return &v }

func qty(s string) resource.Quantity { return resource.MustParse(s) }

// vmSettings returns, per VM name, count-independent settings of the
// rendered VMs: cores, memory and the sizes of the DataVolumes.
type vmSettings struct {
	cores  int64
	memory string
	sizes  []string
	class  []string
}

func settingsOf(t *testing.T, objs []*unstructured.Unstructured) map[string]vmSettings {
	t.Helper()
	out := map[string]vmSettings{}
	for _, vm := range byKind(objs, "VirtualMachine") {
		var s vmSettings
		s.cores, _, _ = unstructured.NestedInt64(vm.Object, "spec", "template", "spec", "domain", "cpu", "cores")
		s.memory, _, _ = unstructured.NestedString(vm.Object, "spec", "template", "spec", "domain", "resources", "requests", "memory")
		dvts, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
		for _, d := range dvts {
			size, _, _ := unstructured.NestedString(d.(map[string]any), "spec", "storage", "resources", "requests", "storage")
			class, _, _ := unstructured.NestedString(d.(map[string]any), "spec", "storage", "storageClassName")
			s.sizes = append(s.sizes, size)
			s.class = append(s.class, class)
		}
		out[vm.GetName()] = s
	}
	return out
}

func TestResolutionPriority(t *testing.T) {
	ws := fixtures() // store: role defaults 2 VMs, 4 cores, 3Gi, disks data (no size) + logs (1Gi)
	tests := []struct {
		name   string
		cfg    config.Config
		count  int
		cores  int64
		memory string
		sizes  []string
	}{
		{"workload's own, then defaults", config.Config{}, 2, 4, "3Gi", []string{config.DefaultDiskSize, "1Gi"}},
		{"global beats workload's own", config.Config{VMCount: 3, CPUCores: 6, Memory: qty("5Gi"), DiskSize: qty("20Gi")}, 3, 6, "5Gi", []string{"20Gi", "20Gi"}},
		{"per-workload beats global", config.Config{
			VMCount: 3, CPUCores: 6, Memory: qty("5Gi"), DiskSize: qty("20Gi"),
			PerWorkload: map[string]config.WorkloadSettings{"store": {VMCount: ptr(1), CPUCores: ptr(8), Memory: ptr(qty("512Mi")), DiskSize: ptr(qty("30Gi"))}},
		}, 1, 8, "512Mi", []string{"30Gi", "30Gi"}},
		{"per-workload zero count renders none", config.Config{
			VMCount:     3,
			PerWorkload: map[string]config.WorkloadSettings{"store": {VMCount: ptr(0)}},
		}, 0, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Workloads = []string{"store"}
			objs := mustRender(t, &cfg, ws)
			got := settingsOf(t, objs)
			if len(got) != tt.count {
				t.Fatalf("%d VMs, want %d", len(got), tt.count)
			}
			if tt.count == 0 && len(byKind(objs, "Secret")) != 0 {
				t.Errorf("a Secret for a role with no VMs")
			}
			for name, s := range got {
				if s.cores != tt.cores || s.memory != tt.memory || !slices.Equal(s.sizes, tt.sizes) {
					t.Errorf("%s: cores %d memory %s sizes %v; want %d %s %v", name, s.cores, s.memory, s.sizes, tt.cores, tt.memory, tt.sizes)
				}
			}
		})
	}

	// A workload without its own settings falls back to config.Default*.
	got := settingsOf(t, mustRender(t, &config.Config{Workloads: []string{"plain"}}, ws))
	if s := got["plain-1"]; s.cores != config.DefaultCPUCores || s.memory != config.DefaultMemory {
		t.Errorf("plain-1: %+v, want the defaults", s)
	}
}

func TestStorageClass(t *testing.T) {
	got := settingsOf(t, mustRender(t, &config.Config{Workloads: []string{"store"}, StorageClass: "fast"}, fixtures()))
	for name, s := range got {
		if !slices.Equal(s.class, []string{"fast", "fast"}) {
			t.Errorf("%s: storage classes %v", name, s.class)
		}
	}
	got = settingsOf(t, mustRender(t, &config.Config{Workloads: []string{"store"}}, fixtures()))
	if s := got["store-1"]; !slices.Equal(s.class, []string{"", ""}) {
		t.Errorf("storageClassName set without --storage-class: %v", s.class)
	}
}

func TestSelection(t *testing.T) {
	off := map[string]config.WorkloadSettings{"plain": {Enabled: ptr(false)}}
	tests := []struct {
		name string
		cfg  config.Config
		want []string // workloads with VMs
	}{
		{"all by default", config.Config{}, []string{"plain", "store", "pair"}},
		{"disabled skipped", config.Config{PerWorkload: off}, []string{"store", "pair"}},
		{"named beats disabled", config.Config{PerWorkload: off, Workloads: []string{"plain"}}, []string{"plain"}},
		{"exactly those named, in loading order", config.Config{Workloads: []string{"pair", "plain", "pair"}}, []string{"plain", "pair"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, vm := range byKind(mustRender(t, &tt.cfg, fixtures()), "VirtualMachine") {
				if c := vm.GetLabels()[LabelComponent]; !slices.Contains(got, c) {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("workloads %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name string
		cfg  config.Config
		ws   []workload.Workload
		want string
	}{
		{"unknown workload", config.Config{Workloads: []string{"gpu"}}, nil, `unknown workload "gpu"; known workloads: plain, store, pair`},
		{"settings for unknown workload", config.Config{PerWorkload: map[string]config.WorkloadSettings{"gpu": {}}}, nil, `unknown workload "gpu"`},
		{"bad namespace", config.Config{Namespace: "Bad_NS"}, nil, `namespace "Bad_NS" is invalid`},
		{"negative count", config.Config{PerWorkload: map[string]config.WorkloadSettings{"plain": {VMCount: ptr(-1)}}}, nil, "VM count -1 is negative"},
		{"zero memory", config.Config{PerWorkload: map[string]config.WorkloadSettings{"plain": {Memory: ptr(qty("0"))}}}, nil, "memory: 0 must be positive"},
		{"password without user", config.Config{SSHPassword: "secret"}, nil, "needs an SSH user"},
		{"bad disk name", config.Config{}, []workload.Workload{{Name: "w", Roles: []workload.Role{{Name: "r", VMCount: 1, DataDisks: []workload.DataDisk{{Name: "Data"}}}}}}, `data disk name "Data" is invalid`},
		{"reserved disk name", config.Config{}, []workload.Workload{{Name: "w", Roles: []workload.Role{{Name: "r", VMCount: 1, DataDisks: []workload.DataDisk{{Name: "rootdisk"}}}}}}, `"rootdisk" is reserved`},
		{"service of unknown role", config.Config{}, []workload.Workload{{Name: "w", Roles: []workload.Role{{Name: "r", VMCount: 1}}, Services: []workload.Service{{Name: "s", Role: "x"}}}}, `selects role "x"`},
		{"too many VMs in all", config.Config{VMCount: config.MaxVMs / 2}, nil, "brings the set to 37500 VMs, more than 25000"},
		{"too many VMs in CUE", config.Config{}, []workload.Workload{{Name: "w", Roles: []workload.Role{{Name: "r", VMCount: 10_000_000}}}}, "10000000 VMs, more than 25000"},
		{"long disk name collides", config.Config{}, []workload.Workload{{Name: "w", Roles: []workload.Role{{Name: "r", VMCount: 1, DataDisks: []workload.DataDisk{{Name: long[:63]}, {Name: long[:63]}}}}}}, "both named"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := tt.ws
			if ws == nil {
				ws = fixtures()
			}
			_, err := Render(&tt.cfg, ws)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if strings.Contains(err.Error(), "secret") && tt.cfg.SSHPassword != "" {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	cfg := &config.Config{SSHUser: "fedora", SSHPassword: "hunter2", SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"}, VMCount: 3}
	encode := func() []byte {
		var buf bytes.Buffer
		if err := manifest.Encode(&buf, mustRender(t, cfg, builtins(t))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := encode(), encode()
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same input differ")
	}
	if bytes.Contains(a, []byte("hunter2")) {
		t.Fatal("the password is in the output")
	}
}

func TestNamesAtScale(t *testing.T) {
	long := strings.Repeat("w", 60)
	ws := []workload.Workload{
		{Name: long, Roles: []workload.Role{
			{Name: "client", VMCount: 1, DataDisks: []workload.DataDisk{{Name: "data"}}},
			{Name: "server", VMCount: 1},
		}},
		{Name: long[:59] + "x", Roles: []workload.Role{{Name: "main", VMCount: 1}}},
		{Name: "cpu", Roles: []workload.Role{{Name: "main", VMCount: 1}}},
	}
	// As many VMs as one render may hold; the long workload's have 5-digit
	// numbers.
	objs := mustRender(t, &config.Config{VMCount: 2500, PerWorkload: map[string]config.WorkloadSettings{long: {VMCount: ptr(10000)}}}, ws)
	vms := byKind(objs, "VirtualMachine")
	if len(vms) != config.MaxVMs {
		t.Fatalf("%d VMs, want %d", len(vms), config.MaxVMs)
	}
	seen := map[string]bool{}
	check := func(kind, n string) {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Fatalf("%s name %q: %v", kind, n, errs)
		}
		if seen[kind+n] {
			t.Fatalf("%s name %q twice", kind, n)
		}
		seen[kind+n] = true
	}
	for _, o := range objs {
		check(o.GetKind(), o.GetName())
		dvts, _, _ := unstructured.NestedSlice(o.Object, "spec", "dataVolumeTemplates")
		for _, d := range dvts {
			n, _, _ := unstructured.NestedString(d.(map[string]any), "metadata", "name")
			check("DataVolume", n)
		}
	}
	// Cut names keep the index at the end, in order.
	if n := vms[9999].GetName(); !strings.HasSuffix(n, "-10000") || len(n) != 63 {
		t.Errorf("last client VM is %q, want 63 characters ending in -10000", n)
	}
	if n := vms[0].GetName(); !strings.HasPrefix(n, long[:40]) || !strings.HasSuffix(n, "-1") {
		t.Errorf("first VM is %q, want the workload name cut short, a hash and -1", n)
	}
	if got := vms[22500].GetName(); got != "cpu-1" {
		t.Errorf("short names are not cut: %q", got)
	}
}

func TestNameFunctions(t *testing.T) {
	if got := vmName("cpu", "", 7); got != "cpu-7" {
		t.Errorf("vmName = %q", got)
	}
	if got := vmName("network", "server", 10); got != "network-server-10" {
		t.Errorf("vmName = %q", got)
	}
	if got := secretName("network", "client"); got != "network-client-cloudinit" {
		t.Errorf("secretName = %q", got)
	}
	if got := dataVolumeName("disk-3", "data"); got != "disk-3-data" {
		t.Errorf("dataVolumeName = %q", got)
	}
	// A cut ends in the hash, never in "-" followed by "-".
	a := name("-1", strings.Repeat("a", 40)+"-"+strings.Repeat("b", 30))
	b := name("-1", strings.Repeat("a", 40)+"-"+strings.Repeat("c", 30))
	if a == b || len(a) != 63 || strings.Contains(a, "--") || len(validation.IsDNS1123Label(a)) > 0 {
		t.Errorf("cut names %q and %q", a, b)
	}
	if got := name(strings.Repeat("-x", 40), "w"); len(got) > 63 || len(validation.IsDNS1123Label(got)) > 0 {
		t.Errorf("over-long suffix gives %q", got)
	}
}

func TestStampedCopiesAreIndependentWhereItMatters(t *testing.T) {
	objs := mustRender(t, &config.Config{Workloads: []string{"store"}}, fixtures())
	vms := byKind(objs, "VirtualMachine")
	vms[0].SetLabels(map[string]string{"x": "y"})
	vms[0].SetAnnotations(map[string]string{"a": "b"})
	if err := unstructured.SetNestedField(vms[0].Object, "z", "spec", "template", "metadata", "labels", "x"); err != nil {
		t.Fatal(err)
	}
	if vms[1].GetLabels()["x"] != "" || vms[1].GetAnnotations()["a"] != "" {
		t.Error("setting one VM's metadata changed another's")
	}
	if l, _, _ := unstructured.NestedStringMap(vms[1].Object, "spec", "template", "metadata", "labels"); l["x"] != "" {
		t.Error("setting one VM's template labels changed another's")
	}
	dv0, _, _ := unstructured.NestedSlice(vms[0].Object, "spec", "dataVolumeTemplates")
	dv1, _, _ := unstructured.NestedSlice(vms[1].Object, "spec", "dataVolumeTemplates")
	n0, _, _ := unstructured.NestedString(dv0[0].(map[string]any), "metadata", "name")
	n1, _, _ := unstructured.NestedString(dv1[0].(map[string]any), "metadata", "name")
	if n0 != "store-1-data" || n1 != "store-2-data" {
		t.Errorf("DataVolume names %q %q", n0, n1)
	}
}

func TestCheck(t *testing.T) {
	vm := byKind(mustRender(t, &config.Config{Workloads: []string{"store"}}, fixtures()), "VirtualMachine")[0]
	if err := Check(vm); err != nil {
		t.Fatalf("rendered VM: %v", err)
	}
	tests := []struct {
		name  string
		path  []string
		value any
		want  string
	}{
		{"unknown field", []string{"spec", "template", "spec", "domain", "cpu", "coress"}, int64(2), `unknown field "spec.template.spec.domain.cpu.coress"`},
		{"mistyped field", []string{"spec", "template", "spec", "domain", "cpu", "cores"}, "two", "cores"},
		{"unknown field below a custom UnmarshalJSON", []string{"spec", "template", "spec", "networks"}, []any{map[string]any{"name": "default", "pod": map[string]any{"cidr": "10.0.0.0/8"}}}, `unknown field "spec.template.spec.networks[0].pod.cidr"`},
		{"mistyped quantity", []string{"spec", "template", "spec", "domain", "resources", "requests", "memory"}, "lots", "memory"},
		{"unknown field in a DataVolume template", []string{"spec", "dataVolumeTemplates"}, []any{map[string]any{"metadata": map[string]any{"name": "x"}, "spec": map[string]any{"storage": map[string]any{"size": "1Gi"}}}}, `unknown field "spec.dataVolumeTemplates[0].spec.storage.size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := vm.DeepCopy()
			if err := unstructured.SetNestedField(bad.Object, tt.value, tt.path...); err != nil {
				t.Fatal(err)
			}
			err := Check(bad)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, o := range []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}, "data": map[string]any{"k": int64(1)}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "s"}, "spec": map[string]any{"ports": []any{map[string]any{"prot": int64(1)}}}}},
		{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}},
	} {
		err := Check(o)
		if err == nil {
			t.Errorf("Check accepted %v", o.Object)
		}
		if unknown := o.GetKind() == "Widget"; errors.Is(err, ErrUnknownKind) != unknown {
			t.Errorf("Check(%s) = %v; ErrUnknownKind only for kinds outside the known APIs", o.GetKind(), err)
		}
	}
}

// TestNetworkPairs: with several pairs, each iperf3 client targets its
// own server by a DNS name that exists: server VM N has host name
// network-server-N and the headless Service as subdomain, and the client
// script (one Secret for all clients) derives that name from its own host
// name. The script runs here in sh with uname stubbed. Names stay valid
// DNS (labels <= 63, FQDN <= 253) up to 10,000 pairs in the longest
// namespace.
func TestNetworkPairs(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct {
		ns    string
		pairs int
		check []int // client indexes whose script is run
	}{
		{"load-test", 4, []int{1, 2, 3, 4}},
		{strings.Repeat("n", 63), 10000, []int{1, 9999, 10000}},
	} {
		ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: tc.ns}})
		if err != nil {
			t.Fatal(err)
		}
		objs := mustRender(t, &config.Config{Namespace: tc.ns, VMCount: tc.pairs, Workloads: []string{"network"}}, ws)
		if secrets := byKind(objs, "Secret"); len(secrets) != 2 {
			t.Fatalf("%d Secrets, want one per role", len(secrets))
		}
		svcs := byKind(objs, "Service")
		if len(svcs) != 2 || svcs[1].GetName() != MetricsServiceName {
			t.Fatalf("services %v, want the workload's and the metrics Service", ids(svcs))
		}
		svc := svcs[0]
		if ip, _, _ := unstructured.NestedString(svc.Object, "spec", "clusterIP"); ip != "None" {
			t.Errorf("Service %s: clusterIP %q, want None (headless)", svc.GetName(), ip)
		}
		selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")

		// The DNS names the servers get.
		servers := map[string]bool{}
		var clients []*unstructured.Unstructured
		for _, vm := range byKind(objs, "VirtualMachine") {
			labels, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
			host, _, _ := unstructured.NestedString(vm.Object, "spec", "template", "spec", "hostname")
			sub, _, _ := unstructured.NestedString(vm.Object, "spec", "template", "spec", "subdomain")
			selected := true
			for k, v := range selector {
				selected = selected && labels[k] == v
			}
			if !selected {
				if host != "" || sub != "" {
					t.Errorf("%s: hostname %q, subdomain %q on a VM the Service does not select", vm.GetName(), host, sub)
				}
				clients = append(clients, vm)
				continue
			}
			if host != vm.GetName() || sub != svc.GetName() {
				t.Fatalf("server %s: hostname %q, subdomain %q; want its name and %s", vm.GetName(), host, sub, svc.GetName())
			}
			servers[host+"."+sub+"."+tc.ns+".svc.cluster.local"] = true
		}
		if len(servers) != tc.pairs || len(clients) != tc.pairs {
			t.Fatalf("%d servers and %d clients, want %d each", len(servers), len(clients), tc.pairs)
		}

		script := clientScript(t, objs)
		targets := map[string]bool{}
		for _, i := range tc.check {
			client := clients[i-1].GetName()
			target := runClientScript(t, sh, script, client)
			if !servers[target] {
				t.Errorf("client %s targets %s, which is no server's DNS name", client, target)
			}
			if want := fmt.Sprintf("network-server-%d.", i); !strings.HasPrefix(target, want) {
				t.Errorf("client %s targets %s, want server %d", client, target, i)
			}
			if errs := validation.IsDNS1123Subdomain(target); len(errs) > 0 {
				t.Errorf("target %s: %v", target, errs)
			}
			for _, label := range strings.Split(target, ".") {
				if errs := validation.IsDNS1123Label(label); len(errs) > 0 {
					t.Errorf("target %s: label %q: %v", target, label, errs)
				}
			}
			if targets[target] {
				t.Errorf("two clients target %s", target)
			}
			targets[target] = true
		}
	}
}

// clientScript is the network client's virtwork-iperf3-client from its
// cloud-init Secret.
func clientScript(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	for _, s := range byKind(objs, "Secret") {
		if s.GetName() != "network-client-cloudinit" {
			continue
		}
		ud, _, _ := unstructured.NestedString(s.Object, "stringData", UserDataKey)
		var c struct {
			WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
		}
		if err := yaml.Unmarshal([]byte(ud), &c); err != nil {
			t.Fatal(err)
		}
		for _, f := range c.WriteFiles {
			if f.Path == "/usr/local/sbin/virtwork-iperf3-client" {
				return f.Content
			}
		}
	}
	t.Fatal("no virtwork-iperf3-client in the client's user data")
	return ""
}

// runClientScript runs script as on VM host with virtwork-run replaced by
// a stub, and returns the host the script points iperf3 -c at.
func runClientScript(t *testing.T, sh, script, host string) string {
	t.Helper()
	dir := t.TempDir()
	stub := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub("uname", "echo "+host+".cluster.internal\n")
	runner := stub("virtwork-run", `while [ "$1" != -c ]; do shift; done; echo "$2"`+"\n")
	script = strings.ReplaceAll(script, "/usr/local/lib/virtwork/virtwork-run", runner)
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client script on %s: %v\n%s", host, err, out)
	}
	return strings.TrimSpace(string(out))
}
