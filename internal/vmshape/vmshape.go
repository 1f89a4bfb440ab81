// Package vmshape checks the VM overlays users write (in a workload role,
// the config file or through flags) against the generated KubeVirt API
// types and virtwork's own fields, and merges them into a role's VM
// template.
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
	dataVolumeTemplates?: error("virtwork owns spec.dataVolumeTemplates: declare data disks in the workload's dataDisks")
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

// Layer is one VM overlay: a CUE value shaped like a VirtualMachine.
type Layer = cue.Value

// Checker checks overlays in one CUE context; building the schema once
// per context (~30-100 ms) is what makes it worth keeping.
type Checker struct {
	ctx    *cue.Context
	schema cue.Value
}

// New builds the templates package (cue/templates, whose vm is the
// generated #VirtualMachine) in ctx, the context of the overlays to check.
func New(ctx *cue.Context) (*Checker, error) {
	s, err := templates.Build(ctx)
	if err != nil {
		return nil, fmt.Errorf("vm schema: %w", err)
	}
	return &Checker{ctx: ctx, schema: s}, nil
}

// Apply checks the layers (unified: two layers setting one field
// differently is a conflict) against #VirtualMachine and owned, then
// merges them into base, a copy of which it returns. Maps merge key by
// key; the lists of disks, interfaces, networks and volumes get the
// overlay's entries after virtwork's; any other list or value replaces
// the template's. When the overlay sets spec.instancetype, the
// template's CPU cores and memory request are left out, as KubeVirt
// requires.
func (c *Checker) Apply(base map[string]any, owned Owned, layers []Layer) (map[string]any, error) {
	if len(layers) == 0 {
		return base, nil
	}
	ctx, vmDef := c.ctx, c.schema
	var labels strings.Builder
	labels.WriteString("_labels: {\n")
	for _, l := range owned.Labels {
		fmt.Fprintf(&labels, "\t%q?: error(%q)\n", l, "virtwork owns the label "+l+": its Services and commands select VMs by it")
	}
	labels.WriteString("}\n")
	pins := ctx.CompileString(ownedSrc+labels.String(), cue.Filename("virtwork-owned-fields"))
	if err := pins.Err(); err != nil {
		return nil, fmt.Errorf("vm owned fields: %w", err)
	}

	overlay := layers[0]
	for _, l := range layers[1:] {
		overlay = overlay.Unify(l)
	}
	// Unified with the vm field alone: filling the package would evaluate
	// its template checks again (~3 MB).
	checked := vmDef.LookupPath(cue.ParsePath("vm")).Unify(pins).Unify(overlay)
	if err := checked.Validate(); err != nil {
		return nil, Errorf(overlay, err)
	}
	if err := overlay.Validate(cue.Concrete(true)); err != nil {
		return nil, Errorf(overlay, err)
	}
	var add map[string]any
	if err := overlay.Decode(&add); err != nil {
		return nil, Errorf(overlay, err)
	}
	if err := checkNames(overlay, owned); err != nil {
		return nil, err
	}

	out := deepCopy(base)
	if spec, _ := add["spec"].(map[string]any); spec != nil && spec["instancetype"] != nil {
		dropSizing(out)
	}
	merge(out, add, nil)
	return out, nil
}

// checkNames rejects overlay list entries named like a disk, volume,
// network or interface virtwork wires itself.
func checkNames(overlay cue.Value, owned Owned) error {
	lists := []struct {
		path  string
		names []string
		what  string
	}{
		{"spec.template.spec.domain.devices.disks", owned.Volumes, "disk"},
		{"spec.template.spec.volumes", owned.Volumes, "volume"},
		{"spec.template.spec.domain.devices.interfaces", owned.Networks, "interface"},
		{"spec.template.spec.networks", owned.Networks, "network"},
	}
	for _, l := range lists {
		it, err := overlay.LookupPath(cue.ParsePath(l.path)).List()
		if err != nil {
			continue // not set
		}
		for it.Next() {
			name := it.Value().LookupPath(cue.ParsePath("name"))
			s, _ := name.String()
			if slices.Contains(l.names, s) {
				return fmt.Errorf("%s: vm.%s: virtwork owns the %s %q; give yours another name", name.Pos(), l.path, l.what, s)
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

// appended are the lists whose overlay entries follow virtwork's.
var appended = map[string]bool{
	"spec.template.spec.domain.devices.disks":      true,
	"spec.template.spec.domain.devices.interfaces": true,
	"spec.template.spec.networks":                  true,
	"spec.template.spec.volumes":                   true,
}

func merge(dst, src map[string]any, path []string) {
	for k, v := range src {
		p := append(path, k)
		switch sv := v.(type) {
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv, p)
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

// Errorf formats CUE errors one per line as "file:line:col: path: msg",
// leading with the overlay's own position of the field concerned, so a
// conflict with an owned field or the schema points at the user's line.
func Errorf(overlay cue.Value, err error) error {
	var lines []string
	for _, e := range errors.Errors(err) {
		poss := errors.Positions(e)
		var at token.Pos
		path := e.Path()
		if len(path) > 0 && (path[0] == "vm" || strings.HasPrefix(path[0], "#")) {
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
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if len(path) > 0 {
			msg = "vm." + strings.Join(path, ".") + ": " + msg
		}
		if at.IsValid() {
			msg = at.String() + ": " + msg
		}
		lines = append(lines, msg)
	}
	lines = slices.Compact(lines)
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("... and %d more errors", len(lines)-10))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
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
