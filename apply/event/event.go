// Package event defines what the apply engine reports while it works: one
// stream of small, JSON-friendly events that the terminal printer and the
// run history both consume.
package event

import (
	"strconv"
	"sync"
	"time"
)

// Type says which of Event's payload fields is set.
type Type string

const (
	TypeInit    Type = "init"    // Init: what the run is about to do
	TypeObject  Type = "object"  // Object: an action on one object finished
	TypeStatus  Type = "status"  // Status: a watched object's status changed
	TypeSummary Type = "summary" // Summary: the run is over (always last)
)

// Event is one report from the engine. Exactly one payload is set, as named
// by Type.
type Event struct {
	Time    time.Time `json:"time"`
	Type    Type      `json:"type"`
	Init    *Init     `json:"init,omitempty"`
	Object  *Object   `json:"object,omitempty"`
	Status  *Status   `json:"status,omitempty"`
	Summary *Summary  `json:"summary,omitempty"`
}

// Ref names an object.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Command is what a run does.
type Command string

const (
	CommandApply   Command = "apply"
	CommandDestroy Command = "destroy"
	// CommandStatus waits on a set someone (anyone) applied: status --wait.
	CommandStatus Command = "status"
)

// Init opens a run: totals for progress displays.
type Init struct {
	Command     Command `json:"command"`
	DryRun      bool    `json:"dryRun,omitempty"`
	Name        string  `json:"name"`
	Namespace   string  `json:"namespace"`
	InventoryID string  `json:"inventoryID"`
	// Objects to apply (apply) or delete (destroy), VMs among them, and
	// objects to prune (apply).
	Objects int  `json:"objects"`
	VMs     int  `json:"vms"`
	Prune   int  `json:"prune,omitempty"`
	Wait    bool `json:"wait"`
}

// Result is what happened to an object.
type Result string

const (
	Created    Result = "created"
	Configured Result = "configured"
	Unchanged  Result = "unchanged"
	Pruned     Result = "pruned"  // deleted because it left the set
	Deleted    Result = "deleted" // deleted by destroy
	Skipped    Result = "skipped" // left alone: owned elsewhere, or gone already
	Failed     Result = "failed"
)

// Object reports the outcome of applying, pruning or deleting one object.
type Object struct {
	Ref    Ref    `json:"ref"`
	Result Result `json:"result"`
	// Reason explains skipped and failed results (and dry runs).
	Reason string `json:"reason,omitempty"`
	// Owner is the inventory that owns a skipped object ("" when no
	// inventory does).
	Owner string `json:"owner,omitempty"`
}

// Status values, as kstatus names them.
const (
	StatusInProgress  = "InProgress"
	StatusCurrent     = "Current"
	StatusFailed      = "Failed"
	StatusTerminating = "Terminating"
	StatusNotFound    = "NotFound"
	StatusUnknown     = "Unknown"
)

// Status reports a change in a watched object's status.
type Status struct {
	Ref     Ref    `json:"ref"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Workload and Role label VMs.
	Workload string `json:"workload,omitempty"`
	Role     string `json:"role,omitempty"`
}

// Outcome is how a run ended.
type Outcome string

const (
	Succeeded   Outcome = "succeeded"
	Failure     Outcome = "failed"      // objects or VMs failed, or the run hit an error
	TimedOut    Outcome = "timed-out"   // waiting ran out of time; nothing failed
	Interrupted Outcome = "interrupted" // the context was cancelled (Ctrl-C)
)

// Summary closes a run.
type Summary struct {
	Command  Command   `json:"command"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	Error    string    `json:"error,omitempty"`
	Start    time.Time `json:"start"`
	Duration Seconds   `json:"duration"`
	// Counts of object results.
	Counts map[Result]int `json:"counts"`
	// Failures lists every failed, timed-out or skipped object with why.
	Problems []Problem `json:"problems,omitempty"`
	// VMs, sorted by name.
	VMs []VM `json:"vms,omitempty"`
	// Phases are the per-phase latency figures over the measured VMs.
	Phases []PhaseStats `json:"phases,omitempty"`
}

// Problem is an object that did not end as asked, and why.
type Problem struct {
	Ref    Ref    `json:"ref"`
	Result string `json:"result"` // failed, timed-out, skipped
	Reason string `json:"reason"`
}

// VM is the end state of one VirtualMachine of an apply.
type VM struct {
	Name     string `json:"name"`
	Workload string `json:"workload,omitempty"`
	Role     string `json:"role,omitempty"`
	// Status: Ready, Failed, TimedOut, Skipped, NotWaited (--no-wait or
	// dry run), Interrupted.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Applied is when the apply call for the VM returned; Ready and
	// AgentConnected are when virtwork saw those conditions become True
	// (zero when it did not).
	Applied        time.Time `json:"applied"`
	Ready          time.Time `json:"ready,omitzero"`
	AgentConnected time.Time `json:"agentConnected,omitzero"`
	// TimeToReady is Ready - Applied (0 when not ready).
	TimeToReady Seconds `json:"timeToReady,omitempty"`
	// Started is when the VM was created (or, for a VM this run
	// restarted, changed) by the cluster's clock; Phases the time from
	// then to each lifecycle step it reached (see Phases), from the
	// cluster's timestamps, so that this machine's clock plays no part.
	// A step not reached or not recorded is absent, never negative.
	Started time.Time  `json:"started,omitzero"`
	Phases  PhaseTimes `json:"phases,omitempty"`
	// Measured: the run created or restarted the VM, or found it still
	// starting (an interrupted earlier run), so its phases count in the
	// run's figures. A VM that was up already says nothing about start-up.
	Measured bool `json:"measured,omitempty"`
}

// VM status values in a Summary.
const (
	VMReady       = "Ready"
	VMFailed      = "Failed"
	VMTimedOut    = "TimedOut"
	VMSkipped     = "Skipped"
	VMNotWaited   = "NotWaited"
	VMInterrupted = "Interrupted"
)

// Seconds is a duration written in JSON as seconds.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', 3, 64), nil
}

func (s Seconds) String() string { return time.Duration(s).Round(100 * time.Millisecond).String() }

// Sink receives events. The engine calls it from one goroutine at a time,
// in order; a sink must not block for long.
type Sink func(Event)

// Tee sends every event to each sink in turn; nil sinks are skipped.
func Tee(sinks ...Sink) Sink {
	return func(e Event) {
		for _, s := range sinks {
			if s != nil {
				s(e)
			}
		}
	}
}

// Serialized wraps s so that concurrent callers are delivered one at a time.
func Serialized(s Sink) Sink {
	var mu sync.Mutex
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		s(e)
	}
}
