package workload

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/api/resource"

	virtworkcue "github.com/virtwork/virtwork/cue"
	"github.com/virtwork/virtwork/internal/guestos"
)

// LoadOptions say where workloads come from and what they may depend on.
type LoadOptions struct {
	// Dir is a --workload-dir: every *.cue file directly in it is loaded
	// next to the built-ins. Empty means built-ins only.
	Dir   string
	Input Input
	// Limits bound the evaluation (see Limits).
	Limits Limits
}

// cuePackage is the package clause of every workload file; a user file
// may omit it.
const cuePackage = "virtwork"

// builtinPrefix is how built-in files are named in errors and File.
const builtinPrefix = "builtin/"

// source is one CUE file before evaluation.
type source struct {
	name    string // builtin/<file> or the user's path
	text    []byte
	builtin bool
}

// Load evaluates the built-in workloads and those in opts.Dir as one CUE
// package against the schema, and returns them in listing order: the
// built-ins in the order of virtworkcue.Builtins, then the user's by name.
func Load(opts LoadOptions) ([]Workload, error) {
	if opts.Input.Namespace == "" {
		return nil, fmt.Errorf("workload: no namespace given to fill in as input.namespace")
	}
	srcs, err := readSources(opts.Dir)
	if err != nil {
		return nil, err
	}
	what := "the built-in workloads"
	if opts.Dir != "" {
		what = "--workload-dir " + opts.Dir
	}
	return guarded(opts.Limits, what, func() ([]Workload, error) { return evaluate(srcs, opts.Input) })
}

func readSources(dir string) ([]source, error) {
	entries, err := fs.ReadDir(virtworkcue.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("reading embedded CUE: %w", err)
	}
	var srcs []source
	for _, e := range entries {
		if path.Ext(e.Name()) != ".cue" {
			continue // a guest program: see guestPrograms
		}
		text, err := fs.ReadFile(virtworkcue.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading embedded CUE: %w", err)
		}
		srcs = append(srcs, source{name: builtinPrefix + e.Name(), text: text, builtin: true})
	}
	if dir == "" {
		return srcs, nil
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("workload dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("workload dir %s is not a directory", dir)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.cue"))
	if err != nil {
		return nil, fmt.Errorf("workload dir %s: %w", dir, err)
	}
	for _, p := range paths { // Glob returns them sorted
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("workload file: %w", err)
		}
		srcs = append(srcs, source{name: p, text: text})
	}
	return srcs, nil
}

// evaluate builds all sources as one instance of package virtwork, fills in
// the input and decodes the workloads map.
func evaluate(srcs []source, in Input) ([]Workload, error) {
	inst := build.NewContext().NewInstance("", nil)
	inst.PkgName = cuePackage
	owners := map[string]string{} // workload name -> file that declares it
	decls := map[string]token.Pos{}
	cueError := func(errs ...error) error { return formatErrors(decls, errs...) }
	var errs []error
	var extensions []extension
	files := map[string]*ast.File{}
	for _, src := range srcs {
		f, err := parser.ParseFile(src.name, src.text, parser.ParseComments)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files[src.name] = f
		if pkg := f.PackageName(); pkg != "" && pkg != cuePackage {
			errs = append(errs, errors.Newf(f.Pos(), "package %s: a workload file must be in package %s (or have no package clause)", pkg, cuePackage))
			continue
		}
		decl, ext := declaredWorkloads(f)
		if !src.builtin {
			extensions = append(extensions, ext...)
		} else {
			for _, x := range ext {
				decl = append(decl, declaration{name: x.workload, pos: x.pos})
			}
		}
		for _, d := range decl {
			if prev, ok := owners[d.name]; ok {
				errs = append(errs, errors.Newf(d.pos, "workload %q is already defined in %s; rename one of them", d.name, prev))
				continue
			}
			owners[d.name] = src.name
			decls[d.name] = d.pos
		}
		if err := inst.AddSyntax(f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, cueError(errs...)
	}
	programs, err := guestPrograms()
	if err != nil {
		return nil, err
	}
	if err := inst.AddSyntax(programs); err != nil {
		return nil, cueError(err)
	}

	ctx := cuecontext.New()
	root := ctx.BuildInstance(inst)
	root = root.FillPath(cue.MakePath(cue.Str("input"), cue.Str("namespace")), in.Namespace)
	guest, err := guestos.Lookup(in.GuestOS)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	root = root.FillPath(cue.MakePath(cue.Str("input"), cue.Str("guest")), map[string]any{
		"os": guest.Name, "family": guest.Family, "selinux": guest.SELinux,
	})
	if root, err = fillParams(root, in.Params); err != nil {
		return nil, err
	}
	if err := root.Validate(cue.Concrete(true)); err != nil {
		return nil, cueError(err)
	}
	if err := checkTopLevel(root); err != nil {
		return nil, err
	}

	var decoded map[string]cueWorkload
	if err := root.LookupPath(cue.MakePath(cue.Str("workloads"))).Decode(&decoded); err != nil {
		return nil, cueError(err)
	}

	var agent GuestAgent
	if err := root.LookupPath(cue.MakePath(cue.Def("GuestAgent"))).Decode(&agent); err != nil {
		return nil, cueError(err)
	}

	texts := map[string]string{}
	for _, src := range srcs {
		texts[src.name] = string(src.text)
	}
	for _, x := range extensions {
		cw, ok := decoded[x.workload]
		if _, declared := owners[x.workload]; !ok || !declared {
			return nil, cueError(errors.Newf(x.pos, "workloads.%s: no workload %s to shape (known: %s)", x.workload, x.workload, strings.Join(sortedKeys(owners), ", ")))
		}
		for _, r := range x.roles {
			roles, known := declaredRoles(files[owners[x.workload]], x.workload)
			if _, ok := cw.Roles[r.name]; !ok || known && !slices.Contains(roles, r.name) {
				return nil, cueError(errors.Newf(r.pos, "workloads.%s.roles.%s: workload %s has no role %s to shape", x.workload, r.name, x.workload, r.name))
			}
		}
	}
	out := make([]Workload, 0, len(decoded))
	for name, cw := range decoded {
		file, ok := owners[name]
		if !ok {
			// Declared in a way declaredWorkloads does not follow (a
			// comprehension, say): attribute it by position.
			file = root.LookupPath(cue.MakePath(cue.Str("workloads"), cue.Str(name))).Pos().Filename()
		}
		w, err := cw.workload(file, texts[file], agent)
		if err != nil {
			return nil, err
		}
		for i := range w.Roles {
			role := root.LookupPath(cue.MakePath(cue.Str("workloads"), cue.Str(name), cue.Str("roles"), cue.Str(w.Roles[i].Name)))
			w.Roles[i].VM = role.LookupPath(cue.MakePath(cue.Str("vm")))
			w.Roles[i].DataVolume = role.LookupPath(cue.MakePath(cue.Str("dataVolume")))
			w.Roles[i].Service = role.LookupPath(cue.MakePath(cue.Str("service")))
		}
		out = append(out, w)
	}
	sortWorkloads(out)
	if err := checkServiceNames(out); err != nil {
		return nil, err
	}
	return out, nil
}

// guestPrograms is a CUE file that sets the schema's _guestPrograms to the
// text of the embedded guest programs, so that the Python stays in its own
// files (runnable and tested as they are) instead of a CUE string.
func guestPrograms() (*ast.File, error) {
	f := &ast.File{Filename: builtinPrefix + "guest-programs"}
	f.Decls = append(f.Decls, &ast.Package{Name: ast.NewIdent(cuePackage)})
	var fields []any
	for _, field := range sortedKeys(virtworkcue.GuestPrograms) {
		text, err := fs.ReadFile(virtworkcue.FS, virtworkcue.GuestPrograms[field])
		if err != nil {
			return nil, fmt.Errorf("reading embedded guest program: %w", err)
		}
		fields = append(fields, field, &ast.BasicLit{Kind: token.STRING, Value: literal.String.Quote(string(text))})
	}
	f.Decls = append(f.Decls, &ast.Field{Label: ast.NewIdent("_guestPrograms"), Value: ast.NewStruct(fields...)})
	return f, nil
}

// fillParams sets workload parameters, each read as the type its
// workload declares, and names the setting at fault when one does not fit.
func fillParams(root cue.Value, params []Param) (cue.Value, error) {
	for _, p := range params {
		setting := fmt.Sprintf("%s %s.%s=%s", p.Source, p.Workload, p.Key, p.Value)
		w := root.LookupPath(cue.MakePath(cue.Str("workloads"), cue.Str(p.Workload)))
		if !w.Exists() {
			return root, fmt.Errorf("%s: no workload %q (see virtwork workloads)", setting, p.Workload)
		}
		declared := w.LookupPath(cue.MakePath(cue.Str("params")))
		var keys []string
		if it, err := declared.Fields(); err == nil {
			for it.Next() {
				keys = append(keys, it.Selector().String())
			}
		}
		path := cue.MakePath(cue.Str("workloads"), cue.Str(p.Workload), cue.Str("params"), cue.Str(p.Key))
		param := root.LookupPath(path)
		if !param.Exists() {
			known := "it has none"
			if len(keys) > 0 {
				known = "it has " + strings.Join(keys, ", ")
			}
			return root, fmt.Errorf("%s: workload %s has no parameter %q (%s)", setting, p.Workload, p.Key, known)
		}
		var value any = p.Value
		switch param.IncompleteKind() {
		case cue.IntKind:
			n, err := strconv.Atoi(p.Value)
			if err != nil {
				return root, fmt.Errorf("%s: %s.%s is a whole number", setting, p.Workload, p.Key)
			}
			value = n
		case cue.BoolKind:
			b, err := strconv.ParseBool(p.Value)
			if err != nil {
				return root, fmt.Errorf("%s: %s.%s is true or false", setting, p.Workload, p.Key)
			}
			value = b
		}
		filled := root.FillPath(path, value)
		if err := filled.LookupPath(path).Validate(cue.Concrete(true)); err != nil {
			return root, fmt.Errorf("%s: %s", setting, paramError(err))
		}
		root = filled
	}
	return root, nil
}

// paramError says in one line why a parameter's value does not fit its
// declaration, leaving out the schema's "not a bool, not a string"
// alternatives that the disjunction int | bool | string adds.
func paramError(err error) string {
	var msgs []string
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if strings.Contains(msg, "mismatched types") || strings.Contains(msg, "empty disjunction") {
			continue
		}
		if pos := e.Position(); pos.IsValid() {
			msg += " (" + pos.String() + ")"
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return strings.Join(msgs, "; ")
}

// declaration is a workload name as written in a file.
type declaration struct {
	name string
	pos  token.Pos
}

// extension is a workload entry in a user file that only adds overlays
// (vm, dataVolume, service) to roles of a workload declared elsewhere:
// workloads: disk: roles: main: vm: {...}.
type extension struct {
	workload string
	pos      token.Pos
	roles    []declaration
}

// declaredWorkloads finds the workloads a file declares with
// `workloads: NAME: ...` or `workloads: {NAME: ...}`, and apart from
// them the entries that only extend roles with a vm field.
func declaredWorkloads(f *ast.File) ([]declaration, []extension) {
	var out []declaration
	var exts []extension
	for _, wf := range fieldsOf(f.Decls, "workloads") {
		name := labelName(wf.Label)
		if name == "" {
			continue
		}
		if roles, ok := vmOnly(wf.Value); ok {
			exts = append(exts, extension{workload: name, pos: wf.Label.Pos(), roles: roles})
			continue
		}
		out = append(out, declaration{name: name, pos: wf.Label.Pos()})
	}
	return out, exts
}

// fieldsOf returns the fields inside the struct value of every field
// called label among decls (label: {A: ..., B: ...} or label: A: ...).
func fieldsOf(decls []ast.Decl, label string) []*ast.Field {
	var out []*ast.Field
	for _, d := range decls {
		field, ok := d.(*ast.Field)
		if !ok || labelName(field.Label) != label {
			continue
		}
		if v, ok := field.Value.(*ast.StructLit); ok {
			for _, e := range v.Elts {
				if f, ok := e.(*ast.Field); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// shapeFields are the overlays a file may add to a role of a workload
// declared elsewhere.
var shapeFields = []string{"vm", "dataVolume", "service"}

// vmOnly reports whether a workload entry holds nothing but
// roles: NAME: vm: ... (or dataVolume, service), and which roles it names.
func vmOnly(v ast.Expr) ([]declaration, bool) {
	s, ok := v.(*ast.StructLit)
	if !ok || len(s.Elts) == 0 {
		return nil, false
	}
	var roles []declaration
	for _, e := range s.Elts {
		f, ok := e.(*ast.Field)
		if !ok || labelName(f.Label) != "roles" {
			return nil, false
		}
		for _, rf := range fieldsOf([]ast.Decl{f}, "roles") {
			body, ok := rf.Value.(*ast.StructLit)
			if !ok || len(body.Elts) == 0 {
				return nil, false
			}
			for _, be := range body.Elts {
				if bf, ok := be.(*ast.Field); !ok || !slices.Contains(shapeFields, labelName(bf.Label)) {
					return nil, false
				}
			}
			roles = append(roles, declaration{name: labelName(rf.Label), pos: rf.Label.Pos()})
		}
	}
	return roles, len(roles) > 0
}

// declaredRoles returns the roles file declares for workload, and false
// when they are not written out plainly (then every role counts).
func declaredRoles(f *ast.File, workload string) ([]string, bool) {
	if f == nil {
		return nil, false
	}
	var names []string
	for _, wf := range fieldsOf(f.Decls, "workloads") {
		if labelName(wf.Label) != workload {
			continue
		}
		body, ok := wf.Value.(*ast.StructLit)
		if !ok {
			return nil, false
		}
		for _, rf := range fieldsOf(body.Elts, "roles") {
			names = append(names, labelName(rf.Label))
		}
	}
	return names, len(names) > 0
}

// labelName is the name of a plain identifier or string label, or "".
func labelName(l ast.Label) string {
	name, _, err := ast.LabelName(l)
	if err != nil {
		return ""
	}
	return name
}

// checkTopLevel rejects regular top-level fields other than input and
// workloads, which would otherwise be silently ignored (a misspelt
// "workload:", say).
func checkTopLevel(root cue.Value) error {
	it, err := root.Fields()
	if err != nil {
		return cueError(err)
	}
	var errs []error
	for it.Next() {
		switch sel := it.Selector().String(); sel {
		case "input", "workloads":
		default:
			errs = append(errs, errors.Newf(it.Value().Pos(), "unknown top-level field %s: a workload file declares workloads: NAME: {...}", sel))
		}
	}
	if len(errs) > 0 {
		return cueError(errs...)
	}
	return nil
}

// cueWorkload and the types below mirror the schema for decoding.
type cueWorkload struct {
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Roles       map[string]cueRole    `json:"roles"`
	Services    map[string]cueService `json:"services"`
}

type cueRole struct {
	Name      string `json:"name"`
	VMCount   int    `json:"vmCount"`
	Resources struct {
		CPUCores int    `json:"cpuCores"`
		Memory   string `json:"memory"`
	} `json:"resources"`
	Packages  []string             `json:"packages"`
	Files     []File               `json:"files"`
	Units     []Unit               `json:"units"`
	Commands  []string             `json:"commands"`
	Metrics   map[string]cueMetric `json:"metrics"`
	DataDisks []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		Size      string `json:"size"`
	} `json:"dataDisks"`
}

type cueMetric struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Help   string   `json:"help"`
	Labels []string `json:"labels"`
}

type cueService struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Ports    []Port `json:"ports"`
	Headless bool   `json:"headless"`
}

func (cw cueWorkload) workload(file, text string, agent GuestAgent) (Workload, error) {
	w := Workload{Name: cw.Name, Description: cw.Description, File: file, Source: text}
	for _, name := range sortedKeys(cw.Roles) {
		cr := cw.Roles[name]
		r := Role{
			Name:     cr.Name,
			VMCount:  cr.VMCount,
			CPUCores: cr.Resources.CPUCores,
			Memory:   cr.Resources.Memory,
			Packages: cr.Packages,
			Files:    cr.Files,
			Units:    cr.Units,
			Commands: cr.Commands,
			Agent:    agent,
		}
		for _, m := range sortedKeys(cr.Metrics) {
			cm := cr.Metrics[m]
			r.Metrics = append(r.Metrics, Metric{Name: cm.Name, Type: cm.Type, Help: cm.Help, Labels: cm.Labels})
		}
		if err := checkQuantity(w.Name, "roles."+name+".resources.memory", r.Memory); err != nil {
			return Workload{}, err
		}
		for _, d := range cr.DataDisks {
			if err := checkQuantity(w.Name, "roles."+name+".dataDisks."+d.Name+".size", d.Size); err != nil {
				return Workload{}, err
			}
			r.DataDisks = append(r.DataDisks, DataDisk{Name: d.Name, MountPath: d.MountPath, Size: d.Size})
		}
		w.Roles = append(w.Roles, r)
	}
	for _, name := range sortedKeys(cw.Services) {
		cs := cw.Services[name]
		w.Services = append(w.Services, Service{Name: cs.Name, Role: cs.Role, Ports: cs.Ports, Headless: cs.Headless})
	}
	headless := map[string]string{}
	for _, s := range w.Services {
		if !s.Headless {
			continue
		}
		if prev, ok := headless[s.Role]; ok {
			return Workload{}, fmt.Errorf("workload %s: services %s and %s are both headless for role %s; a VM has one DNS subdomain, so keep one", w.Name, prev, s.Name, s.Role)
		}
		headless[s.Role] = s.Name
	}
	return w, nil
}

// checkQuantity catches what the schema's pattern lets through but
// Kubernetes rejects (e.g. an overflowing number).
func checkQuantity(workload, field, q string) error {
	if q == "" {
		return nil
	}
	if _, err := resource.ParseQuantity(q); err != nil {
		return fmt.Errorf("workload %s: %s: %q is not a Kubernetes quantity (e.g. 512Mi, 2Gi): %v", workload, field, q, err)
	}
	return nil
}

// checkServiceNames makes sure Service names are unique across workloads,
// since they are the Kubernetes object names.
func checkServiceNames(ws []Workload) error {
	owner := map[string]string{}
	for _, w := range ws {
		for _, s := range w.Services {
			if prev, ok := owner[s.Name]; ok {
				return fmt.Errorf("workload %s: service %q is already defined by workload %s; Service names must be unique across workloads", w.Name, s.Name, prev)
			}
			owner[s.Name] = w.Name
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortWorkloads puts the built-ins first in their fixed order, then the
// others by name.
func sortWorkloads(ws []Workload) {
	rank := func(name string) int {
		if i := slices.Index(virtworkcue.Builtins, name); i >= 0 {
			return i
		}
		return len(virtworkcue.Builtins)
	}
	slices.SortFunc(ws, func(a, b Workload) int {
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// cueError formats errors that concern no particular workload.
func cueError(errs ...error) error { return formatErrors(nil, errs...) }

// formatErrors formats CUE errors one per line as "file:line:col: path: msg",
// naming the other positions involved (often the schema constraint) after
// the message. An error that only points into the built-in files (a bad
// workload name is checked by the schema's name: Name) is led by the
// position where its workload is declared, found in decls.
func formatErrors(decls map[string]token.Pos, errs ...error) error {
	var lines []string
	for _, err := range errs {
		for _, e := range errors.Errors(err) {
			msg := errors.String(e)
			poss := errors.Positions(e)
			// Lead with a position in a user file when there is one.
			first := slices.IndexFunc(poss, isUserPos)
			if path := e.Path(); first < 0 && len(path) >= 2 && path[0] == "workloads" {
				if p, ok := decls[path[1]]; ok && isUserPos(p) {
					poss = append([]token.Pos{p}, poss...)
					first = 0
				}
			}
			if len(poss) == 0 {
				lines = append(lines, msg)
				continue
			}
			if first < 0 {
				first = 0
			}
			line := poss[first].String() + ": " + msg
			var others []string
			for i, p := range poss {
				if i != first {
					others = append(others, p.String())
				}
			}
			if len(others) > 0 {
				line += " (see " + strings.Join(others, ", ") + ")"
			}
			lines = append(lines, line)
		}
	}
	lines = slices.Compact(lines)
	const max = 10
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("... and %d more errors", len(lines)-max))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

// Names returns the workloads' names in order.
func Names(ws []Workload) []string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return names
}

// Lookup returns the workload called name, or an error listing the known
// ones.
func Lookup(ws []Workload, name string) (Workload, error) {
	for _, w := range ws {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(Names(ws), ", "))
}

func isUserPos(p token.Pos) bool {
	return p.Filename() != "" && !strings.HasPrefix(p.Filename(), builtinPrefix)
}
