package vmshape

import (
	"fmt"
	"io/fs"
	"path"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/load"

	virtworkcue "github.com/virtwork/virtwork/cue"
)

// root is where the embedded generated packages appear to cue/load; no
// such directory exists on disk, everything comes from the overlay.
const root = "/virtwork-vmshape"

// schemaSrc names the generated types virtwork checks a VM against.
const schemaSrc = `package vmshape

import kubevirt "kubevirt.io/api/core/v1"

// vm is where an overlay is filled in: the definition keeps it closed,
// so an unknown field is an error.
vm: kubevirt.#VirtualMachine
`

var (
	overlayOnce sync.Once
	overlay     map[string]load.Source
	overlayErr  error
)

// sources returns the embedded generated packages as a cue/load overlay
// (read once per process; building is per context, see schema).
func sources() (map[string]load.Source, error) {
	overlayOnce.Do(func() {
		overlay = map[string]load.Source{
			root + "/cue.mod/module.cue": load.FromString("module: \"virtwork.local/vmshape@v0\"\nlanguage: version: \"v0.17.0\"\n"),
			root + "/schema.cue":         load.FromString(schemaSrc),
		}
		overlayErr = fs.WalkDir(virtworkcue.Gen, "gen", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(virtworkcue.Gen, p)
			if err != nil {
				return err
			}
			overlay[path.Join(root, "cue.mod", p)] = load.FromBytes(b)
			return nil
		})
	})
	return overlay, overlayErr
}

var (
	instOnce sync.Once
	inst     *build.Instance
	instErr  error
	buildMu  sync.Mutex // an instance is built into one context at a time
)

// instance loads (parses) the schema package once per process.
func instance() (*build.Instance, error) {
	instOnce.Do(func() {
		src, err := sources()
		if err != nil {
			instErr = fmt.Errorf("vm schema: reading embedded CUE: %w", err)
			return
		}
		insts := load.Instances([]string{"."}, &load.Config{Dir: root, Overlay: src})
		if instErr = insts[0].Err; instErr != nil {
			instErr = fmt.Errorf("vm schema: %w", instErr)
			return
		}
		inst = insts[0]
	})
	return inst, instErr
}

// schema builds the schema package in ctx; fill the overlay in at vm.
func schema(ctx *cue.Context) (cue.Value, error) {
	inst, err := instance()
	if err != nil {
		return cue.Value{}, err
	}
	buildMu.Lock()
	v := ctx.BuildInstance(inst)
	buildMu.Unlock()
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("vm schema: %w", err)
	}
	return v, nil
}
