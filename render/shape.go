package render

import (
	"fmt"
	"maps"
	"slices"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/vmshape"
	"github.com/virtwork/virtwork/internal/workload"
)

// shape merges into a role's template VM what the user asked to change
// about it, in rising order: the config file's vm, its
// workloads.<name>.vm, the role's vm in CUE, then the flags
// (--instancetype, --preference, --node-selector, --dedicated-cpu). All
// of them are unified, so two that set one field differently conflict.
// The dataVolume overlays, in the same order, are merged into each of
// its dataVolumeTemplates. Once per role: the copies are stamped from the
// result.
func (r *renderer) shape(tmpl *unstructured.Unstructured, w workload.Workload, role workload.Role, disks []workload.DataDisk) error {
	ctx := r.cueContext(role)
	layers := r.layers(ctx, r.cfg.VM, r.cfg.PerWorkload[w.Name].VM, role.VM, r.flagLayer())
	if err := r.checkFlagConflicts(layers); err != nil {
		return err
	}
	dvLayers := r.layers(ctx, r.cfg.DataVolume, r.cfg.PerWorkload[w.Name].DataVolume, role.DataVolume, nil)
	if len(disks) == 0 {
		dvLayers = nil // nothing to shape (see checkTargets)
	}
	if len(layers) == 0 && len(dvLayers) == 0 {
		return nil
	}
	checker, err := r.checker(ctx)
	if err != nil {
		return err
	}
	owned := vmshape.Owned{
		Labels:   ownedLabels,
		Volumes:  []string{rootDisk, cloudInitDisk},
		Networks: []string{podNetwork},
	}
	for _, d := range disks {
		owned.Volumes = append(owned.Volumes, d.Name)
	}
	vm, err := checker.VM(owned, layers)
	if err != nil {
		return blameGlobal(ctx, err, r.cfg.VM, func(l []vmshape.Layer) error {
			_, err := checker.VM(owned, l)
			return err
		})
	}
	dv, err := checker.DataVolume(r.storageClass(), dvLayers)
	if err != nil {
		return blameGlobal(ctx, err, r.cfg.DataVolume, func(l []vmshape.Layer) error {
			_, err := checker.DataVolume(r.storageClass(), l)
			return err
		})
	}
	tmpl.Object = vm.Merge(tmpl.Object)
	if dv != nil {
		spec := tmpl.Object["spec"].(map[string]any)
		dvts := slices.Clone(spec["dataVolumeTemplates"].([]any))
		for i, t := range dvts {
			dvts[i] = dv.Merge(t.(map[string]any))
		}
		spec["dataVolumeTemplates"] = dvts
	}
	return nil
}

// ownedLabels are the label keys virtwork selects its objects by.
var ownedLabels = []string{LabelName, LabelManagedBy, LabelComponent, LabelRole}

// storageClass is the data disks' storage class the settings give, and
// where it came from.
func (r *renderer) storageClass() vmshape.StorageClass {
	sc := vmshape.StorageClass{Name: r.cfg.StorageClass}
	for _, o := range r.cfg.Origins {
		if o.Setting == "storageClass" {
			sc.From = o.From
		}
	}
	if sc.From == "" {
		sc.From = "--storage-class"
	}
	return sc
}

// serviceShape checks the service overlays of a role (the config file's
// service, its workloads.<name>.service, the role's service in CUE) once,
// for every Service that selects the role; nil when there are none.
func (r *renderer) serviceShape(w workload.Workload, role workload.Role) (*vmshape.Overlay, error) {
	ctx := r.cueContext(role)
	layers := r.layers(ctx, r.cfg.Service, r.cfg.PerWorkload[w.Name].Service, role.Service, nil)
	if len(layers) == 0 {
		return nil, nil
	}
	checker, err := r.checker(ctx)
	if err != nil {
		return nil, err
	}
	owned := vmshape.ServiceOwned{Labels: ownedLabels}
	for _, s := range w.Services {
		if s.Role != role.Name {
			continue
		}
		if s.Headless {
			owned.Headless = s.Name
		}
		for _, p := range s.Ports {
			owned.Ports = append(owned.Ports, vmshape.Port{Name: p.Name, Port: int64(p.Port)})
		}
	}
	shape, err := checker.Service(owned, layers)
	if err != nil {
		return nil, blameGlobal(ctx, err, r.cfg.Service, func(l []vmshape.Layer) error {
			_, err := checker.Service(owned, l)
			return err
		})
	}
	return shape, nil
}

// globalError is an error of a config file's global overlay (vm,
// dataVolume, service at the top): the key applies to every workload, so
// the error is not reported as one workload's role's.
type globalError struct{ Err error }

func (e globalError) Error() string { return e.Err.Error() }
func (e globalError) Unwrap() error { return e.Err }

// blameGlobal returns err, or the global overlay's own error as a
// globalError when the global overlay alone fails check.
func blameGlobal(ctx *cue.Context, err error, global ast.Expr, check func([]vmshape.Layer) error) error {
	if global == nil {
		return err
	}
	if own := check([]vmshape.Layer{ctx.BuildExpr(global)}); own != nil {
		return globalError{own}
	}
	return err
}

// layers are the overlays of one kind in rising order: the config
// file's global one, its per-workload one, the role's in CUE and the
// flags'.
func (r *renderer) layers(ctx *cue.Context, global, perWorkload ast.Expr, role cue.Value, flags map[string]any) []vmshape.Layer {
	var layers []vmshape.Layer
	if global != nil {
		layers = append(layers, ctx.BuildExpr(global))
	}
	if perWorkload != nil {
		layers = append(layers, ctx.BuildExpr(perWorkload))
	}
	if role.Exists() {
		layers = append(layers, role)
	}
	if flags != nil {
		layers = append(layers, ctx.Encode(flags))
	}
	return layers
}

// checker is the overlay checker of ctx, built on first use.
func (r *renderer) checker(ctx *cue.Context) (*vmshape.Checker, error) {
	if c := r.shapes[ctx]; c != nil {
		return c, nil
	}
	c, err := vmshape.New(ctx)
	if err != nil {
		return nil, err
	}
	if r.shapes == nil {
		r.shapes = map[*cue.Context]*vmshape.Checker{}
	}
	r.shapes[ctx] = c
	return c, nil
}

// checkTargets rejects a workload's or role's dataVolume or service
// overlay that has nothing to shape: no data disks, no Services. (The
// config file's global ones apply where there is something.)
func checkTargets(cfg *config.Config, w workload.Workload) error {
	hasDisks := false
	for _, role := range w.Roles {
		hasService := false
		for _, s := range w.Services {
			hasService = hasService || s.Role == role.Name
		}
		if role.DataVolume.Exists() && len(role.DataDisks) == 0 {
			return fmt.Errorf("%s: workloads.%s.roles.%s.dataVolume: the role has no dataDisks to shape", userPos(role.DataVolume), w.Name, role.Name)
		}
		if role.Service.Exists() && !hasService {
			return fmt.Errorf("%s: workloads.%s.roles.%s.service: no Service of the workload selects the role", userPos(role.Service), w.Name, role.Name)
		}
		hasDisks = hasDisks || len(role.DataDisks) > 0
	}
	per := cfg.PerWorkload[w.Name]
	if per.DataVolume != nil && !hasDisks {
		return fmt.Errorf("%s: workloads.%s.dataVolume: workload %s has no data disks to shape", per.DataVolume.Pos(), w.Name, w.Name)
	}
	if per.Service != nil && len(w.Services) == 0 {
		return fmt.Errorf("%s: workloads.%s.service: workload %s has no Services to shape", per.Service.Pos(), w.Name, w.Name)
	}
	return nil
}

// cueContext is the context of the role's CUE values (values of two
// contexts cannot be unified), or a new one.
func (r *renderer) cueContext(role workload.Role) *cue.Context {
	for _, v := range []cue.Value{role.VM, role.DataVolume, role.Service} {
		if v.Exists() {
			return v.Context()
		}
	}
	if r.cue == nil {
		r.cue = cuecontext.New()
	}
	return r.cue
}

// flagSetting is one field of the VM the shaping settings set: its path,
// its value, and the setting as -v names it (its origin too).
type flagSetting struct {
	path    cue.Path
	value   any
	setting string
	shown   string
}

// flagSettings are the fields the shaping settings set.
func (r *renderer) flagSettings() []flagSetting {
	c := r.cfg
	var out []flagSetting
	if c.Instancetype != "" {
		out = append(out, flagSetting{cue.ParsePath("spec.instancetype.name"), c.Instancetype, "instancetype", fmt.Sprintf("%q", c.Instancetype)})
	}
	if c.Preference != "" {
		out = append(out, flagSetting{cue.ParsePath("spec.preference.name"), c.Preference, "preference", fmt.Sprintf("%q", c.Preference)})
	}
	for _, k := range slices.Sorted(maps.Keys(c.NodeSelector)) {
		path := cue.MakePath(cue.Str("spec"), cue.Str("template"), cue.Str("spec"), cue.Str("nodeSelector"), cue.Str(k))
		out = append(out, flagSetting{path, c.NodeSelector[k], "nodeSelector", fmt.Sprintf("%q", k+"="+c.NodeSelector[k])})
	}
	if c.DedicatedCPU {
		out = append(out, flagSetting{cue.ParsePath("spec.template.spec.domain.cpu.dedicatedCpuPlacement"), true, "dedicatedCpu", "true"})
	}
	return out
}

// checkFlagConflicts refuses an overlay that sets a field a shaping
// setting (flag, variable or config key) also sets, to another value,
// naming both places: unified in CUE the conflict would name only the
// overlay's. layers ends with the flags' own, which is not checked.
func (r *renderer) checkFlagConflicts(layers []vmshape.Layer) error {
	settings := r.flagSettings()
	if len(settings) == 0 || len(layers) < 2 {
		return nil
	}
	for i, layer := range layers[:len(layers)-1] {
		for _, s := range settings {
			v := layer.LookupPath(s.path)
			if !v.Exists() {
				continue
			}
			var got any
			if err := v.Decode(&got); err == nil && got == s.value {
				continue
			}
			err := fmt.Errorf("%s: vm.%s: %v conflicts with %s %s (%s); set it in one place", v.Pos(), s.path, v, s.setting, s.shown, r.origin(s.setting))
			if i == 0 && r.cfg.VM != nil {
				return globalError{err}
			}
			return err
		}
	}
	return nil
}

// origin is where a setting came from: a flag, a variable or the config
// file's key.
func (r *renderer) origin(setting string) string {
	for _, o := range r.cfg.Origins {
		if o.Setting == setting && o.From != "" && o.From != "default" {
			return o.From
		}
	}
	return "--" + map[string]string{"nodeSelector": "node-selector", "dedicatedCpu": "dedicated-cpu"}[setting]
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

// userPos is where a role's overlay is written: the position of its first
// field (the value's own is the schema's open struct).
func userPos(v cue.Value) token.Pos {
	if it, err := v.Fields(); err == nil && it.Next() {
		return it.Value().Pos()
	}
	return v.Pos()
}
