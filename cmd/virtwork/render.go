package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
)

type renderCmd struct {
	config.Flags
	Output    string `name:"output" short:"o" placeholder:"DIR" type:"path" help:"Write one file per object plus a kustomization.yaml into DIR (a kustomize base to commit) instead of a YAML stream on stdout. A previous render in DIR is replaced."`
	Kustomize string `name:"kustomize" short:"k" placeholder:"DIR" type:"path" help:"Build the kustomization in DIR (e.g. an overlay on a rendered base) in-process and print the result, instead of rendering from the configuration."`
	Check     bool   `name:"check" help:"Write nothing; compare the render with what -o DIR (or FILE) holds. Exit 0 when the same, 1 with a unified diff when not, 2 on errors."`
	Against   string `arg:"" optional:"" name:"file" placeholder:"FILE" type:"path" help:"With --check: a committed YAML stream to compare with the render (- reads it from stdin)."`
}

func (c *renderCmd) Help() string {
	return `Examples:
  virtwork render                                 # the default set: 6 VMs, 5 workloads
  virtwork render --workloads cpu,disk --vm-count 10 --cpu-cores 4
  virtwork render --ssh-user fedora --ssh-key-file ~/.ssh/id_ed25519.pub -o base/
  virtwork render -k overlays/big                 # see an overlay on that base
  virtwork render -o base/ --check                # CI: is base/ what the configuration renders?
  virtwork render --check rendered.yaml           # the same for a committed stream

The same input always gives the same bytes, so the output can be committed and
applied with virtwork, kubectl, Argo CD or Flux. Nothing is printed or written
when anything is wrong.

--check exits 0 when the directory or file holds exactly the render, 1 when it
differs (the unified diff, from the committed files to the render, is printed:
files added, removed, changed), 2 when the render or the comparison fails,
also when DIR or FILE does not exist (a wrong path, or nothing committed yet).
--check - reads the committed stream from stdin.`
}

func (c *renderCmd) Run(e *env) error {
	if !c.Check {
		if c.Against != "" {
			return fmt.Errorf("unexpected argument %s: a FILE is only for --check (to write a render, use -o DIR)", c.Against)
		}
		return c.render(e)
	}
	differs, err := c.check(e)
	switch {
	case err != nil:
		return exitError{code: apply.ExitDiffError, err: err}
	case differs:
		return exitError{code: apply.ExitDiff}
	}
	return nil
}

// check compares the render with -o DIR or FILE, writing the differences.
func (c *renderCmd) check(e *env) (bool, error) {
	if (c.Output == "") == (c.Against == "") {
		return false, errors.New("--check compares with -o DIR or with a FILE: give exactly one")
	}
	objs, err := c.objects(e)
	if err != nil {
		return false, err
	}
	var text string
	if c.Output != "" {
		text, err = manifest.CheckDir(relative(c.Output), objs)
	} else if c.Against == "-" {
		text, err = manifest.CheckStream("-", e.stdin, objs)
	} else {
		text, err = manifest.CheckFile(relative(c.Against), objs)
	}
	if err != nil {
		return false, err
	}
	if e.json { // as diff -o json: one object
		return text != "", writeJSON(e.stdout, map[string]any{"differs": text != "", "diff": text})
	}
	_, err = io.WriteString(e.stdout, text)
	return text != "", err
}

// objects renders from the configuration or builds -k.
func (c *renderCmd) objects(e *env) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var err error
	if c.Kustomize != "" {
		if configFlagsSet(c.Flags, false) {
			return nil, errors.New("-k builds a kustomization as it is: configuration flags do not apply to it; drop them, or render without -k")
		}
		objs, err = manifest.Build(c.Kustomize)
		if err == nil {
			err = checkObjects("-k "+c.Kustomize, objs)
		}
	} else {
		objs, _, err = renderFromConfig(c.Flags, e)
	}
	return objs, err
}

func (c *renderCmd) render(e *env) error {
	objs, err := c.objects(e)
	if err != nil {
		return err
	}
	if c.Output != "" {
		return manifest.WriteDir(c.Output, objs)
	}
	if e.json { // --output-format json: the set as a v1 List, as kubectl prints one
		return writeJSON(e.stdout, struct {
			APIVersion string                       `json:"apiVersion"`
			Kind       string                       `json:"kind"`
			Items      []*unstructured.Unstructured `json:"items"`
		}{"v1", "List", objs})
	}
	// Encode fully before writing, so that an error leaves stdout empty.
	var buf bytes.Buffer
	if err := manifest.Encode(&buf, objs); err != nil {
		return err
	}
	_, err = e.stdout.Write(buf.Bytes())
	return err
}

// loadWorkloads evaluates the built-in workloads and cfg's --workload-dir,
// within the limits the environment sets (see workload.LimitsFromEnv).
func loadWorkloads(cfg *config.Config, getenv func(string) (string, bool)) ([]workload.Workload, error) {
	lim, err := workload.LimitsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return workload.Load(workload.LoadOptions{Dir: cfg.WorkloadDir, Input: workloadInput(cfg), Limits: lim})
}

// renderFromConfig is the path from settings to objects that render,
// apply, diff and status share.
func renderFromConfig(flags config.Flags, e *env) ([]*unstructured.Unstructured, *config.Config, error) {
	cfg, err := loadConfig(e, flags)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	wls, err := loadWorkloads(cfg, e.getenv)
	if err != nil {
		return nil, nil, err
	}
	e.verbose.timed(fmt.Sprintf("load %d workloads (CUE)", len(wls)), start)
	start = time.Now()
	objs, err := render.Render(cfg, wls)
	if err != nil {
		return nil, nil, err
	}
	e.verbose.timed(fmt.Sprintf("render %d objects", len(objs)), start)
	return objs, cfg, nil
}

// relative names path from the current directory when it lies below it:
// kong makes path flags absolute, but a diff reads better with the name
// as typed.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

// workloadInput is what the workloads see of the configuration (input in
// CUE).
func workloadInput(cfg *config.Config) workload.Input {
	in := workload.Input{Namespace: cfg.Namespace, GuestOS: cfg.GuestOS}
	for _, p := range cfg.Params {
		in.Params = append(in.Params, workload.Param{Workload: p.Workload, Key: p.Key, Value: p.Value, Source: p.Source})
	}
	return in
}
