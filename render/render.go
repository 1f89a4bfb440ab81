// Package render turns the effective configuration and the loaded
// workloads into the manifest set virtwork applies: a Namespace, one
// cloud-init Secret per workload role, the workloads' Services and their
// VirtualMachines, in that order, byte-for-byte the same for the same input.
// The Services end with the VMs' metrics Service and, when asked for, its
// ServiceMonitor.
package render

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/virtwork/virtwork/internal/cloudinit"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/guestos"
	"github.com/virtwork/virtwork/internal/names"
	"github.com/virtwork/virtwork/internal/templates"
	"github.com/virtwork/virtwork/internal/vmshape"
	"github.com/virtwork/virtwork/internal/workload"
)

// Labels virtwork puts on everything it renders (see package names, which
// apply, results and the history share without importing render).
const (
	LabelName      = names.LabelName
	LabelManagedBy = names.LabelManagedBy
	LabelComponent = names.LabelComponent
	LabelRole      = names.LabelRole
	// AppName is the value of LabelName and LabelManagedBy.
	AppName = names.AppName
)

// AnnotationDeleteAfterCompletion set to "false" stops CDI from garbage
// collecting a finished DataVolume, which would make a re-apply recreate
// (and re-import) it.
const AnnotationDeleteAfterCompletion = "cdi.kubevirt.io/storage.deleteAfterCompletion"

// Names of the fixed disks, volumes and the network of every VM, as
// cue/templates/vm.cue names them (#RootDisk, #CloudInitDisk, #PodNetwork).
const (
	rootDisk      = "rootdisk"
	cloudInitDisk = "cloudinitdisk"
	podNetwork    = "default"
)

// UserDataKey is the key of the #cloud-config user data in each cloud-init
// Secret (cue/templates/secret.cue, #UserDataKey).
const UserDataKey = "userdata"

// Render returns the manifest set for cfg and the loaded workloads: the
// Namespace, then the cloud-init Secrets, Services and VirtualMachines,
// each kind in workload order (as loaded), role order and VM index.
// Every object has passed Check (the VMs of a role through their
// template, see vms).
//
// Each role of a workload gets the resolved VM count: a multi-role
// workload with --vm-count 3 has 3 VMs of every role. A role with no VMs
// gets no Secret either.
//
// The VMs of one role share their unchanging spec subtrees (see vms):
// callers may set any object's metadata, but must DeepCopy a VM before
// changing anything below spec.
func Render(cfg *config.Config, workloads []workload.Workload) ([]*unstructured.Unstructured, error) {
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	selected, err := selectWorkloads(cfg, workloads)
	if err != nil {
		return nil, err
	}

	var secrets, services, vms []*unstructured.Unstructured
	total := 0
	for _, w := range selected {
		if err := checkTargets(cfg, w); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		multiRole := len(w.Roles) > 1
		for _, role := range w.Roles {
			res, err := r.resolve(w, role)
			if err != nil {
				return nil, err
			}
			if res.count == 0 {
				continue
			}
			// Counted before any VM is built, so that memory stays bounded.
			if total += res.count; total > config.MaxVMs {
				return nil, fmt.Errorf("render: workload %s brings the set to %d VMs, more than %d, the most one instance can hold: lower --vm-count or the workloads' counts, or split the load across namespaces (-n), one instance each",
					w.Name, total, config.MaxVMs)
			}
			roleName := ""
			if multiRole {
				roleName = role.Name
			}
			secret, err := r.secret(w, role, roleName)
			if err != nil {
				return nil, err
			}
			secrets = append(secrets, secret)
			roleVMs, err := r.vms(w, role, roleName, secret.GetName(), res)
			if err != nil {
				return nil, err
			}
			vms = append(vms, roleVMs...)
		}
		shapes := map[string]*vmshape.Overlay{} // by role: checked once
		for _, s := range w.Services {
			svc, err := r.service(w, s, multiRole)
			if err != nil {
				return nil, err
			}
			shape, ok := shapes[s.Role]
			if !ok {
				i := slices.IndexFunc(w.Roles, func(r workload.Role) bool { return r.Name == s.Role })
				if shape, err = r.serviceShape(w, w.Roles[i]); err != nil {
					return nil, shapeError(w, s.Role, err)
				}
				shapes[s.Role] = shape
			}
			svc.Object = shape.Merge(svc.Object)
			services = append(services, svc)
		}
	}
	metrics, err := r.metricsService()
	if err != nil {
		return nil, err
	}
	services = append(services, metrics)
	if cfg.ServiceMonitor {
		services = append(services, r.serviceMonitor())
	}

	ns, err := r.namespace()
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, 0, 1+len(secrets)+len(services)+len(vms))
	objs = append(objs, ns)
	objs = append(objs, secrets...)
	objs = append(objs, services...)
	objs = append(objs, vms...)

	// Names come from user input (workload, role, disk names) and may be
	// cut short and hashed: make sure no two objects collide.
	seen := make(map[string]bool, len(objs))
	unique := func(key string) error {
		if seen[key] {
			return fmt.Errorf("render: two objects are both named %s; rename one of the workloads, roles or disks involved", key)
		}
		seen[key] = true
		return nil
	}
	for _, o := range objs {
		if err := unique(o.GetKind() + "/" + o.GetName()); err != nil {
			return nil, err
		}
		spec, _ := o.Object["spec"].(map[string]any)
		dvts, _ := spec["dataVolumeTemplates"].([]any)
		for _, dvt := range dvts {
			dvName := dvt.(map[string]any)["metadata"].(map[string]any)["name"].(string)
			if err := unique("DataVolume/" + dvName); err != nil {
				return nil, err
			}
		}
	}
	for _, o := range objs[:1+len(secrets)+len(services)] {
		if err := Check(o); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
	}
	return objs, nil
}

// renderer holds what is the same for every object of one render.
type renderer struct {
	cfg    *config.Config
	ns     string
	image  string
	access cloudinit.Access
	cue    *cue.Context                      // for VM overlays from the config (see shape)
	shapes map[*cue.Context]*vmshape.Checker // built on first use, per context
}

func newRenderer(cfg *config.Config) (*renderer, error) {
	ns := cfg.Namespace
	if ns == "" {
		ns = config.DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("render: namespace %q is invalid: %s", ns, strings.Join(errs, "; "))
	}
	image := cfg.ContainerDiskImage
	if image == "" {
		guest, err := guestos.Lookup(cfg.GuestOS)
		if err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		image = guest.Image
	}
	access := cloudinit.Access{User: cfg.SSHUser, Keys: cfg.SSHKeys}
	if cfg.SSHPassword != "" {
		if cfg.SSHUser == "" {
			return nil, fmt.Errorf("render: an SSH password needs an SSH user to set it for (set --ssh-user)")
		}
		hash, err := cloudinit.HashPassword(cfg.SSHPassword, cfg.SSHUser, ns)
		if err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		access.PasswordHash = hash
	}
	return &renderer{cfg: cfg, ns: ns, image: image, access: access}, nil
}

// selectWorkloads applies cfg.Workloads (exactly those, in loading order)
// or, when it is empty, drops the workloads disabled in the config file.
func selectWorkloads(cfg *config.Config, all []workload.Workload) ([]workload.Workload, error) {
	known := make(map[string]bool, len(all))
	var names []string
	for _, w := range all {
		known[w.Name] = true
		names = append(names, w.Name)
	}
	for _, n := range cfg.Workloads {
		if !known[n] {
			return nil, fmt.Errorf("unknown workload %q; known workloads: %s (see virtwork workloads)", n, strings.Join(names, ", "))
		}
	}
	for _, n := range sortedKeys(cfg.PerWorkload) {
		if !known[n] {
			return nil, fmt.Errorf("%s: settings for unknown workload %q; known workloads: %s", cfg.PerWorkload[n].Source, n, strings.Join(names, ", "))
		}
	}
	var out []workload.Workload
	for _, w := range all {
		if len(cfg.Workloads) > 0 {
			if slices.Contains(cfg.Workloads, w.Name) {
				out = append(out, w)
			}
			continue
		}
		if s, ok := cfg.PerWorkload[w.Name]; ok && s.Enabled != nil && !*s.Enabled {
			continue
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		// An empty set would make apply prune every VM of the instance.
		return nil, fmt.Errorf("no workloads selected: every workload is disabled in the config file; enable one or pass --workloads")
	}
	return out, nil
}

// resolved are the settings of one role's VMs after applying priorities.
type resolved struct {
	count    int
	cores    int64
	memory   string
	diskSize map[string]string // by data disk name
}

// resolve applies: per-workload setting > global setting > the role's
// own default in CUE > the config.Default* constants (VM count: per
// workload > global > the role's).
func (r *renderer) resolve(w workload.Workload, role workload.Role) (resolved, error) {
	per := r.cfg.PerWorkload[w.Name]
	var res resolved

	switch {
	case per.VMCount != nil:
		res.count = *per.VMCount
	case r.cfg.VMCount > 0:
		res.count = r.cfg.VMCount
	default:
		res.count = role.VMCount
	}
	if res.count < 0 {
		return res, fmt.Errorf("render: workload %s: VM count %d is negative", w.Name, res.count)
	}

	cores := config.DefaultCPUCores
	switch {
	case per.CPUCores != nil:
		cores = *per.CPUCores
	case r.cfg.CPUCores > 0:
		cores = r.cfg.CPUCores
	case role.CPUCores > 0:
		cores = role.CPUCores
	}
	if cores < 1 {
		return res, fmt.Errorf("render: workload %s: cpu cores must be at least 1, got %d", w.Name, cores)
	}
	res.cores = int64(cores)

	mem, err := pickQuantity(per.Memory, r.cfg.Memory, role.Memory, config.DefaultMemory)
	if err != nil {
		return res, fmt.Errorf("render: workload %s role %s: memory: %w", w.Name, role.Name, err)
	}
	res.memory = mem

	res.diskSize = make(map[string]string, len(role.DataDisks))
	for _, d := range role.DataDisks {
		size, err := pickQuantity(per.DiskSize, r.cfg.DiskSize, d.Size, config.DefaultDiskSize)
		if err != nil {
			return res, fmt.Errorf("render: workload %s disk %s: size: %w", w.Name, d.Name, err)
		}
		res.diskSize[d.Name] = size
	}
	return res, nil
}

// pickQuantity returns the first set of: the per-workload quantity, the
// global one, the workload's own (a CUE string) and the default, in
// canonical form, rejecting zero and negative sizes.
func pickQuantity(per *resource.Quantity, global resource.Quantity, own, def string) (string, error) {
	var q resource.Quantity
	switch {
	case per != nil:
		q = *per
	case !global.IsZero():
		q = global
	default:
		s := own
		if s == "" {
			s = def
		}
		var err error
		if q, err = resource.ParseQuantity(s); err != nil {
			return "", fmt.Errorf("%q is not a quantity such as 2Gi", s)
		}
	}
	if q.Sign() <= 0 {
		return "", fmt.Errorf("%s must be positive", q.String())
	}
	return q.String(), nil
}

func (r *renderer) labels(w workload.Workload, role string) map[string]any {
	l := map[string]any{
		LabelName:      AppName,
		LabelManagedBy: AppName,
		LabelComponent: w.Name,
	}
	if role != "" {
		l[LabelRole] = role
	}
	return l
}

// namespace is the instance's Namespace (cue/templates/namespace.cue).
func (r *renderer) namespace() (*unstructured.Unstructured, error) {
	return object("#Namespace", map[string]any{
		"name":   r.ns,
		"labels": map[string]any{LabelName: AppName, LabelManagedBy: AppName},
	})
}

// object evaluates the template def of cue/templates with in.
func object(def string, in any) (*unstructured.Unstructured, error) {
	obj, err := templates.Eval(def, in)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// shapeError names the workload and role whose overlays failed, unless
// the config file's global overlay alone did: it applies to all.
func shapeError(w workload.Workload, role string, err error) error {
	if errors.As(err, new(globalError)) {
		return fmt.Errorf("render: %w", err)
	}
	return fmt.Errorf("render: workload %s role %s: %w", w.Name, role, err)
}

// secret holds the role's cloud-init user data (cue/templates/secret.cue
// says why as readable stringData).
func (r *renderer) secret(w workload.Workload, role workload.Role, roleName string) (*unstructured.Unstructured, error) {
	userData, err := cloudinit.Build(role, r.access)
	if err != nil {
		return nil, fmt.Errorf("render: workload %s role %s: %w", w.Name, role.Name, err)
	}
	return object("#Secret", map[string]any{
		"name":      secretName(w.Name, roleName),
		"namespace": r.ns,
		"labels":    r.labels(w, roleName),
		"userData":  string(userData),
	})
}

// service renders s under its declared name (cue/templates/service.cue);
// a headless one gives each selected VM its own DNS name (see subdomain).
func (r *renderer) service(w workload.Workload, s workload.Service, multiRole bool) (*unstructured.Unstructured, error) {
	if errs := validation.IsDNS1035Label(s.Name); len(errs) > 0 {
		return nil, fmt.Errorf("render: workload %s: service name %q is invalid: %s", w.Name, s.Name, strings.Join(errs, "; "))
	}
	hasRole := false
	for _, role := range w.Roles {
		hasRole = hasRole || role.Name == s.Role
	}
	if !hasRole {
		return nil, fmt.Errorf("render: workload %s: service %s selects role %q, which the workload does not have", w.Name, s.Name, s.Role)
	}
	role := ""
	if multiRole {
		role = s.Role
	}
	selector := map[string]any{LabelComponent: w.Name}
	if role != "" {
		selector[LabelRole] = role
	}
	ports := make([]any, 0, len(s.Ports))
	for _, p := range s.Ports {
		port := map[string]any{"port": p.Port}
		if p.Protocol != "" {
			port["protocol"] = p.Protocol
		}
		if p.Name != "" {
			port["name"] = p.Name
		}
		ports = append(ports, port)
	}
	return object("#Service", map[string]any{
		"name":      s.Name,
		"namespace": r.ns,
		"labels":    r.labels(w, role),
		"selector":  selector,
		"type":      "ClusterIP",
		"headless":  s.Headless,
		"ports":     ports,
	})
}

// subdomain is the headless Service of role's VMs, or "". The VMs get it
// as their subdomain and their own names as host names, which is what
// gives each its DNS name under the Service.
func subdomain(w workload.Workload, role string) string {
	for _, s := range w.Services {
		if s.Headless && s.Role == role {
			return s.Name
		}
	}
	return ""
}

// vms renders the count VMs of one role: it builds and checks one
// template VM, then stamps copies that differ from it only in names.
//
// Checking the template covers the copies: Check decodes into the Go
// types, which judge the shape of an object and the type of each value,
// and a copy has the template's shape and types exactly; only the string
// values of its own name and its DataVolumes' names (in the templates and
// the volumes) differ, and those are DNS-1123 labels by construction (see
// names.go). Checking every copy as well would cost about twice the time
// it takes to encode them (BenchmarkCheckVM: ~12 µs per VM against ~6 µs
// to encode one), breaking the goal of rendering within 2x the encoding.
//
// The copies share with the template every subtree that holds no name:
// the domain, networks, the root and cloud-init volumes, the DataVolume
// specs. Each VM has its own maps along the paths to its names and its
// own metadata (labels and annotations included), so setting metadata is
// safe; anything below spec must be deep-copied before it is changed.
// Sharing keeps rendering 10,000 VMs well below the time it takes to
// encode them.
//
// A role that declares no metrics gets names.AnnotationFigures, so that
// results knows its VMs report with their guest figures alone.
func (r *renderer) vms(w workload.Workload, role workload.Role, roleName, secret string, res resolved) ([]*unstructured.Unstructured, error) {
	disks := role.DataDisks
	for _, d := range disks {
		if errs := validation.IsDNS1123Label(d.Name); len(errs) > 0 {
			return nil, fmt.Errorf("render: workload %s: data disk name %q is invalid: %s", w.Name, d.Name, strings.Join(errs, "; "))
		}
		if d.Name == rootDisk || d.Name == cloudInitDisk {
			return nil, fmt.Errorf("render: workload %s: data disk name %q is reserved for virtwork's own disks", w.Name, d.Name)
		}
	}

	tmpl, err := r.vmTemplate(w, role, roleName, secret, res, disks)
	if err != nil {
		return nil, err
	}
	if err := r.shape(tmpl, w, role, disks); err != nil {
		return nil, shapeError(w, role.Name, err)
	}
	if len(role.Metrics) == 0 {
		meta := tmpl.Object["metadata"].(map[string]any)
		annotations, _ := meta["annotations"].(map[string]any)
		annotations = maps.Clone(annotations)
		if annotations == nil {
			annotations = map[string]any{}
		}
		annotations[names.AnnotationFigures] = names.FiguresGuest
		meta["annotations"] = annotations
	}
	out := make([]*unstructured.Unstructured, res.count)
	for i := range out {
		out[i] = stamp(tmpl, vmName(w.Name, roleName, i+1), disks)
	}
	if err := Check(out[0]); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return out, nil
}

// stamp returns a copy of the template VM tmpl named name, with its
// DataVolumes named after it. See vms for what the copy shares.
func stamp(tmpl *unstructured.Unstructured, name string, disks []workload.DataDisk) *unstructured.Unstructured {
	tmeta := tmpl.Object["metadata"].(map[string]any)
	tspec := tmpl.Object["spec"].(map[string]any)
	ttemplate := tspec["template"].(map[string]any)
	ttmeta := ttemplate["metadata"].(map[string]any)

	spec := maps.Clone(tspec)
	template := maps.Clone(ttemplate)
	spec["template"] = template
	// Metadata is the caller's to change: its own maps, and the labels'.
	tmplMeta := maps.Clone(ttmeta)
	tmplMeta["labels"] = maps.Clone(ttmeta["labels"].(map[string]any))
	template["metadata"] = tmplMeta
	meta := maps.Clone(tmeta)
	meta["name"] = name
	meta["labels"] = maps.Clone(tmeta["labels"].(map[string]any))
	if a, ok := tmeta["annotations"].(map[string]any); ok {
		meta["annotations"] = maps.Clone(a)
	}
	vm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": tmpl.Object["apiVersion"],
		"kind":       tmpl.Object["kind"],
		"metadata":   meta,
		"spec":       spec,
	}}
	tpodSpec := ttemplate["spec"].(map[string]any)
	_, named := tpodSpec["subdomain"]
	if len(disks) == 0 && !named {
		return vm
	}
	podSpec := maps.Clone(tpodSpec)
	template["spec"] = podSpec
	if named {
		// With the subdomain, <name>.<subdomain>.<namespace>.svc is this
		// VM's own DNS name. name is a DNS label (see names.go), so the
		// whole stays within 4 x 63 characters, under the 253 allowed.
		podSpec["hostname"] = name
	}
	if len(disks) == 0 {
		return vm
	}

	tdvts := tspec["dataVolumeTemplates"].([]any)
	volumes := slices.Clone(podSpec["volumes"].([]any))
	podSpec["volumes"] = volumes
	dvts := make([]any, len(tdvts))
	spec["dataVolumeTemplates"] = dvts
	for i, d := range disks {
		dv := dataVolumeName(name, d.Name)
		tdvt := tdvts[i].(map[string]any)
		meta := maps.Clone(tdvt["metadata"].(map[string]any))
		meta["annotations"] = maps.Clone(meta["annotations"].(map[string]any))
		meta["name"] = dv
		dvts[i] = map[string]any{"metadata": meta, "spec": tdvt["spec"]}
		// The data disks' volumes follow the root and cloud-init volumes.
		volumes[2+i] = map[string]any{"name": d.Name, "dataVolume": map[string]any{"name": dv}}
	}
	return vm
}

// vmTemplate evaluates a role's VM without its names (see stamp) from
// cue/templates/vm.cue.
func (r *renderer) vmTemplate(w workload.Workload, role workload.Role, roleName, secret string, res resolved, dataDisks []workload.DataDisk) (*unstructured.Unstructured, error) {
	disks := make([]any, 0, len(dataDisks))
	for _, d := range dataDisks {
		disks = append(disks, map[string]any{"name": d.Name, "size": res.diskSize[d.Name]})
	}
	in := map[string]any{
		"namespace": r.ns,
		"labels":    r.labels(w, roleName),
		"image":     r.image,
		"secret":    secret,
		"cores":     res.cores,
		"memory":    res.memory,
		"dataDisks": disks,
	}
	if r.cfg.StorageClass != "" {
		in["storageClass"] = r.cfg.StorageClass
	}
	if sub := subdomain(w, role.Name); sub != "" {
		in["subdomain"] = sub
	}
	tmpl, err := object("#VirtualMachine", in)
	if err != nil {
		return nil, fmt.Errorf("render: workload %s role %s: %w", w.Name, role.Name, err)
	}
	return tmpl, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
