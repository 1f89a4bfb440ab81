package render

import (
	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/internal/vmshape"
	"github.com/virtwork/virtwork/internal/workload"
)

// shape merges into a role's template VM what the user asked to change
// about it, in rising order: the config file's vm, its
// workloads.<name>.vm, the role's vm in CUE, then the flags
// (--instancetype, --preference, --node-selector, --dedicated-cpu). All
// of them are unified, so two that set one field differently conflict.
// Once per role: the copies are stamped from the result.
func (r *renderer) shape(tmpl *unstructured.Unstructured, w workload.Workload, role workload.Role, disks []workload.DataDisk) error {
	ctx := r.cueContext(role)
	var layers []vmshape.Layer
	if r.cfg.VM != nil {
		layers = append(layers, ctx.BuildExpr(r.cfg.VM))
	}
	if e := r.cfg.PerWorkload[w.Name].VM; e != nil {
		layers = append(layers, ctx.BuildExpr(e))
	}
	if role.VM.Exists() {
		layers = append(layers, role.VM)
	}
	if flags := r.flagLayer(); flags != nil {
		layers = append(layers, ctx.Encode(flags))
	}
	if len(layers) == 0 {
		return nil
	}
	owned := vmshape.Owned{
		Labels:   []string{LabelName, LabelManagedBy, LabelComponent, LabelRole},
		Volumes:  []string{rootDisk, cloudInitDisk},
		Networks: []string{podNetwork},
	}
	for _, d := range disks {
		owned.Volumes = append(owned.Volumes, d.Name)
	}
	checker := r.shapes[ctx]
	if checker == nil {
		c, err := vmshape.New(ctx)
		if err != nil {
			return err
		}
		if r.shapes == nil {
			r.shapes = map[*cue.Context]*vmshape.Checker{}
		}
		r.shapes[ctx], checker = c, c
	}
	merged, err := checker.Apply(tmpl.Object, owned, layers)
	if err != nil {
		return err
	}
	tmpl.Object = merged
	return nil
}

// cueContext is the context of the role's CUE values (values of two
// contexts cannot be unified), or a new one.
func (r *renderer) cueContext(role workload.Role) *cue.Context {
	if role.VM.Exists() {
		return role.VM.Context()
	}
	if r.cue == nil {
		r.cue = cuecontext.New()
	}
	return r.cue
}

// flagLayer is the VM overlay the shaping flags ask for, or nil.
func (r *renderer) flagLayer() map[string]any {
	c := r.cfg
	if c.Instancetype == "" && c.Preference == "" && len(c.NodeSelector) == 0 && !c.DedicatedCPU {
		return nil
	}
	spec := map[string]any{}
	podSpec := map[string]any{}
	if c.Instancetype != "" {
		spec["instancetype"] = map[string]any{"name": c.Instancetype}
	}
	if c.Preference != "" {
		spec["preference"] = map[string]any{"name": c.Preference}
	}
	if len(c.NodeSelector) > 0 {
		sel := map[string]any{}
		for k, v := range c.NodeSelector {
			sel[k] = v
		}
		podSpec["nodeSelector"] = sel
	}
	if c.DedicatedCPU {
		podSpec["domain"] = map[string]any{"cpu": map[string]any{"dedicatedCpuPlacement": true}}
	}
	if len(podSpec) > 0 {
		spec["template"] = map[string]any{"spec": podSpec}
	}
	return map[string]any{"spec": spec}
}
