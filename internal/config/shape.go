package config

import (
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	cueyaml "cuelang.org/go/encoding/yaml"
	"k8s.io/apimachinery/pkg/util/validation"
)

// resolveShape validates the settings that shape the VM: --instancetype,
// --preference, --node-selector, --dedicated-cpu and the file's vm keys.
func (r *raw) resolveShape(c *Config) error {
	bad := func(field, value, why string) error {
		return fmt.Errorf("%s %q: %s", r.source[field], value, why)
	}
	c.Instancetype, c.Preference = deref(r.Instancetype), deref(r.Preference)
	for field, v := range map[string]string{"Instancetype": c.Instancetype, "Preference": c.Preference} {
		if v != "" {
			if err := ValidateSubdomain(v); err != nil {
				return bad(field, v, "not a valid "+strings.ToLower(field)+" name: "+err.Error())
			}
		}
	}
	if r.DedicatedCPU != nil {
		b, err := strconv.ParseBool(*r.DedicatedCPU)
		if err != nil {
			return bad("DedicatedCPU", *r.DedicatedCPU, "must be true or false")
		}
		c.DedicatedCPU = b
	}
	if c.DedicatedCPU && c.Instancetype != "" {
		return fmt.Errorf("%s and %s: an instancetype sets the CPU placement itself (its spec.cpu.dedicatedCPUPlacement); drop one of them", r.source["DedicatedCPU"], r.source["Instancetype"])
	}
	// An instancetype sizes the VM, so cores or memory set anywhere beside
	// it would be dropped: refuse them rather than ignore them.
	for _, field := range []string{"CPUCores", "Memory"} {
		if c.Instancetype != "" && r.source[field] != "" {
			return fmt.Errorf("%s and %s: an instancetype sizes the VM (its CPU and memory); drop one of them", r.source[field], r.source["Instancetype"])
		}
	}
	for _, kv := range r.NodeSelector {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("NodeSelector", kv, "must be KEY=VALUE, a node label (e.g. kubernetes.io/hostname=node1)")
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return bad("NodeSelector", kv, "not a label key: "+strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return bad("NodeSelector", kv, "not a label value: "+strings.Join(errs, "; "))
		}
		if c.NodeSelector == nil {
			c.NodeSelector = map[string]string{}
		}
		// The settings come from one source (flags, env or file); a key
		// given twice there is a mistake, not an override.
		if prev, ok := c.NodeSelector[k]; ok {
			return bad("NodeSelector", kv, fmt.Sprintf("the key %s is already set (%s=%s); give each key once", k, k, prev))
		}
		c.NodeSelector[k] = v
	}
	c.Overlays = r.overlays
	return nil
}

// overlayKinds are the overlay keys of a config file, at the top and
// under workloads.<name>, and the kind of object each shapes.
var overlayKinds = map[string]string{
	"vm":         "VirtualMachine (e.g. spec: template: spec: ...)",
	"dataVolume": "DataVolume (e.g. spec: storage: ...)",
	"service":    "Service (e.g. spec: type: ...)",
}

// overlays extracts the vm:, dataVolume: and service: mappings of a
// config file, at the top and under workloads.<name>, as CUE syntax,
// keeping their positions in the file, so render's CUE errors point at
// the file's lines.
func overlays(path string, data []byte) (Overlays, map[string]Overlays, error) {
	var global Overlays
	per := map[string]Overlays{}
	f, err := cueyaml.Extract(path, data)
	if err != nil {
		return global, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	set := func(o *Overlays, field *ast.Field) {
		switch name, _, _ := ast.LabelName(field.Label); name {
		case "vm":
			o.VM = field.Value
		case "dataVolume":
			o.DataVolume = field.Value
		case "service":
			o.Service = field.Value
		}
	}
	for _, d := range f.Decls {
		field, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, _, _ := ast.LabelName(field.Label); name != "workloads" {
			set(&global, field)
			continue
		}
		s, ok := field.Value.(*ast.StructLit)
		if !ok {
			continue
		}
		for _, e := range s.Elts {
			wf, ok := e.(*ast.Field)
			if !ok {
				continue
			}
			wname, _, _ := ast.LabelName(wf.Label)
			ws, ok := wf.Value.(*ast.StructLit)
			if !ok {
				continue
			}
			o := per[wname]
			for _, e := range ws.Elts {
				if vf, ok := e.(*ast.Field); ok {
					set(&o, vf)
				}
			}
			per[wname] = o
		}
	}
	return global, per, nil
}
