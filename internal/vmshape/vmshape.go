// Package vmshape checks the overlays users write for a role's
// VirtualMachine, its DataVolumes and its Services (in a workload role, the
// config file or through flags) against the generated API types and
// virtwork's own fields, and merges them into the role's templates.
package vmshape

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/virtwork/virtwork/internal/templates"
)

// Owned says what virtwork renders itself into every VM of a role, which
// no overlay may set.
type Owned struct {
	// Labels are the label keys virtwork selects the VMs by.
	Labels []string
	// Volumes are the disk and volume names virtwork wires (root disk,
	// cloud-init, data disks); Networks the network and interface names.
	Volumes  []string
	Networks []string
}

// ownedSrc pins the fields virtwork owns: setting one is a conflict with
// a message saying why (error() makes the conflict read as that message).
const ownedSrc = `
apiVersion?: error("virtwork owns apiVersion")
kind?:       error("virtwork owns kind")
metadata?: {
	name?:      error("virtwork owns metadata.name: it names each VM <workload>[-<role>]-<n>")
	namespace?: error("virtwork owns metadata.namespace: set --namespace instead")
	labels?: _labels
}
spec?: {
	runStrategy?:         error("virtwork owns spec.runStrategy: it is Always, since apply waits for every VM to run")
	running?:             error("virtwork owns spec.runStrategy (running is its deprecated form)")
	dataVolumeTemplates?: error("virtwork owns spec.dataVolumeTemplates: declare data disks in the workload's dataDisks and shape their DataVolumes with dataVolume")
	template?: {
		metadata?: {
			name?:   error("virtwork owns spec.template.metadata.name")
			labels?: _labels
		}
		spec?: {
			hostname?:  error("virtwork owns spec.template.spec.hostname: each VM's is its name")
			subdomain?: error("virtwork owns spec.template.spec.subdomain: it names the workload's headless Service")
		}
	}
	status?: error("status is set by KubeVirt, not by a VM overlay")
}
`

// Layer is one overlay: a CUE value shaped like the object it extends.
type Layer = cue.Value

// Checker checks overlays in one CUE context; building the schema once
// per context (~30-100 ms) is what makes it worth keeping.
type Checker struct {
	ctx    *cue.Context
	schema cue.Value
}

// New builds the templates package (cue/templates, whose vm, dataVolume
// and service are the generated API definitions) in ctx, the context of
// the overlays to check.
func New(ctx *cue.Context) (*Checker, error) {
	s, err := templates.Build(ctx)
	if err != nil {
		return nil, fmt.Errorf("overlay schema: %w", err)
	}
	return &Checker{ctx: ctx, schema: s}, nil
}

// Overlay is a checked overlay, merged into each object of its role by
// Merge.
type Overlay struct {
	add      map[string]any
	appended map[string]bool
	// dropSizing: the VM overlay sets an instancetype.
	dropSizing bool
}

// Merge returns a copy of base with the overlay merged in: maps merge
// key by key; the appended lists get the overlay's entries after
// virtwork's; any other list or value replaces base's. A nil overlay
// returns base itself.
func (o *Overlay) Merge(base map[string]any) map[string]any {
	if o == nil {
		return base
	}
	out := deepCopy(base)
	if o.dropSizing {
		dropSizing(out)
	}
	merge(out, o.add, nil, o.appended)
	return out
}

// Apply checks the VM layers (unified: two layers setting one field
// differently is a conflict) against #VirtualMachine and owned, then
// merges them into base, a copy of which it returns. Maps merge key by
// key; the lists of disks, interfaces, networks and volumes get the
// overlay's entries after virtwork's; any other list or value replaces
// the template's. When the overlay sets spec.instancetype, the
// template's CPU cores and memory request are left out, as KubeVirt
// requires.
func (c *Checker) Apply(base map[string]any, owned Owned, layers []Layer) (map[string]any, error) {
	o, err := c.VM(owned, layers)
	if err != nil {
		return nil, err
	}
	return o.Merge(base), nil
}

// VM checks VM layers (see Apply); nil when there are none.
func (c *Checker) VM(owned Owned, layers []Layer) (*Overlay, error) {
	if len(layers) == 0 {
		return nil, nil
	}
	o, overlay, err := c.check("vm", ownedSrc+labelPins(owned.Labels), layers)
	if err != nil {
		return nil, err
	}
	if err := checkNames("vm", overlay, []namedList{
		{"spec.template.spec.domain.devices.disks", owned.Volumes, "disk"},
		{"spec.template.spec.volumes", owned.Volumes, "volume"},
		{"spec.template.spec.domain.devices.interfaces", owned.Networks, "interface"},
		{"spec.template.spec.networks", owned.Networks, "network"},
	}); err != nil {
		return nil, err
	}
	o.appended = appended
	if spec, _ := o.add["spec"].(map[string]any); spec != nil && spec["instancetype"] != nil {
		if err := checkSized(overlay); err != nil {
			return nil, err
		}
		o.dropSizing = true
	}
	return o, nil
}

// sizingPaths are the fields KubeVirt's webhook refuses beside an
// instancetype (../shared/REFERENCE.md): the instancetype sizes the VM.
var sizingPaths = []string{
	"spec.template.spec.domain.cpu",
	"spec.template.spec.domain.memory",
	"spec.template.spec.domain.resources.requests",
	"spec.template.spec.domain.resources.limits",
}

// checkSized rejects an overlay whose layers set an instancetype and
// also size the VM themselves; only the template's own sizing is dropped
// (dropSizing), a user's is an error at its position.
func checkSized(overlay cue.Value) error {
	for _, p := range sizingPaths {
		v := overlay.LookupPath(cue.ParsePath(p))
		if !v.Exists() {
			continue
		}
		if !v.Pos().IsValid() {
			// Set by a flag (--dedicated-cpu), which has no position:
			// point at the overlay's instancetype instead.
			it := overlay.LookupPath(cue.ParsePath("spec.instancetype"))
			return fmt.Errorf("%s: vm.spec.instancetype: an instancetype sizes the VM, so KubeVirt refuses %s (here from a flag such as --dedicated-cpu) beside it; drop one of them", userPos(it), p)
		}
		return fmt.Errorf("%s: vm.%s: an instancetype (spec.instancetype) sizes the VM, so KubeVirt refuses CPU and memory beside it; drop one of them", v.Pos(), p)
	}
	return nil
}

// dataVolumePins are the fields of a data disk's DataVolume virtwork
// owns: its name, the blank source, the size and the annotation that
// keeps it after its import.
const dataVolumePins = `
apiVersion?: error("virtwork owns apiVersion")
kind?:       error("virtwork owns kind")
metadata?: {
	name?:      error("virtwork owns metadata.name: it names each DataVolume <vm>-<disk>")
	namespace?: error("virtwork owns metadata.namespace: a VM's DataVolumes are in its namespace")
	annotations?: "cdi.kubevirt.io/storage.deleteAfterCompletion"?: error("virtwork owns the annotation cdi.kubevirt.io/storage.deleteAfterCompletion: it keeps a finished DataVolume, so that a re-apply does not create it again")
}
spec?: {
	source?:    error("virtwork owns spec.source: data disks are blank")
	sourceRef?: error("virtwork owns spec.source: data disks are blank (no sourceRef)")
	pvc?:       error("virtwork renders spec.storage, not spec.pvc: shape spec.storage instead")
	storage?: {
		resources?: requests?: storage?: error("virtwork owns spec.storage.resources.requests.storage: the size is the data disk's size or --disk-size")
		dataSource?:    error("virtwork owns spec.source: data disks are blank (no dataSource)")
		dataSourceRef?: error("virtwork owns spec.source: data disks are blank (no dataSourceRef)")
	}
}
status?: error("status is set by KubeVirt, not by an overlay")
`

// StorageClass is the storage class the settings give the data disks
// (--storage-class), and where it came from; a dataVolume overlay may set
// the same one or, without the setting, its own.
type StorageClass struct {
	Name, From string
}

// DataVolume checks the layers of a role's data volumes (their
// dataVolumeTemplates entries) against #DataVolumeTemplateSpec and the
// fields virtwork owns; nil when there are none.
func (c *Checker) DataVolume(sc StorageClass, layers []Layer) (*Overlay, error) {
	if len(layers) == 0 {
		return nil, nil
	}
	o, overlay, err := c.check("dataVolume", dataVolumePins, layers)
	if err != nil {
		return nil, err
	}
	v := overlay.LookupPath(cue.ParsePath("spec.storage.storageClassName"))
	if name, err := v.String(); err == nil && sc.Name != "" && name != sc.Name {
		return nil, fmt.Errorf("%s: dataVolume.spec.storage.storageClassName: %q conflicts with storageClass %q (%s); set the storage class in one place", v.Pos(), name, sc.Name, sc.From)
	}
	return o, nil
}

// ServiceOwned says what virtwork renders into a role's Services.
type ServiceOwned struct {
	// Labels are the label keys virtwork selects by.
	Labels []string
	// Headless names a headless Service of the role, if any: its
	// clusterIP (None) and type are virtwork's.
	Headless string
	// Ports are the ports the workload declares (name and number).
	Ports []Port
}

// Port is a port a workload's Service declares.
type Port struct {
	Name string
	Port int64
}

// servicePins are the fields of a workload's Service virtwork owns.
const servicePins = `
apiVersion?: error("virtwork owns apiVersion")
kind?:       error("virtwork owns kind")
metadata?: {
	name?:      error("virtwork owns metadata.name: it is the Service's name in the workload's services")
	namespace?: error("virtwork owns metadata.namespace: set --namespace instead")
	labels?:    _labels
}
spec?: {
	selector?: error("virtwork owns spec.selector: the Service selects the VMs of its role")
	_headless
}
status?: error("status is set by Kubernetes, not by an overlay")
`

// Service checks the layers of a role's Services against core/v1
// #Service and the fields virtwork owns; nil when there are none. Ports
// the overlay adds follow the declared ones.
func (c *Checker) Service(owned ServiceOwned, layers []Layer) (*Overlay, error) {
	if len(layers) == 0 {
		return nil, nil
	}
	headless := "_headless: {}\n"
	if owned.Headless != "" {
		why := "a headless Service (" + owned.Headless + ") gives each VM its DNS name; declare another Service in the workload for other types"
		headless = fmt.Sprintf("_headless: {\n\tclusterIP?: error(%q)\n\tclusterIPs?: error(%q)\n\ttype?: error(%q)\n}\n",
			"virtwork owns spec.clusterIP: "+why, "virtwork owns spec.clusterIPs: "+why, "virtwork owns spec.type: "+why)
	}
	o, overlay, err := c.check("service", servicePins+headless+labelPins(owned.Labels), layers)
	if err != nil {
		return nil, err
	}
	if it, err := overlay.LookupPath(cue.ParsePath("spec.ports")).List(); err == nil {
		for it.Next() {
			name := it.Value().LookupPath(cue.ParsePath("name"))
			n, _ := name.String()
			port := it.Value().LookupPath(cue.ParsePath("port"))
			p, _ := port.Int64()
			for _, d := range owned.Ports {
				if n != "" && n == d.Name {
					return nil, fmt.Errorf("%s: service.spec.ports: virtwork owns the port %q (the workload declares it); give yours another name", name.Pos(), n)
				}
				if p == d.Port {
					return nil, fmt.Errorf("%s: service.spec.ports: virtwork owns port %d (the workload declares it); add another port", port.Pos(), p)
				}
			}
		}
	}
	o.appended = map[string]bool{"spec.ports": true}
	return o, nil
}

// labelPins defines _labels, the owned label keys, for the pins.
func labelPins(keys []string) string {
	var labels strings.Builder
	labels.WriteString("_labels: {\n")
	for _, l := range keys {
		fmt.Fprintf(&labels, "\t%q?: error(%q)\n", l, "virtwork owns the label "+l+": its Services and commands select VMs by it")
	}
	labels.WriteString("}\n")
	return labels.String()
}

// check unifies the layers, checks them against the package's field
// (vm, dataVolume, service: a closed API definition) and the pins of
// owned fields, and decodes them.
func (c *Checker) check(field, pinSrc string, layers []Layer) (*Overlay, cue.Value, error) {
	pins := c.ctx.CompileString(pinSrc, cue.Filename("virtwork-owned-fields"))
	if err := pins.Err(); err != nil {
		return nil, cue.Value{}, fmt.Errorf("%s owned fields: %w", field, err)
	}
	overlay := layers[0]
	for _, l := range layers[1:] {
		overlay = overlay.Unify(l)
	}
	// Unified with the field alone: filling the package would evaluate
	// its template checks again (~3 MB).
	checked := c.schema.LookupPath(cue.ParsePath(field)).Unify(pins).Unify(overlay)
	if err := checked.Validate(); err != nil {
		return nil, overlay, errorf(field, overlay, err)
	}
	if err := overlay.Validate(cue.Concrete(true)); err != nil {
		return nil, overlay, errorf(field, overlay, err)
	}
	var add map[string]any
	if err := overlay.Decode(&add); err != nil {
		return nil, overlay, errorf(field, overlay, err)
	}
	return &Overlay{add: add}, overlay, nil
}

// namedList is a list of an overlay whose entries may not take the
// names virtwork gives its own.
type namedList struct {
	path  string
	names []string
	what  string
}

// checkNames rejects overlay list entries named like a disk, volume,
// network, interface or port virtwork wires itself.
func checkNames(field string, overlay cue.Value, lists []namedList) error {
	for _, l := range lists {
		it, err := overlay.LookupPath(cue.ParsePath(l.path)).List()
		if err != nil {
			continue // not set
		}
		for it.Next() {
			name := it.Value().LookupPath(cue.ParsePath("name"))
			s, _ := name.String()
			if slices.Contains(l.names, s) {
				return fmt.Errorf("%s: %s.%s: virtwork owns the %s %q; give yours another name", name.Pos(), field, l.path, l.what, s)
			}
		}
	}
	return nil
}

// dropSizing removes the template's CPU and memory sizing (an
// instancetype provides them).
func dropSizing(vm map[string]any) {
	domain := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["domain"].(map[string]any)
	delete(domain, "cpu")
	delete(domain, "resources")
}

// appended are the VM's lists whose overlay entries follow virtwork's.
var appended = map[string]bool{
	"spec.template.spec.domain.devices.disks":      true,
	"spec.template.spec.domain.devices.interfaces": true,
	"spec.template.spec.networks":                  true,
	"spec.template.spec.volumes":                   true,
}

func merge(dst, src map[string]any, path []string, appended map[string]bool) {
	for k, v := range src {
		p := append(path, k)
		switch sv := v.(type) {
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv, p, appended)
				continue
			}
		case []any:
			if dv, ok := dst[k].([]any); ok && appended[strings.Join(p, ".")] {
				dst[k] = append(slices.Clip(dv), sv...)
				continue
			}
		}
		dst[k] = v
	}
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopy(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopyValue(e)
		}
		return out
	}
	return v
}

// errorf reports CUE errors as ONE line, "file:line:col: path: msg",
// leading with the overlay's own position of the field concerned, so a
// conflict with an owned field or the schema points at the user's line;
// the path starts with the overlay's field (vm, dataVolume, service).
// A conflict with a field virtwork owns wins over the rest (its message
// says how to fix it); an enum's empty disjunction becomes "X is not one
// of A, B"; further problems are counted, not listed.
func errorf(field string, overlay cue.Value, err error) error {
	type problem struct {
		path, format, prefix, line string
		args                       []any
	}
	var problems []problem
	for _, e := range errors.Errors(err) {
		poss := errors.Positions(e)
		var at token.Pos
		path := e.Path()
		if len(path) > 0 && (path[0] == field || strings.HasPrefix(path[0], "#")) {
			path = path[1:]
		}
		if len(path) > 0 {
			sels := make([]cue.Selector, 0, len(path))
			for _, p := range path {
				sels = append(sels, selector(p))
			}
			at = overlay.LookupPath(cue.MakePath(sels...)).Pos()
		}
		if !at.IsValid() {
			for _, p := range poss {
				if p.Filename() != "virtwork-owned-fields" && !strings.Contains(p.Filename(), "/cue.mod/gen/") {
					at = p
					break
				}
			}
		}
		prefix := ""
		if at.IsValid() {
			prefix = at.String() + ": "
		}
		if len(path) > 0 {
			prefix += field + "." + strings.Join(path, ".") + ": "
		}
		format, args := e.Msg()
		problems = append(problems, problem{
			path:   strings.Join(path, "."),
			format: format,
			args:   args,
			prefix: prefix,
			line:   prefix + fmt.Sprintf(format, args...),
		})
	}
	if len(problems) == 0 {
		return err
	}
	for _, p := range problems {
		if strings.Contains(p.line, "virtwork owns ") {
			return fmt.Errorf("%s", p.line) // alone: the rest follow from it
		}
	}
	p := problems[0]
	line := p.line
	// The disjuncts' conflicts follow their "empty disjunction" error.
	same := map[string]bool{line: true}
	if strings.Contains(p.format, "empty disjunction") {
		var conflicts [][2]string
		for _, q := range problems[1:] {
			if q.path != p.path || q.format != "conflicting values %s and %s" || len(q.args) != 2 {
				continue
			}
			conflicts = append(conflicts, [2]string{fmt.Sprint(q.args[0]), fmt.Sprint(q.args[1])})
			same[q.line] = true
		}
		if got, allowed, ok := enumValues(conflicts); ok {
			line = p.prefix + got + " is not one of " + strings.Join(allowed, ", ")
		}
	}
	more := 0
	for _, q := range problems {
		if !same[q.line] {
			same[q.line] = true
			more++
		}
	}
	switch {
	case more == 1:
		line += " (and 1 more error)"
	case more > 1:
		line += fmt.Sprintf(" (and %d more errors)", more)
	}
	return fmt.Errorf("%s", line)
}

// enumValues finds, in the conflicts of an empty disjunction of values,
// the value given (the one side common to every conflict) and the values
// allowed (the other sides, sorted).
func enumValues(conflicts [][2]string) (got string, allowed []string, ok bool) {
	if len(conflicts) == 0 {
		return "", nil, false
	}
	for _, side := range []int{1, 0} {
		got = conflicts[0][side]
		allowed = allowed[:0]
		for _, c := range conflicts {
			if c[side] != got {
				allowed = nil
				break
			}
			allowed = append(allowed, c[1-side])
		}
		if allowed != nil {
			slices.Sort(allowed)
			return got, slices.Compact(allowed), true
		}
	}
	return "", nil, false
}

func selector(p string) cue.Selector {
	if strings.HasPrefix(p, "#") {
		return cue.Def(p)
	}
	if u, err := strconv.Unquote(p); err == nil {
		return cue.Str(u)
	}
	var i int
	if _, err := fmt.Sscanf(p, "%d", &i); err == nil && fmt.Sprint(i) == p {
		return cue.Index(i)
	}
	return cue.Str(p)
}

// userPos is where an overlay value is written: the position of its
// first field that has one, else the value's own.
func userPos(v cue.Value) token.Pos {
	if it, err := v.Fields(); err == nil {
		for it.Next() {
			if p := it.Value().Pos(); p.IsValid() {
				return p
			}
		}
	}
	return v.Pos()
}
