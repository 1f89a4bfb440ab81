package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/virtwork/virtwork/internal/printer"
	"github.com/virtwork/virtwork/inventory/history"
)

type historyCmd struct {
	List    historyListCmd    `cmd:"" default:"withargs" help:"List recorded runs, newest first (the default)."`
	Show    historyShowCmd    `cmd:"" help:"Show one run: settings, outcome, readiness latencies, VMs and objects."`
	Compare historyCompareCmd `cmd:"" help:"Compare two runs: settings side by side, per-phase and workload figures and their change; --fail-if-slower and --fail-if-worse gate on a regression."`
	Report  historyReportCmd  `cmd:"" help:"Write a self-contained HTML report of one or more runs, with plots."`
	Prune   historyPruneCmd   `cmd:"" help:"Delete the runs that started longer ago than --older-than."`
}

func (historyCmd) Help() string {
	return `Every apply and destroy (dry runs too) is recorded in a local database, unless
--no-history is given: who ran what where, with which settings, how it ended, and
how long each VM took from its apply call to Ready.

Examples:
  virtwork history                       # the latest runs
  virtwork history -n load --outcome failed
  virtwork history show 01jf3k           # a unique prefix of the id is enough
  virtwork history show 01jf3k -o json
  virtwork history compare last~1 last --fail-if-slower p99=20
  virtwork history report last~1 last -o report.html
  virtwork history prune --older-than 30d`
}

// historyDBFlag names the database; the history commands only read it (or,
// for prune, delete from it), so they have no --no-history.
type historyDBFlag struct {
	HistoryDB *string `name:"history-db" placeholder:"PATH" help:"Run history database (env VIRTWORK_HISTORY_DB; default $XDG_STATE_HOME/virtwork/history.db, else ~/.local/state/virtwork/history.db)."`
}

// open opens the database, or returns nil and its path when there is no
// file yet (nothing recorded): reading creates nothing.
func (f historyDBFlag) open(e *env) (*history.DB, string, error) {
	path, err := history.ResolvePath(f.HistoryDB, e.getenv)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil
	}
	db, err := history.Open(path)
	return db, path, err
}

type historyListCmd struct {
	historyDBFlag
	Namespace string `name:"namespace" short:"n" placeholder:"NAME" help:"Only runs in this namespace."`
	Name      string `name:"name" placeholder:"NAME" help:"Only runs of this instance name."`
	Outcome   string `name:"outcome" enum:",running,succeeded,failed,timed-out,interrupted,unknown" default:"" placeholder:"OUTCOME" help:"Only runs that ended so: succeeded, failed, timed-out, interrupted, running, or unknown (the process is gone but never wrote the end)."`
	Limit     int    `name:"limit" default:"50" placeholder:"N" help:"Show at most N runs (0: all)."`
	Output    string `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *historyListCmd) Run(e *env) error {
	if c.Limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (all) or more", c.Limit)
	}
	db, path, err := c.open(e)
	if err != nil {
		return err
	}
	runs := []*history.Run{}
	if db != nil {
		runs, err = db.List(history.Filter{Namespace: c.Namespace, Name: c.Name, Outcome: history.Outcome(c.Outcome), Limit: c.Limit})
		if err != nil {
			return err
		}
	}
	if c.Output == "json" {
		return writeJSON(e.stdout, runs)
	}
	if len(runs) == 0 {
		if db == nil {
			fmt.Fprintf(e.stdout, "No runs recorded yet (%s does not exist).\n", path)
		} else {
			fmt.Fprintln(e.stdout, "No runs recorded that match.")
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tCOMMAND\tNAMESPACE/NAME\tOUTCOME\tVMS\tREADY P50/P99\tDURATION")
	for _, r := range runs {
		vms, ready, took := "-", "-", "-"
		if r.VMCount > 0 {
			vms = fmt.Sprintf("%d/%d", r.ReadyCount, r.VMCount)
		}
		if r.Ready != nil {
			ready = r.Ready.P50.String() + "/" + r.Ready.P99.String()
		}
		if !r.End.IsZero() {
			took = r.Duration.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", r.ID, r.Start.Local().Format(time.DateTime),
			commandOf(r), r.Namespace, r.Name, outcomeOf(r), vms, ready, took)
	}
	return tw.Flush()
}

// outcomeOf says why a run's outcome is unknown.
func outcomeOf(r *history.Run) string {
	if r.Outcome == history.Unknown {
		return "unknown (end not recorded)"
	}
	return string(r.Outcome)
}

func commandOf(r *history.Run) string {
	if r.DryRun {
		return r.Command + " --dry-run"
	}
	return r.Command
}

type historyShowCmd struct {
	historyDBFlag
	ID     string `arg:"" help:"Run id, or a prefix of it that only one run has; last (the newest apply) or last~N."`
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *historyShowCmd) Run(e *env) error {
	db, path, err := c.open(e)
	if err != nil {
		return err
	}
	if db == nil {
		return fmt.Errorf("no run %q: no runs recorded yet (%s does not exist)", c.ID, path)
	}
	r, err := db.Resolve(c.ID)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return writeJSON(e.stdout, r)
	}
	return showRun(e.stdout, r)
}

func showRun(w io.Writer, r *history.Run) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, a...)...) }
	line("Run", "%s", r.ID)
	line("Command", "%s", commandOf(r))
	if r.Error != "" {
		line("Outcome", "%s: %s", outcomeOf(r), r.Error)
	} else {
		line("Outcome", "%s", outcomeOf(r))
	}
	if r.End.IsZero() {
		line("Started", "%s (not finished)", r.Start.Local().Format(time.DateTime+" MST"))
	} else {
		line("Started", "%s, took %s", r.Start.Local().Format(time.DateTime+" MST"), r.Duration)
	}
	inv := ""
	if r.InventoryID != "" {
		inv = " (inventory " + r.InventoryID + ")"
	}
	line("Instance", "%s in namespace %s%s", r.Name, r.Namespace, inv)
	line("Cluster", "context %s, API server %s", orDash(r.KubeContext), orDash(r.Server))
	by := orDash(r.User)
	if r.Host != "" {
		by += "@" + r.Host
	}
	line("By", "%s, virtwork %s", by, orDash(r.Version))
	if r.Source != "" || r.Digest != "" {
		line("Objects from", "%s", strings.TrimSpace(r.Source+" "+r.Digest))
	}
	if r.WaitFor != "" {
		line("Waited for", "%s (timeout %s)", r.WaitFor, r.Timeout)
	}
	if c := r.Config; c != nil {
		line("Settings", "%s", settings(c))
	}
	if len(r.RemovedRuns) > 0 {
		line("Removed runs", "%s", strings.Join(r.RemovedRuns, ", "))
	}
	if len(r.Counts) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Counts)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Counts[k]))
		}
		line("Objects", "%s", strings.Join(parts, ", "))
	}
	if r.VMCount > 0 {
		line("VMs", "%d, %d ready", r.VMCount, r.ReadyCount)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Workloads) > 0 {
		fmt.Fprintln(tw, "\nWORKLOAD\tROLE\tVMS\tCPU\tMEMORY\tDATA DISKS")
		for _, wl := range r.Workloads {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", wl.Workload, orDash(wl.Role), wl.VMs, wl.CPUCores, orDash(wl.Memory), orDash(strings.Join(wl.Disks, ",")))
		}
	}
	if r.Ready != nil || r.AgentConnected != nil {
		fmt.Fprintln(tw, "\nLATENCY (created VMs, from apply call)\tVMS\tMIN\tP50\tP90\tP95\tP99\tMAX\tMEAN")
		for _, l := range []struct {
			name string
			s    *history.Stats
		}{{"to Ready", r.Ready}, {"to AgentConnected", r.AgentConnected}} {
			if s := l.s; s != nil {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.name, s.Count, s.Min, s.P50, s.P90, s.P95, s.P99, s.Max, s.Mean)
			}
		}
	}
	if len(r.Phases) > 0 {
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(&buf)
		printer.PhaseTable(&buf, r.Phases)
	}
	showResults(tw, r.Look)
	if len(r.Problems) > 0 {
		fmt.Fprintln(tw, "\nPROBLEM\tRESULT\tREASON")
		for _, p := range r.Problems {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", objectName(p.Kind, p.Namespace, p.Name), p.Result, p.Reason)
		}
	}
	if len(r.VMs) > 0 {
		// Agent times mean something only when apply waited for the agent
		// (else they are those of the fastest VMs alone).
		withAgent := r.WaitFor == history.WaitForAgent
		if withAgent {
			fmt.Fprintln(tw, "\nVM\tWORKLOAD\tROLE\tSTATUS\tTO READY\tTO AGENT\tMESSAGE")
		} else {
			fmt.Fprintln(tw, "\nVM\tWORKLOAD\tROLE\tSTATUS\tTO READY\tMESSAGE")
		}
		for _, v := range r.VMs {
			ready, agent := "-", "-"
			if d, ok := v.TimeToReady(); ok {
				ready = history.Seconds(d).String()
			}
			if d, ok := v.TimeToAgent(); ok {
				agent = history.Seconds(d).String()
			}
			if withAgent {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, orDash(v.Workload), orDash(v.Role), v.Status, ready, agent, v.Message)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, orDash(v.Workload), orDash(v.Role), v.Status, ready, v.Message)
			}
		}
	}
	if len(r.Objects) > 0 {
		fmt.Fprintln(tw, "\nOBJECT\tRESULT\tREASON")
		for _, o := range r.Objects {
			reason := o.Reason
			if o.Owner != "" {
				reason = strings.TrimSpace(reason + " (owned by " + o.Owner + ")")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", objectName(o.Kind, o.Namespace, o.Name), o.Result, reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows whose last column is empty end in tabwriter's padding.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// settings prints the recorded configuration on one line, as flags would
// set it.
func settings(c *history.Config) string {
	parts := []string{"namespace=" + c.Namespace}
	add := func(k, v string) {
		if v != "" && v != "0" {
			parts = append(parts, k+"="+v)
		}
	}
	add("workloads", strings.Join(c.Workloads, ","))
	add("vm-count", strconv.Itoa(c.VMCount))
	add("cpu-cores", strconv.Itoa(c.CPUCores))
	add("memory", c.Memory)
	add("disk-size", c.DiskSize)
	add("storage-class", c.StorageClass)
	add("guest-os", c.GuestOS)
	add("container-disk-image", c.ContainerDiskImage)
	for _, p := range c.Params {
		add("param", p)
	}
	add("workload-dir", c.WorkloadDir)
	add("ssh-user", c.SSHUser)
	pw := "no"
	if c.SSHPasswordSet {
		pw = "yes"
	}
	keys := "keys"
	if c.SSHKeys == 1 {
		keys = "key"
	}
	parts = append(parts, fmt.Sprintf("(ssh password set: %s, %d %s)", pw, c.SSHKeys, keys))
	for _, name := range slices.Sorted(maps.Keys(c.PerWorkload)) {
		w := c.PerWorkload[name]
		var o []string
		if w.Enabled != nil {
			o = append(o, fmt.Sprintf("enabled=%t", *w.Enabled))
		}
		if w.VMCount != nil {
			o = append(o, fmt.Sprintf("vmCount=%d", *w.VMCount))
		}
		if w.CPUCores != nil {
			o = append(o, fmt.Sprintf("cpuCores=%d", *w.CPUCores))
		}
		if w.Memory != "" {
			o = append(o, "memory="+w.Memory)
		}
		if w.DiskSize != "" {
			o = append(o, "diskSize="+w.DiskSize)
		}
		parts = append(parts, name+":{"+strings.Join(o, " ")+"}")
	}
	return strings.Join(parts, " ")
}

func objectName(kind, ns, name string) string {
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // shell lines in cloud-init keep their "2>&1"
	return enc.Encode(v)
}

type historyPruneCmd struct {
	historyDBFlag
	formatFlag
	OlderThan string `name:"older-than" required:"" placeholder:"AGE" help:"Delete runs that started longer ago than AGE, e.g. 30d, 12h, 90m or 1d12h."`
}

func (c *historyPruneCmd) Run(e *env) error {
	age, err := parseAge(c.OlderThan)
	if err != nil {
		return err
	}
	db, path, err := c.open(e)
	if err != nil {
		return err
	}
	n := 0
	if db != nil {
		if n, err = db.Prune(time.Now().Add(-age)); err != nil {
			return err
		}
	}
	if c.json() {
		return writeJSON(e.stdout, map[string]any{"removed": n, "olderThan": c.OlderThan, "database": path})
	}
	runs := "runs"
	if n == 1 {
		runs = "run"
	}
	fmt.Fprintf(e.stdout, "Removed %d %s older than %s from %s.\n", n, runs, c.OlderThan, path)
	return nil
}

var agePattern = regexp.MustCompile(`^(?:(\d+)d)?((?:\d+(?:\.\d+)?[hms])*)$`)

// parseAge reads an age such as 30d, 12h, 90m or 1d12h.
func parseAge(s string) (time.Duration, error) {
	m := agePattern.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("--older-than %q: want an age such as 30d, 12h, 90m or 1d12h", s)
	}
	var age time.Duration
	if m[1] != "" {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > 100*365 {
			return 0, fmt.Errorf("--older-than %q: too many days", s)
		}
		age = time.Duration(days) * 24 * time.Hour
	}
	if m[2] != "" {
		d, err := time.ParseDuration(m[2])
		if err != nil {
			return 0, fmt.Errorf("--older-than %q: %v", s, err)
		}
		age += d
	}
	return age, nil
}
