package testcluster

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"
)

// Files in the shared schemas directory (see shared/schemas/SOURCES.md).
const (
	vmSchemaFile = "kubevirt-v1.8.0-virtualmachine.openAPIV3Schema.yaml"
	dvCRDFile    = "cdi-v1.64.0-datavolumes.cdi.kubevirt.io.crd.yaml"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// FindSchemas returns the directory with the real KubeVirt and CDI schemas:
// $VIRTWORK_SHARED_SCHEMAS, else ../shared/schemas next to the repository
// root found by walking up from the working directory. It returns "" when
// there is none.
func FindSchemas() string {
	if d := os.Getenv("VIRTWORK_SHARED_SCHEMAS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/virtwork/virtwork\n") {
			return filepath.Join(filepath.Dir(dir), "shared", "schemas")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// crds returns the CRDs to install and a description of their schemas: the
// real KubeVirt VM schema and CDI DataVolume CRD where schemasDir has them,
// otherwise minimal structural schemas that keep unknown fields.
func crds(schemasDir string) (objs []*unstructured.Unstructured, desc string, real bool, err error) {
	vmSchema := preserveUnknown()
	dv := minimalDataVolumeCRD()
	desc = "minimal (unknown fields preserved; no real schemas found"
	if schemasDir != "" {
		desc += " in " + schemasDir
	}
	desc += ")"
	if schemasDir != "" {
		vmData, vmErr := os.ReadFile(filepath.Join(schemasDir, vmSchemaFile))
		dvData, dvErr := os.ReadFile(filepath.Join(schemasDir, dvCRDFile))
		if vmErr == nil && dvErr == nil {
			var wrapped struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			}
			if err := yaml.Unmarshal(vmData, &wrapped); err != nil || wrapped.OpenAPIV3Schema == nil {
				return nil, "", false, fmt.Errorf("reading %s: no openAPIV3Schema (%v)", filepath.Join(schemasDir, vmSchemaFile), err)
			}
			vmSchema = wrapped.OpenAPIV3Schema
			dv = &unstructured.Unstructured{}
			if err := yaml.Unmarshal(dvData, &dv.Object); err != nil {
				return nil, "", false, fmt.Errorf("reading %s: %w", filepath.Join(schemasDir, dvCRDFile), err)
			}
			// The generated file carries an empty status and a null
			// creationTimestamp that a create must not send.
			delete(dv.Object, "status")
			unstructured.RemoveNestedField(dv.Object, "metadata", "creationTimestamp")
			desc = "real (KubeVirt v1.8.0 VirtualMachine schema and CDI v1.64.0 DataVolume CRD from " + schemasDir + ")"
			real = true
		}
	}
	vm := crd("kubevirt.io", "v1", "VirtualMachine", "virtualmachines", []string{"vm", "vms"}, vmSchema, []map[string]any{
		column("Age", "date", ".metadata.creationTimestamp", ""),
		column("Status", "string", ".status.printableStatus", "Human Readable Status"),
		column("Ready", "string", ".status.conditions[?(@.type=='Ready')].status", ""),
	})
	vmi := crd("kubevirt.io", "v1", "VirtualMachineInstance", "virtualmachineinstances", []string{"vmi", "vmis"}, preserveUnknown(), []map[string]any{
		column("Age", "date", ".metadata.creationTimestamp", ""),
		column("Phase", "string", ".status.phase", ""),
		column("IP", "string", ".status.interfaces[0].ipAddress", ""),
		column("NodeName", "string", ".status.nodeName", ""),
		column("Ready", "string", ".status.conditions[?(@.type=='Ready')].status", ""),
	})
	sm := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(serviceMonitorCRD, &sm.Object); err != nil {
		return nil, "", false, fmt.Errorf("reading the ServiceMonitor CRD: %w", err)
	}
	return []*unstructured.Unstructured{vm, vmi, dv, sm}, desc, real, nil
}

// serviceMonitorCRD is the Prometheus Operator's own ServiceMonitor CRD
// (see the file's header), so that rendered ServiceMonitors meet the API
// server's validation as on a cluster with the operator.
//
//go:embed testdata/servicemonitors.monitoring.coreos.com.crd.yaml
var serviceMonitorCRD []byte

func preserveUnknown() map[string]any {
	return map[string]any{
		"type":                                 "object",
		"x-kubernetes-preserve-unknown-fields": true,
	}
}

func column(name, typ, path, desc string) map[string]any {
	c := map[string]any{"name": name, "type": typ, "jsonPath": path}
	if desc != "" {
		c["description"] = desc
	}
	return c
}

func crd(group, version, kind, plural string, shortNames []string, schema map[string]any, columns []map[string]any) *unstructured.Unstructured {
	cols := make([]any, len(columns))
	for i, c := range columns {
		cols[i] = c
	}
	names := map[string]any{
		"kind":       kind,
		"listKind":   kind + "List",
		"plural":     plural,
		"singular":   strings.ToLower(kind),
		"shortNames": toAny(shortNames),
		"categories": []any{"all"},
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"names": names,
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name":                     version,
				"served":                   true,
				"storage":                  true,
				"schema":                   map[string]any{"openAPIV3Schema": schema},
				"subresources":             map[string]any{"status": map[string]any{}},
				"additionalPrinterColumns": cols,
			}},
		},
	}}
}

func minimalDataVolumeCRD() *unstructured.Unstructured {
	return crd("cdi.kubevirt.io", "v1beta1", "DataVolume", "datavolumes", []string{"dv", "dvs"}, preserveUnknown(), []map[string]any{
		column("Phase", "string", ".status.phase", "The phase the data volume is in"),
		column("Progress", "string", ".status.progress", "Transfer progress in percentage if known, N/A otherwise"),
		column("Restarts", "integer", ".status.restartCount", "The number of times the transfer has been restarted."),
		column("Age", "date", ".metadata.creationTimestamp", ""),
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// installCRDs creates the CRDs and waits until they are established and
// served, so that clients can use them as soon as Start returns.
func (c *Cluster) installCRDs(ctx context.Context, schemasDir string) error {
	objs, desc, real, err := crds(schemasDir)
	if err != nil {
		return err
	}
	c.schemas, c.realSchema = desc, real
	dyn, err := c.Dynamic()
	if err != nil {
		return fmt.Errorf("making dynamic client: %w", err)
	}
	for _, o := range objs {
		if _, err := dyn.Resource(crdGVR).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", o.GetName(), err)
		}
	}
	for _, o := range objs {
		if err := waitEstablished(ctx, c, o.GetName()); err != nil {
			return err
		}
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("making discovery client: %w", err)
	}
	for _, o := range objs {
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		version := versions[0].(map[string]any)["name"].(string)
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		if err := pollUntil(ctx, func() bool {
			list, err := disc.ServerResourcesForGroupVersion(group + "/" + version)
			if err != nil {
				return false
			}
			return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == plural })
		}); err != nil {
			return fmt.Errorf("waiting for %s/%s %s in discovery: %w", group, version, plural, err)
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, c *Cluster, name string) error {
	dyn, err := c.Dynamic()
	if err != nil {
		return err
	}
	var last string
	err = pollUntil(ctx, func() bool {
		o, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false
		}
		conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
		for _, ci := range conds {
			cond, _ := ci.(map[string]any)
			if cond["type"] == "Established" && cond["status"] == "True" {
				return true
			}
			if cond["type"] == "NamesAccepted" && cond["status"] == "False" {
				last = fmt.Sprint(cond["message"])
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established (%s): %w", name, last, err)
	}
	return nil
}

func pollUntil(ctx context.Context, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
