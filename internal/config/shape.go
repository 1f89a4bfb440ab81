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
		c.NodeSelector[k] = v
	}
	c.VM = r.vm
	return nil
}

// vmOverlays extracts the vm: and workloads.<name>.vm: mappings of a
// config file as CUE syntax, keeping their positions in the file, so
// render's CUE errors point at the file's lines.
func vmOverlays(path string, data []byte) (ast.Expr, map[string]ast.Expr, error) {
	f, err := cueyaml.Extract(path, data)
	if err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var global ast.Expr
	per := map[string]ast.Expr{}
	for _, d := range f.Decls {
		field, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, _ := ast.LabelName(field.Label)
		switch name {
		case "vm":
			global = field.Value
		case "workloads":
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
				for _, e := range ws.Elts {
					if vf, ok := e.(*ast.Field); ok {
						if n, _, _ := ast.LabelName(vf.Label); n == "vm" {
							per[wname] = vf.Value
						}
					}
				}
			}
		}
	}
	return global, per, nil
}
