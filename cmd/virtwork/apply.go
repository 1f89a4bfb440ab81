package main

import (
	"context"
	"fmt"
	"time"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/apply/kvstatus"
	"github.com/virtwork/virtwork/inventory"
	"github.com/virtwork/virtwork/inventory/history"
)

type applyCmd struct {
	sourceFlags
	instanceFlags
	kubeFlags
	history.DBFlags
	outputFlags
	DryRun         string        `name:"dry-run" enum:"none,server" default:"none" placeholder:"MODE" help:"server: send every change as a server-side dry run; nothing is written or waited for."`
	ForceConflicts bool          `name:"force-conflicts" help:"Take over fields that another field manager owns (server-side apply conflicts)."`
	Adopt          bool          `name:"adopt" help:"Take over objects that another inventory, or none, owns; without it they are left alone and reported as skipped."`
	NoWait         bool          `name:"no-wait" help:"Return once everything is applied, without waiting for the VMs to become ready."`
	WaitFor        string        `name:"wait-for" enum:"ready,agent,results" default:"ready" help:"ready: a VM counts when its Ready condition is True; agent: also when its guest agent is connected (the guest has booted); results: also until every VM's exporter reports its workload's first figures (see 'virtwork results')."`
	Timeout        time.Duration `name:"timeout" default:"10m" help:"How long to wait for the VMs (e.g. 90s, 10m, 1h)."`
	Workers        int           `name:"workers" default:"32" hidden:"" help:"Concurrent API calls."`
}

func (c *applyCmd) Help() string {
	return `Applies a manifest set with server-side apply (field manager virtwork), prunes
what an earlier apply of the same --name left behind, and waits until every VM
is ready. The set comes from the configuration (as 'virtwork render' makes it),
from -f FILE, or from -k DIR.

Examples:
  virtwork apply                                  # the default set, in namespace virtwork
  virtwork apply --workloads cpu --vm-count 100 --wait-for agent
  virtwork apply -f rendered.yaml --timeout 30m
  virtwork apply -k overlays/big --name big

One run per instance at a time: while it runs, apply holds the Lease
virtwork-lock-NAME in the namespace; another apply or destroy of the instance
fails at once, naming the holder.

Exit status: 0 all ready; 1 could not run (bad input, no cluster, no permission,
the instance in use); 3 objects or VMs failed, or objects were skipped (owned by
another instance); 4 timed out waiting; 130 interrupted. The summary says which
objects and why. Every run is recorded in the history ('virtwork history').`
}

func (c *applyCmd) Run(e *env) error {
	start := time.Now()
	if err := positiveTimeout(c.Timeout); err != nil {
		return err
	}
	set, err := c.load(e)
	if err != nil {
		return err
	}
	db, err := c.DBFlags.OpenWithDefault(e.getenv, set.cfg.HistoryDB, set.cfg.NoHistory)
	if err != nil {
		return err
	}
	inv, err := inventory.New(c.Name, set.namespace)
	if err != nil {
		return err
	}
	kc, err := c.client(set.namespace)
	if err != nil {
		return err
	}
	opts := apply.Options{
		Name: c.Name, Namespace: set.namespace, DryRun: c.DryRun == "server",
		ForceConflicts: c.ForceConflicts, Adopt: c.Adopt, NoWait: c.NoWait,
		WaitFor: kvstatus.WaitFor(c.WaitFor), Timeout: c.Timeout, Workers: c.Workers,
	}
	if c.WaitFor == waitForResults {
		opts.WaitFor = kvstatus.WaitForReady // then the figures, below
	}
	meta := history.Meta{
		Command: string(event.CommandApply), DryRun: opts.DryRun,
		KubeContext: kc.ContextName(), Server: kc.Host(),
		Namespace: set.namespace, Name: c.Name, InventoryID: inv.ID(),
		Source: set.source, Timeout: c.Timeout, Workloads: history.WorkloadsOf(set.objs),
	}
	if !c.NoWait {
		meta.WaitFor = c.WaitFor
	}
	if set.source == "config" {
		meta.Config = history.ConfigOf(set.cfg)
	}
	if meta.Digest, err = history.Digest(set.objs); err != nil {
		return err
	}
	err = runRecorded(e, db, meta, c.outputFlags, func(ctx context.Context, sink event.Sink) (*event.Summary, error) {
		return apply.Apply(ctx, kc, set.objs, opts, sink)
	})
	if err != nil || c.WaitFor != waitForResults || opts.DryRun || c.NoWait {
		return err
	}
	return c.waitForResults(e, db, kc, set.namespace, c.Timeout-time.Since(start))
}

type destroyCmd struct {
	targetFlags
	kubeFlags
	history.DBFlags
	outputFlags
	DryRun          string        `name:"dry-run" enum:"none,server" default:"none" placeholder:"MODE" help:"server: send the deletions as a server-side dry run; nothing is deleted."`
	NoWait          bool          `name:"no-wait" help:"Return once the deletions are sent, without waiting until the objects are gone."`
	Timeout         time.Duration `name:"timeout" default:"10m" help:"How long to wait until everything is gone."`
	DeleteNamespace bool          `name:"delete-namespace" help:"Also delete the namespace once the instance's objects and inventory are gone, and wait until it is (unless --no-wait)."`
	Workers         int           `name:"workers" default:"32" hidden:"" help:"Concurrent API calls."`
}

func (c *destroyCmd) Help() string {
	return `Deletes every object in the instance's inventory (and nothing else), waits until
they are gone, then removes the inventory. Only the name and namespace are needed,
not the configuration the set was applied with.

It holds the instance's Lease as apply does: a destroy of an instance in use
fails at once, naming the holder.

Examples:
  virtwork destroy
  virtwork destroy -n perf --name big --delete-namespace

Exit status: 0 all gone; 1 could not run (the instance in use, no cluster, no
permission); 3 objects failed to delete; 4 timed out waiting; 130 interrupted.`
}

func (c *destroyCmd) Run(e *env) error {
	if err := positiveTimeout(c.Timeout); err != nil {
		return err
	}
	cfg, err := c.config(e)
	if err != nil {
		return err
	}
	ns := cfg.Namespace
	db, err := c.DBFlags.OpenWithDefault(e.getenv, cfg.HistoryDB, cfg.NoHistory)
	if err != nil {
		return err
	}
	inv, err := inventory.New(c.Name, ns)
	if err != nil {
		return err
	}
	kc, err := c.client(ns)
	if err != nil {
		return err
	}
	opts := apply.DestroyOptions{
		Name: c.Name, Namespace: ns, DryRun: c.DryRun == "server", NoWait: c.NoWait,
		Timeout: c.Timeout, DeleteNamespace: c.DeleteNamespace, Workers: c.Workers,
	}
	meta := history.Meta{
		Command: string(event.CommandDestroy), DryRun: opts.DryRun,
		KubeContext: kc.ContextName(), Server: kc.Host(),
		Namespace: ns, Name: c.Name, InventoryID: inv.ID(), Timeout: c.Timeout,
	}
	return runRecorded(e, db, meta, c.outputFlags, func(ctx context.Context, sink event.Sink) (*event.Summary, error) {
		return apply.Destroy(ctx, kc, opts, sink)
	})
}

func positiveTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--timeout %s: must be more than 0 (use --no-wait not to wait)", d)
	}
	return nil
}
