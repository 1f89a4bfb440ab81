// Package templates evaluates virtwork's object templates (cue/templates,
// typed by the generated API definitions in cue/gen) into the objects
// render stamps and prints, timoni style: the package is parsed once per
// process and built once per CUE context, and each template is evaluated
// once per input, then decoded.
package templates

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"

	virtworkcue "github.com/virtwork/virtwork/cue"
)

// root is where the embedded CUE appears to cue/load: the templates in
// root/templates, the generated packages in root/cue.mod/gen. No such
// directory exists on disk, everything comes from the overlay.
const root = "/virtwork-cue"

var (
	instOnce sync.Once
	inst     *build.Instance
	instErr  error
	buildMu  sync.Mutex // an instance is built into one context at a time
)

// instance loads (parses) the templates package once per process.
func instance() (*build.Instance, error) {
	instOnce.Do(func() { inst, instErr = parse(virtworkcue.Templates) })
	return inst, instErr
}

// parse loads the templates in templatesFS (under templates/) with the
// embedded generated packages.
func parse(templatesFS fs.FS) (*build.Instance, error) {
	overlay := map[string]load.Source{
		root + "/cue.mod/module.cue": load.FromString("module: \"virtwork.local/cue@v0\"\nlanguage: version: \"v0.17.0\"\n"),
	}
	add := func(fsys fs.FS, dir, under string) error {
		return fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			overlay[path.Join(root, under, p)] = load.FromBytes(b)
			return nil
		})
	}
	if err := add(virtworkcue.Gen, "gen", "cue.mod"); err != nil {
		return nil, fmt.Errorf("templates: reading embedded CUE: %w", err)
	}
	if err := add(templatesFS, "templates", ""); err != nil {
		return nil, fmt.Errorf("templates: reading embedded CUE: %w", err)
	}
	insts := load.Instances([]string{"./templates"}, &load.Config{Dir: root, Overlay: overlay})
	if err := insts[0].Err; err != nil {
		return nil, fmt.Errorf("templates: %s", Format(err))
	}
	return insts[0], nil
}

// Build builds the templates package in ctx (~30-100 ms: the generated
// KubeVirt types are large). Values of one context cannot be unified with
// another's, hence one build per context that needs it.
func Build(ctx *cue.Context) (cue.Value, error) {
	inst, err := instance()
	if err != nil {
		return cue.Value{}, err
	}
	return buildInstance(ctx, inst)
}

func buildInstance(ctx *cue.Context, inst *build.Instance) (cue.Value, error) {
	buildMu.Lock()
	v := ctx.BuildInstance(inst)
	buildMu.Unlock()
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("templates: %s", Format(err))
	}
	return v, nil
}

// shared is the package built and checked once per process in a context
// of its own, where Eval evaluates templates one at a time (a CUE context
// is not safe for concurrent use).
var shared struct {
	once sync.Once
	mu   sync.Mutex
	v    cue.Value
	err  error
}

// Eval fills the template def (e.g. "#VirtualMachine") with in (its in:
// a struct with json tags or a map) and returns its out, decoded, with
// integers as int64 as unstructured objects hold them. Errors carry the
// template's file:line:col.
func Eval(def string, in any) (map[string]any, error) {
	shared.once.Do(func() {
		if shared.v, shared.err = Build(cuecontext.New()); shared.err == nil {
			shared.err = check(shared.v)
		}
	})
	if shared.err != nil {
		return nil, shared.err
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return eval(shared.v, def, in)
}

// check validates the package's checks (checks.cue): every template's out,
// filled with an input that takes every branch, against its API type.
// Every template must have one.
func check(pkg cue.Value) error {
	checks := pkg.LookupPath(cue.ParsePath("checks"))
	it, err := pkg.Fields(cue.Definitions(true))
	if err != nil {
		return fmt.Errorf("templates: %s", Format(err))
	}
	for it.Next() {
		sel := it.Selector()
		if !sel.IsDefinition() || !it.Value().LookupPath(cue.ParsePath("out")).Exists() {
			continue
		}
		name := strings.TrimPrefix(sel.String(), "#")
		if !checks.LookupPath(cue.MakePath(cue.Str(name))).Exists() {
			return fmt.Errorf("templates: template %s has no check: add checks: %s to cue/templates/checks.cue", sel, name)
		}
	}
	if err := checks.Validate(cue.Concrete(true), cue.Final()); err != nil {
		return fmt.Errorf("templates: %s", Format(err))
	}
	return nil
}

func eval(pkg cue.Value, def string, in any) (map[string]any, error) {
	t := pkg.LookupPath(cue.MakePath(cue.Def(def)))
	if !t.Exists() {
		return nil, fmt.Errorf("templates: no template %s in cue/templates", def)
	}
	out := t.FillPath(cue.ParsePath("in"), in).LookupPath(cue.ParsePath("out"))
	if err := out.Validate(cue.Concrete(true), cue.Final()); err != nil {
		return nil, fmt.Errorf("templates: %s: %s", def, Format(err))
	}
	var obj map[string]any
	if err := out.Decode(&obj); err != nil {
		return nil, fmt.Errorf("templates: %s: %s", def, Format(err))
	}
	return obj, nil
}

// Format formats CUE errors one per line as "file:line:col: path: msg",
// the embedded files named as in the repository (cue/templates/...), at
// the last position that is a template's rather than a check's or a
// generated type's.
func Format(err error) string {
	var lines []string
	for _, e := range errors.Errors(err) {
		// Positions come sorted by file and line: the last of a template
		// is the innermost, the value at fault, rather than the "{" of
		// the out it is in; a generated type's or a check's position only
		// when there is no template's.
		var at string
		best := -1
		for _, p := range errors.Positions(e) {
			if !p.IsValid() {
				continue
			}
			rank := 2
			switch {
			case strings.Contains(p.Filename(), "/cue.mod/gen/"):
				rank = 0
			case path.Base(p.Filename()) == "checks.cue":
				rank = 1
			}
			if rank >= best {
				best, at = rank, strings.Replace(p.String(), root+"/", "cue/", 1)
			}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if path := e.Path(); len(path) > 0 {
			msg = strings.Join(path, ".") + ": " + msg
		}
		if at != "" {
			msg = at + ": " + msg
		}
		lines = append(lines, msg)
	}
	lines = slices.Compact(lines)
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("... and %d more errors", len(lines)-10))
	}
	return strings.Join(lines, "\n")
}
