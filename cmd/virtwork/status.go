package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/printer"
	"github.com/virtwork/virtwork/inventory"
	"github.com/virtwork/virtwork/inventory/history"
)

type statusCmd struct {
	sourceFlags
	instanceFlags
	kubeFlags
	history.DBFlags
	Output   string        `name:"output" short:"o" enum:"text,json" default:"text" help:"text: a table; json: the whole report."`
	WaitFor  string        `name:"wait-for" enum:"ready,agent" default:"ready" help:"What counts as Current for a VM: ready, or agent (also guest agent connected)."`
	Set      bool          `name:"set" help:"Report the status of the manifest set (rendered from the configuration, -f or -k) instead of the instance's inventory."`
	Selector string        `name:"selector" short:"l" placeholder:"LABELS" help:"Only objects whose labels match (e.g. app.kubernetes.io/component=cpu). Without -f, -k or --set: the live VMs, Secrets and Services in the namespace that match, whoever applied them."`
	Wait     bool          `name:"wait" help:"Wait until every object is ready (see --wait-for) or one failed, or --timeout passes; then show the status. The wait is recorded in the history, with each VM's time from creation to Ready."`
	Timeout  time.Duration `name:"timeout" default:"10m" help:"How long --wait waits."`
}

func (c *statusCmd) Help() string {
	return `Shows the objects in the instance's inventory and their live status, judged as
apply judges readiness. With -f FILE or -k DIR (a set committed to Git), the
objects of that set instead, whoever applied them (virtwork, kubectl, Argo CD,
Flux). Exit status 0 when all are Current, 3 when any failed, 4 when some are
not Current yet (or gone), 1 when the status could not be read, 130 interrupted.

--wait with -f or -k may start before the set is applied (a pipeline right
after its push): objects not created yet are waited for until --timeout (then
exit 4, listing them); one that existed and is deleted during the wait fails
it at once (3). With --wait the exit status is how the wait ended.

A --selector that matches nothing is refused (exit 1), as an empty -f or -k
is: a typo must not pass a gate. Without -f or -k it matches live objects only,
so to wait for objects not applied yet, give the set with -f or -k.

Examples:
  virtwork status
  virtwork status -n perf --name big -o json
  virtwork status -k base/ --wait --timeout 15m   # gate a pipeline on a GitOps sync
  virtwork status -n perf -l app.kubernetes.io/component=database`
}

func (c *statusCmd) Run(e *env) error {
	var ns string
	var objsFromSet = c.Set || c.File != "" || c.Kustomize != ""
	set := &manifestSet{source: "inventory"}
	var cfg *config.Config
	if objsFromSet {
		s, err := c.load(e)
		if err != nil {
			return err
		}
		set = s
		ns, cfg = s.namespace, s.cfg
	} else {
		if configFlagsSet(c.Flags, true) {
			return fmt.Errorf("configuration flags only matter with --set (status of the rendered set); without it status reads the inventory of -n and --name")
		}
		t := targetFlags{Config: c.Flags.Config, Namespace: c.Flags.Namespace}
		var err error
		if cfg, err = t.config(e); err != nil {
			return err
		}
		ns = cfg.Namespace
	}
	opts := apply.StatusOptions{Name: c.Name, Namespace: ns, WaitFor: kvstatus.WaitFor(c.WaitFor), Timeout: c.Timeout}
	if c.Selector != "" {
		sel, err := labels.Parse(c.Selector)
		if err != nil {
			return fmt.Errorf("--selector %q: %w", c.Selector, err)
		}
		opts.Selector = sel
		if !objsFromSet {
			set.source = "selector " + c.Selector
		}
	}
	kc, err := c.client(ns)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	// waited is how the wait ended (3 failed, 4 timed out): the exit
	// status, whatever the table after it shows.
	var waited error
	if c.Wait {
		if opts.Selector != nil {
			// Refuse a selection that matches nothing before the
			// wait is recorded.
			if _, err := apply.Status(ctx, kc, set.objs, opts); err != nil {
				return err
			}
		}
		if waited = c.wait(e, kc, set, cfg, opts); waited != nil && !isOutcome(waited) {
			return waited
		}
	}
	report, err := apply.Status(ctx, kc, set.objs, opts)
	if err != nil {
		return err
	}
	// A missing instance is an error, not an empty report: print only
	// the error (with -o json, one JSON value on stdout).
	if !report.Exists && !objsFromSet && opts.Selector == nil {
		return exitError{code: apply.ExitError, err: fmt.Errorf("no instance %q in namespace %s (nothing applied there with this --name)", c.Name, ns)}
	}
	format, _ := printer.ParseFormat(c.Output)
	if err := printer.Status(e.stdout, report, format); err != nil {
		return err
	}
	counts := report.Counts()
	switch {
	case c.Wait:
		return waited
	case counts[event.StatusFailed] > 0:
		return exitError{code: apply.ExitFailed}
	case counts[event.StatusCurrent] < len(report.Objects):
		return exitError{code: apply.ExitTimeout} // not (yet) ready, or gone
	}
	return nil
}

// wait runs status --wait as a recorded run (progress on a terminal with
// -o text; with -o json only the final report is printed). It returns the
// run's exit status: how the objects ended (see isOutcome), or why they
// could not be followed.
func (c *statusCmd) wait(e *env, kc *kube.Client, set *manifestSet, cfg *config.Config, opts apply.StatusOptions) error {
	if err := positiveTimeout(c.Timeout); err != nil {
		return err
	}
	db, err := c.DBFlags.OpenWithDefault(e.getenv, cfg.HistoryDB, cfg.NoHistory)
	if err != nil {
		return err
	}
	inv, err := inventory.New(c.Name, opts.Namespace)
	if err != nil {
		return err
	}
	meta := history.Meta{
		Command: string(event.CommandStatus), KubeContext: kc.ContextName(), Server: kc.Host(),
		Namespace: opts.Namespace, Name: c.Name, InventoryID: inv.ID(),
		Source: set.source, WaitFor: c.WaitFor, Timeout: c.Timeout, Workloads: history.WorkloadsOf(set.objs),
	}
	if len(set.objs) > 0 {
		if meta.Digest, err = history.Digest(set.objs); err != nil {
			return err
		}
	}
	progress := *e
	if c.Output == "json" || e.json {
		progress.stdout = io.Discard
	}
	return runRecorded(&progress, db, meta, outputFlags{Output: "text"}, func(ctx context.Context, sink event.Sink) (*event.Summary, error) {
		return apply.WaitStatus(ctx, kc, set.objs, opts, sink)
	})
}

// isOutcome says whether a wait's error is how the objects ended (failed,
// timed out), to report with the table, rather than why the status could
// not be followed (exit 1 or 130).
func isOutcome(err error) bool {
	var ex exitError
	return errors.As(err, &ex) && ex.err == nil && (ex.code == apply.ExitFailed || ex.code == apply.ExitTimeout)
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
