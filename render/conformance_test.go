package render

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/guestos"
	"github.com/virtwork/virtwork/internal/testenv"
	"github.com/virtwork/virtwork/internal/workload"
)

// Files in ../shared/schemas (relative to the repository root): the real
// KubeVirt VirtualMachine schema and CDI DataVolume CRD, which the
// project must not copy.
const (
	vmSchemaFile = "kubevirt-v1.8.0-virtualmachine.openAPIV3Schema.yaml"
	dvCRDFile    = "cdi-v1.64.0-datavolumes.cdi.kubevirt.io.crd.yaml"
)

// schemasDir finds ../shared/schemas beside the repository root or skips.
func schemasDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	schemas := filepath.Join(dir, "..", "shared", "schemas")
	if _, err := os.Stat(filepath.Join(schemas, vmSchemaFile)); err != nil {
		testenv.Missing(t, "skipping the schema conformance test: %s not found (the real KubeVirt and CDI schemas live in ../shared/schemas beside the repository)", filepath.Join(schemas, vmSchemaFile))
	}
	return schemas
}

func loadSchema(t *testing.T, file string, pick func(map[string]any) any) *spec.Schema {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	j, err := json.Marshal(pick(doc))
	if err != nil {
		t.Fatal(err)
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(j, s); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

func vmSchema(t *testing.T, dir string) *spec.Schema {
	return loadSchema(t, filepath.Join(dir, vmSchemaFile), func(doc map[string]any) any { return doc["openAPIV3Schema"] })
}

func dvSchema(t *testing.T, dir string) *spec.Schema {
	return loadSchema(t, filepath.Join(dir, dvCRDFile), func(doc map[string]any) any {
		for _, v := range doc["spec"].(map[string]any)["versions"].([]any) {
			v := v.(map[string]any)
			if v["name"] == "v1beta1" {
				return v["schema"].(map[string]any)["openAPIV3Schema"]
			}
		}
		t.Fatalf("%s: no version v1beta1", dvCRDFile)
		return nil
	})
}

// conform validates obj against a structural CRD schema as the API
// server would: the OpenAPI rules (types, enums, required, patterns)
// and, since the server prunes what the schema does not declare, no
// fields outside it.
func conform(s *spec.Schema, obj map[string]any) error {
	var errs []string
	if res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(obj); res.HasErrors() {
		for _, e := range res.Errors {
			errs = append(errs, e.Error())
		}
	}
	errs = append(errs, undeclared(s, obj, "")...)
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// undeclared lists the fields of v that schema s would prune.
func undeclared(s *spec.Schema, v any, path string) []string {
	if s == nil {
		return nil
	}
	if preserve, _ := s.Extensions["x-kubernetes-preserve-unknown-fields"].(bool); preserve {
		return nil
	}
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			if path == "" && k == "metadata" {
				continue // the API server checks ObjectMeta itself, whatever the schema says
			}
			if p, ok := s.Properties[k]; ok {
				out = append(out, undeclared(&p, val, path+"."+k)...)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				out = append(out, undeclared(s.AdditionalProperties.Schema, val, path+"."+k)...)
			} else if len(s.Properties) > 0 || s.AdditionalProperties == nil || !s.AdditionalProperties.Allows {
				out = append(out, fmt.Sprintf("%s.%s: not in the schema (would be pruned)", path, k))
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, item := range v {
				out = append(out, undeclared(s.Items.Schema, item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return out
}

// conformanceConfigs render every built-in workload with every optional
// field virtwork can set.
var conformanceConfigs = []*config.Config{
	{},
	{Namespace: "perf", VMCount: 2, StorageClass: "fast", ContainerDiskImage: "quay.io/containerdisks/centos-stream:9",
		SSHUser: "me", SSHPassword: "pw", SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"}},
}

func TestConformanceWithRealSchemas(t *testing.T) {
	dir := schemasDir(t)
	vmS, dvS := vmSchema(t, dir), dvSchema(t, dir)
	var vms, dvs int
	for _, guest := range guestos.Names() {
		ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: config.DefaultNamespace, GuestOS: guest}})
		if err != nil {
			t.Fatalf("guest OS %s: %v", guest, err)
		}
		for _, base := range conformanceConfigs {
			cfg := *base
			cfg.GuestOS = guest
			vms, dvs = checkConformance(t, vmS, dvS, mustRender(t, &cfg, ws), vms, dvs)
		}
	}
	if vms == 0 || dvs == 0 {
		t.Fatalf("checked %d VMs and %d DataVolume templates; want some of each", vms, dvs)
	}
}

// checkConformance checks the VMs and DataVolume templates among objs
// against the real schemas and adds how many it checked to vms and dvs.
func checkConformance(t *testing.T, vmS, dvS *spec.Schema, objs []*unstructured.Unstructured, vms, dvs int) (int, int) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "VirtualMachine" {
			continue
		}
		vms++
		if err := conform(vmS, o.Object); err != nil {
			t.Errorf("VirtualMachine %s against %s: %v", o.GetName(), vmSchemaFile, err)
		}
		dvts, _, _ := unstructured.NestedSlice(o.Object, "spec", "dataVolumeTemplates")
		for _, d := range dvts {
			dvs++
			dv := asDataVolume(d.(map[string]any), o.GetNamespace())
			if err := conform(dvS, dv); err != nil {
				t.Errorf("DataVolume template of %s against %s: %v", o.GetName(), dvCRDFile, err)
			}
		}
	}
	return vms, dvs
}

// asDataVolume makes a DataVolume object of a VM's DataVolume template,
// as KubeVirt creates it.
func asDataVolume(tmpl map[string]any, namespace string) map[string]any {
	meta := map[string]any{"namespace": namespace}
	for k, v := range tmpl["metadata"].(map[string]any) {
		meta[k] = v
	}
	return map[string]any{
		"apiVersion": "cdi.kubevirt.io/v1beta1",
		"kind":       "DataVolume",
		"metadata":   meta,
		"spec":       tmpl["spec"],
	}
}

// The conformance check itself must catch what the API server rejects
// or prunes; otherwise the test above proves nothing.
func TestConformanceCheckCatchesErrors(t *testing.T) {
	dir := schemasDir(t)
	vmS, dvS := vmSchema(t, dir), dvSchema(t, dir)
	vm := byKind(mustRender(t, &config.Config{Workloads: []string{"database"}}, builtins(t)), "VirtualMachine")[0]

	bad := vm.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "two", "spec", "template", "spec", "domain", "cpu", "cores")
	if err := conform(vmS, bad.Object); err == nil || !strings.Contains(err.Error(), "cores") {
		t.Errorf("mistyped cores: %v", err)
	}
	bad = vm.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "x", "spec", "template", "spec", "domain", "devices", "bogus")
	if err := conform(vmS, bad.Object); err == nil || !strings.Contains(err.Error(), ".spec.template.spec.domain.devices.bogus: not in the schema") {
		t.Errorf("unknown field: %v", err)
	}
	dvts, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	dv := asDataVolume(dvts[0].(map[string]any), "ns")
	dv["spec"] = map[string]any{"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "10Gi"}}}, "sourc": map[string]any{}}
	if err := conform(dvS, dv); err == nil || !strings.Contains(err.Error(), "sourc") {
		t.Errorf("DataVolume with a misspelt field: %v", err)
	}
}
