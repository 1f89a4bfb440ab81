package main

import (
	"fmt"
	"strings"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/printer"
)

type statusCmd struct {
	sourceFlags
	instanceFlags
	kubeFlags
	Output  string `name:"output" short:"o" enum:"text,json" default:"text" help:"text: a table; json: the whole report."`
	WaitFor string `name:"wait-for" enum:"ready,agent" default:"ready" help:"What counts as Current for a VM: ready, or agent (also guest agent connected)."`
	Set     bool   `name:"set" help:"Report the status of the manifest set (rendered from the configuration, -f or -k) instead of the instance's inventory."`
}

func (c *statusCmd) Help() string {
	return `Shows the objects in the instance's inventory and their live status, judged as
apply judges readiness. Exit status 0 when all are Current, 3 when any failed,
4 when some are not Current yet (or gone), 1 when the status could not be read.

Examples:
  virtwork status
  virtwork status -n perf --name big -o json
  virtwork status -f rendered.yaml --set`
}

func (c *statusCmd) Run(e *env) error {
	var ns string
	var objsFromSet = c.Set || c.File != "" || c.Kustomize != ""
	set := &manifestSet{}
	if objsFromSet {
		s, err := c.load(e)
		if err != nil {
			return err
		}
		set = s
		ns = s.namespace
	} else {
		if configFlagsSet(c.Flags, true) {
			return fmt.Errorf("configuration flags only matter with --set (status of the rendered set); without it status reads the inventory of -n and --name")
		}
		t := targetFlags{Config: c.Flags.Config, Namespace: c.Flags.Namespace}
		cfg, err := t.config(e)
		if err != nil {
			return err
		}
		ns = cfg.Namespace
	}
	kc, err := c.client(ns)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	report, err := apply.Status(ctx, kc, set.objs, apply.StatusOptions{Name: c.Name, Namespace: ns, WaitFor: kvstatus.WaitFor(c.WaitFor)})
	if err != nil {
		return err
	}
	format, _ := printer.ParseFormat(c.Output)
	if err := printer.Status(e.stdout, report, format); err != nil {
		return err
	}
	if !report.Exists && !objsFromSet {
		return exitError{code: apply.ExitError, err: fmt.Errorf("no instance %q in namespace %s (nothing applied there with this --name)", c.Name, ns)}
	}
	counts := report.Counts()
	switch {
	case counts[event.StatusFailed] > 0:
		return exitError{code: apply.ExitFailed}
	case counts[event.StatusCurrent] < len(report.Objects):
		return exitError{code: apply.ExitTimeout} // not (yet) ready, or gone
	}
	return nil
}

type diffCmd struct {
	sourceFlags
	instanceFlags
	kubeFlags
	formatFlag
	ForceConflicts bool `name:"force-conflicts" help:"Diff as apply --force-conflicts would apply."`
	Adopt          bool `name:"adopt" help:"Diff as apply --adopt would apply."`
	Workers        int  `name:"workers" default:"32" hidden:"" help:"Concurrent API calls."`
}

func (c *diffCmd) Help() string {
	return `Shows what 'virtwork apply' would change, as a unified diff per object, from a
server-side dry run (so defaults and admission are accounted for). Secret data is
masked. Exit status: 0 no differences, 1 differences, 2 error (as diff(1)).`
}

func (c *diffCmd) Run(e *env) error {
	set, err := c.load(e)
	if err != nil {
		return exitError{code: apply.ExitDiffError, err: err}
	}
	kc, err := c.client(set.namespace)
	if err != nil {
		return exitError{code: apply.ExitDiffError, err: err}
	}
	ctx, cancel := signalContext()
	defer cancel()
	out := e.stdout
	var diff strings.Builder
	if c.json() {
		out = &diff
	}
	differs, err := apply.Diff(ctx, kc, set.objs, apply.DiffOptions{
		Name: c.Name, Namespace: set.namespace, ForceConflicts: c.ForceConflicts, Adopt: c.Adopt, Workers: c.Workers,
	}, out)
	if err != nil {
		return exitError{code: apply.ExitDiffError, err: err}
	}
	if c.json() {
		if err := writeJSON(e.stdout, map[string]any{"differs": differs, "diff": diff.String()}); err != nil {
			return exitError{code: apply.ExitDiffError, err: err}
		}
	}
	if differs {
		return exitError{code: apply.ExitDiff}
	}
	return nil
}
