package config

import (
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
)

func TestShapeSettings(t *testing.T) {
	file := writeFile(t, "c.yaml", `instancetype: u1.small
nodeSelector: [zone=a, disk=ssd]
vm:
  spec:
    template:
      spec:
        evictionStrategy: LiveMigrate
workloads:
  disk:
    vmCount: 2
    vm:
      spec: {template: {spec: {domain: {ioThreadsPolicy: auto}}}}
    dataVolume:
      spec: {storage: {accessModes: [ReadWriteMany]}}
    service:
      spec: {type: NodePort}
dataVolume:
  spec: {storage: {volumeMode: Block}}
service:
  metadata: {annotations: {a: b}}
`)
	c, err := Load(Flags{Config: &file}, env("VIRTWORK_PREFERENCE", "fedora"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Instancetype != "u1.small" || c.Preference != "fedora" || c.NodeSelector["zone"] != "a" || c.NodeSelector["disk"] != "ssd" {
		t.Errorf("instancetype %q preference %q nodeSelector %v", c.Instancetype, c.Preference, c.NodeSelector)
	}
	// The overlays keep their place in the file, for CUE's errors.
	if c.VM == nil || c.PerWorkload["disk"].VM == nil || *c.PerWorkload["disk"].VMCount != 2 {
		t.Fatalf("vm %v, workloads.disk %+v", c.VM, c.PerWorkload["disk"])
	}
	if pos := c.PerWorkload["disk"].VM.Pos(); pos.Line() != 12 || !strings.HasSuffix(pos.Filename(), "c.yaml") {
		t.Errorf("workloads.disk.vm at %v, want c.yaml:12", pos)
	}
	for what, tc := range map[string]struct {
		e    ast.Expr
		line int
	}{
		"workloads.disk.dataVolume": {c.PerWorkload["disk"].DataVolume, 14},
		"workloads.disk.service":    {c.PerWorkload["disk"].Service, 16},
		"dataVolume":                {c.DataVolume, 18},
		"service":                   {c.Service, 20},
	} {
		if tc.e == nil || tc.e.Pos().Line() != tc.line {
			t.Errorf("%s: %v, want it from c.yaml:%d", what, tc.e, tc.line)
		}
	}
	if _, ok := c.VM.(*ast.StructLit); !ok {
		t.Errorf("vm is %T, want a struct", c.VM)
	}

	// A flag replaces the file's node selector; it does not add to it.
	sel, dedicated := []string{"zone=b"}, true
	c, err = Load(Flags{Config: &file, NodeSelector: sel, DedicatedCPU: &dedicated, Instancetype: ptr("")}, env())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.NodeSelector) != 1 || c.NodeSelector["zone"] != "b" || !c.DedicatedCPU {
		t.Errorf("nodeSelector %v dedicated %v", c.NodeSelector, c.DedicatedCPU)
	}

	for _, tc := range []struct {
		flags Flags
		env   []string
		want  string
	}{
		{Flags{NodeSelector: []string{"zone"}}, nil, `--node-selector "zone": must be KEY=VALUE`},
		{Flags{NodeSelector: []string{"bad key=a"}}, nil, `--node-selector "bad key=a": not a label key`},
		{Flags{}, []string{"VIRTWORK_DEDICATED_CPU", "yes please"}, `VIRTWORK_DEDICATED_CPU "yes please": must be true or false`},
		{Flags{Instancetype: ptr("U1_Small")}, nil, `--instancetype "U1_Small": not a valid instancetype name`},
		{Flags{Instancetype: ptr("u1.small"), DedicatedCPU: &dedicated}, nil, "--dedicated-cpu and --instancetype: an instancetype sets the CPU placement itself"},
		// An instancetype sizes the VM: cores and memory beside it were dropped silently.
		{Flags{Instancetype: ptr("u1.small"), CPUCores: ptr(4)}, nil, "--cpu-cores and --instancetype: an instancetype sizes the VM"},
		{Flags{Instancetype: ptr("u1.small")}, []string{"VIRTWORK_MEMORY", "8Gi"}, "VIRTWORK_MEMORY and --instancetype: an instancetype sizes the VM"},
		// A repeated key kept the last value.
		{Flags{NodeSelector: []string{"a=1", "a=2"}}, nil, `--node-selector "a=2": the key a is already set (a=1); give each key once`},
	} {
		_, err := Load(tc.flags, env(tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %v: error %v, want %q", tc.flags, tc.env, err, tc.want)
		}
	}

	// A workload's own cores beside an instancetype were dropped silently.
	sized := writeFile(t, "sized.yaml", "workloads:\n  cpu:\n    cpuCores: 4\n")
	if _, err := Load(Flags{Config: &sized, Instancetype: ptr("u1.small")}, env()); err == nil || !strings.Contains(err.Error(), "sized.yaml:3: workloads.cpu.cpuCores and --instancetype: an instancetype sizes the VM") {
		t.Errorf("per-workload cpuCores with an instancetype: %v", err)
	}

	bad := writeFile(t, "bad.yaml", "vm: 3\n")
	if _, err := Load(Flags{Config: &bad}, env()); err == nil || !strings.Contains(err.Error(), "bad.yaml:1: vm: must be a mapping") {
		t.Errorf("scalar vm: %v", err)
	}
	bad = writeFile(t, "bad.yaml", "workloads:\n  disk:\n    dataVolume: [a]\n")
	if _, err := Load(Flags{Config: &bad}, env()); err == nil || !strings.Contains(err.Error(), "bad.yaml:3: workloads.disk.dataVolume: must be a mapping shaped like a DataVolume") {
		t.Errorf("list dataVolume: %v", err)
	}
}
