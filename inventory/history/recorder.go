package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

// Meta is what the command knows of a run before it starts; the Recorder
// adds what the engine's events tell.
type Meta struct {
	Command string // "apply" or "destroy"
	DryRun  bool
	// User is the local user (CurrentUser), KubeContext the kubeconfig
	// context, Server the API server host.
	User, KubeContext, Server    string
	Namespace, Name, InventoryID string
	Version                      string // version.String()
	// Source, WaitFor and Timeout: see Run.
	Source    string
	WaitFor   string
	Timeout   time.Duration
	Config    *Config
	Workloads []Workload
	Digest    string
}

// Recorder records one run: Start writes it as running, Observe takes the
// engine's events (keeping them in memory; the file is not held open), and
// Finish writes the end. A nil *Recorder (history turned off) does nothing.
type Recorder struct {
	db       *DB
	mu       sync.Mutex
	run      Run
	vms      map[string]*VM
	vmOrder  []string
	summary  *event.Summary
	finished *Run
}

// now is the clock; tests set it.
var now = time.Now

// Start writes a running record for a run described by m and returns its
// Recorder; with a nil db (history off) it returns nil and no error. An
// error means the history cannot be written: stop before touching the
// cluster (the error says what to do).
func Start(db *DB, m Meta) (*Recorder, error) {
	if db == nil {
		return nil, nil
	}
	start := now().UTC()
	host, _ := os.Hostname()
	r := &Recorder{db: db, vms: map[string]*VM{}, run: Run{
		ID: NewID(start), Command: m.Command, DryRun: m.DryRun, Start: start, Outcome: Running,
		User: m.User, Host: host, PID: os.Getpid(), KubeContext: m.KubeContext, Server: m.Server,
		Namespace: m.Namespace, Name: m.Name, InventoryID: m.InventoryID, Version: m.Version,
		Source: m.Source, WaitFor: m.WaitFor, Timeout: Seconds(m.Timeout),
		Config: m.Config, Workloads: m.Workloads, Digest: m.Digest,
	}}
	first := r.run
	if err := db.Put(&first); err != nil {
		return nil, err
	}
	return r, nil
}

// ID is the run's id ("" for a nil Recorder).
func (r *Recorder) ID() string {
	if r == nil {
		return ""
	}
	return r.run.ID
}

// Sink is Observe as an event.Sink (nil for a nil Recorder, which
// event.Tee skips).
func (r *Recorder) Sink() event.Sink {
	if r == nil {
		return nil
	}
	return r.Observe
}

// Observe takes one engine event. It only updates memory, so it never
// blocks the engine on the file.
func (r *Recorder) Observe(ev event.Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := ev.Time.UTC()
	switch {
	case ev.Init != nil:
		in := ev.Init
		r.run.Command, r.run.DryRun = string(in.Command), in.DryRun
		fill(&r.run.Name, in.Name)
		fill(&r.run.Namespace, in.Namespace)
		fill(&r.run.InventoryID, in.InventoryID)
	case ev.Object != nil:
		o := ev.Object
		r.run.Objects = append(r.run.Objects, Object{Kind: o.Ref.Kind, Group: o.Ref.Group, Namespace: o.Ref.Namespace,
			Name: o.Ref.Name, Result: string(o.Result), Reason: o.Reason, Owner: o.Owner})
		if o.Ref.Kind != "VirtualMachine" || r.summary != nil {
			return
		}
		vm := r.vm(o.Ref.Name)
		switch o.Result {
		case event.Created, event.Configured, event.Unchanged:
			if vm.Applied.IsZero() {
				vm.Applied = t
			}
		case event.Failed:
			vm.Status, vm.Message = event.VMFailed, o.Reason
		case event.Skipped:
			vm.Status, vm.Message = event.VMSkipped, o.Reason
		}
	case ev.Status != nil:
		s := ev.Status
		if s.Ref.Kind != "VirtualMachine" || r.summary != nil {
			return
		}
		vm := r.vm(s.Ref.Name)
		fill(&vm.Workload, s.Workload)
		fill(&vm.Role, s.Role)
		switch s.Status {
		case event.StatusCurrent:
			if vm.Ready.IsZero() {
				vm.Ready = t
			}
			vm.Status, vm.Message = event.VMReady, ""
		case event.StatusFailed:
			vm.Status, vm.Message = event.VMFailed, s.Message
		}
	case ev.Summary != nil:
		s := *ev.Summary
		r.summary = &s
	}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// vm returns the VM tracked from events, for a run that ends without a
// Summary.
func (r *Recorder) vm(name string) *VM {
	vm, ok := r.vms[name]
	if !ok {
		vm = &VM{Name: name}
		r.vms[name] = vm
		r.vmOrder = append(r.vmOrder, name)
	}
	return vm
}

// Finish writes the end of the run and returns the record. err is what
// the engine returned: with a Summary event seen, the Summary says how the
// run ended; without one (the run could not start, or stopped before the
// engine could close it) err decides: cancelled is interrupted, a deadline
// timed out, anything else failed. Calling Finish again returns the first
// result; so it can also be deferred as a safety net.
func (r *Recorder) Finish(err error) (*Run, error) {
	if r == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished != nil {
		return r.finished, nil
	}
	run := r.run
	run.End = now().UTC()
	run.Duration = Seconds(run.End.Sub(run.Start))
	if s := r.summary; s != nil {
		run.Command, run.DryRun = string(s.Command), s.DryRun
		run.Outcome, run.Error = Outcome(s.Outcome), s.Error
		run.VMs = nil
		for _, v := range s.VMs {
			vm := VM{Name: v.Name, Workload: v.Workload, Role: v.Role, Status: v.Status,
				Message: v.Message, Applied: utc(v.Applied), Ready: utc(v.Ready),
				Started: utc(v.Started), Phases: v.Phases, Measured: v.Measured}
			// Without --wait-for=agent apply stops at Ready, so only the
			// fastest guests' agents are seen: a partial figure, left out.
			if run.WaitFor == WaitForAgent {
				vm.AgentConnected = utc(v.AgentConnected)
			}
			run.VMs = append(run.VMs, vm)
		}
		for _, p := range s.Problems {
			run.Problems = append(run.Problems, Problem{Kind: p.Ref.Kind, Namespace: p.Ref.Namespace, Name: p.Ref.Name,
				Result: p.Result, Reason: p.Reason})
		}
	} else {
		switch {
		case errors.Is(err, context.Canceled):
			run.Outcome = Interrupted
		case errors.Is(err, context.DeadlineExceeded):
			run.Outcome = TimedOut
		case err != nil:
			run.Outcome = Failed
		default:
			run.Outcome, run.Error = Interrupted, "the run ended before the engine reported its end"
		}
		for _, name := range r.vmOrder {
			vm := *r.vms[name]
			if vm.Status == "" {
				vm.Status = event.VMInterrupted
			}
			run.VMs = append(run.VMs, vm)
		}
	}
	if run.Error == "" && err != nil {
		run.Error = err.Error()
	}
	if run.Error == "" && (run.Outcome == Failed || run.Outcome == TimedOut) {
		run.Error = whatWentWrong(&run)
	}
	run.Error = oneLine(run.Error)
	if err := r.write(&run); err != nil {
		return &run, err
	}
	r.finished = &run
	return &run, nil
}

// write stores the end of the run. The cluster work is done, so a lock
// held by another virtwork is waited out for up to FinishTimeout; should
// the database stay locked (or have broken meanwhile), the end is kept in
// PendingDir for the next Open, List or Get to merge. Only when that fails
// too is the end lost, and the error says so.
func (r *Recorder) write(run *Run) error {
	long := *r.db
	long.LockTimeout = r.db.FinishTimeout
	if long.LockTimeout <= 0 {
		long.LockTimeout = DefaultFinishTimeout
	}
	err := long.Put(run)
	if err == nil {
		return nil
	}
	perr := r.db.keepPending(run)
	if perr == nil {
		return nil
	}
	why := err.Error()
	if errors.Is(err, ErrLocked) {
		why = fmt.Sprintf("history database %s stayed locked by another virtwork process for %s", r.db.path, long.LockTimeout)
	}
	return fmt.Errorf("%s, and keeping the end of run %s in %s failed too: %v", why, run.ID, PendingDir(r.db.path), perr)
}

// whatWentWrong sums up a failed or timed-out run that ended without an
// error: which objects and VMs failed or were not ready in time, and why.
func whatWentWrong(run *Run) string {
	var failed, late []string
	seen := map[string]bool{}
	for _, p := range run.Problems {
		if p.Result == string(event.Skipped) {
			continue
		}
		seen[p.Kind+"/"+p.Name] = true
		item := p.Kind + "/" + p.Name + withReason(p.Reason)
		if p.Result == string(event.Failed) {
			failed = append(failed, item)
		} else {
			late = append(late, item)
		}
	}
	for _, v := range run.VMs {
		if seen["VirtualMachine/"+v.Name] {
			continue
		}
		switch v.Status {
		case event.VMFailed:
			failed = append(failed, "VirtualMachine/"+v.Name+withReason(v.Message))
		case event.VMTimedOut:
			late = append(late, "VirtualMachine/"+v.Name+withReason(v.Message))
		}
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed: %s", len(failed), firstFew(failed)))
	}
	if len(late) > 0 {
		parts = append(parts, fmt.Sprintf("%d not ready in time: %s", len(late), firstFew(late)))
	}
	return strings.Join(parts, "; ")
}

func withReason(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func firstFew(items []string) string {
	if len(items) > 3 {
		return strings.Join(items[:3], ", ") + fmt.Sprintf(" and %d more", len(items)-3)
	}
	return strings.Join(items, ", ")
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// oneLine keeps an error summary to one line of reasonable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1000 {
		s = s[:1000] + "..."
	}
	return s
}
