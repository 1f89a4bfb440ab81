package history

import (
	"time"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/results/report"
)

// Outcome is how a run ended, as event.Outcome words it, plus Running for
// a run that has not written its end yet.
type Outcome string

const (
	Running     Outcome = "running"
	Succeeded   Outcome = "succeeded"
	Failed      Outcome = "failed"
	TimedOut    Outcome = "timed-out"
	Interrupted Outcome = "interrupted"
	// Unknown: the record still says running, but its process is gone
	// (killed before it could write the end); only shown, never stored.
	Unknown Outcome = "unknown"
)

// Outcomes lists the valid outcomes, for flag checks.
var Outcomes = []Outcome{Running, Succeeded, Failed, TimedOut, Interrupted, Unknown}

// Run is one recorded run. It is stored and printed (`-o json`) as JSON;
// fields are only ever added, so older records keep decoding.
type Run struct {
	ID      string `json:"id"`
	Command string `json:"command"` // apply or destroy
	DryRun  bool   `json:"dryRun,omitempty"`
	// Start is when the run began; End when it finished (zero while
	// running).
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
	Duration Seconds   `json:"duration,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	// Error summarizes why a run failed, timed out or was interrupted.
	Error string `json:"error,omitempty"`

	User        string `json:"user,omitempty"`
	Host        string `json:"host,omitempty"` // the machine virtwork ran on
	PID         int    `json:"pid,omitempty"`
	KubeContext string `json:"kubeContext,omitempty"`
	Server      string `json:"server,omitempty"` // API server host
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	InventoryID string `json:"inventoryID,omitempty"`
	Version     string `json:"version,omitempty"` // virtwork's

	// Source is where the objects came from: "config" (rendered from the
	// settings), "-f FILE" or "-k DIR".
	Source string `json:"source,omitempty"`
	// WaitFor is what apply waited for: "ready", "agent", or "" (--no-wait,
	// dry run, destroy); Timeout its limit.
	WaitFor string  `json:"waitFor,omitempty"`
	Timeout Seconds `json:"timeout,omitempty"`

	// Config is the effective configuration, secrets left out; nil when
	// the objects came from a file or kustomization.
	Config    *Config    `json:"config,omitempty"`
	Workloads []Workload `json:"workloads,omitempty"`
	// Digest is "sha256:<hex>" of the rendered set (see Digest).
	Digest string `json:"digest,omitempty"`

	// Counts of object results (created, configured, ..., failed).
	Counts map[string]int `json:"counts,omitempty"`
	// VMCount is the number of VMs in the run, ReadyCount how many became
	// Ready.
	VMCount    int `json:"vmCount"`
	ReadyCount int `json:"readyCount"`
	// Latency from the apply call to Ready, and to AgentConnected (only
	// when apply waited for the agent), of the VMs this run created (see
	// summarize).
	Ready          *Stats `json:"readyLatency,omitempty"`
	AgentConnected *Stats `json:"agentConnectedLatency,omitempty"`
	// Phases: per lifecycle step (event.Phases), the time from each
	// measured VM's start to that step, by the cluster's clock.
	Phases []PhaseStats `json:"phases,omitempty"`

	// Results are the workloads' own figures (throughput, latency of the
	// benchmarks inside the guests) as a run of command "results" saw
	// them (see PutResults); kept with the run so that compare and report
	// can show them next to the start-up figures.
	Results []Result `json:"results,omitempty"`

	// RemovedRuns, for a destroy that succeeded, lists the earlier apply
	// runs of the same inventory whose objects it removed.
	RemovedRuns []string `json:"removedRuns,omitempty"`

	// Details, kept apart from the run in the database (see package doc);
	// List leaves them empty, Get fills them in.
	Objects  []Object  `json:"objects,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	VMs      []VM      `json:"vms,omitempty"`

	// Look is the whole of what 'virtwork results' showed (command
	// "results"): per-VM spread and the VMs that did not report.
	Look *report.Report `json:"look,omitempty"`
}

// Result is one workload figure of a run: for a figure that adds up
// over VMs (rates, counts) the sum, for one in seconds (latencies) the
// median over the VMs (see PutResults).
type Result struct {
	Workload string  `json:"workload"`
	Role     string  `json:"role,omitempty"`
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit,omitempty"`
	Value    float64 `json:"value"`
}

// Config is the effective configuration of a run without its secrets: of
// the SSH password only whether one was set, of the keys only how many.
type Config struct {
	Namespace          string                    `json:"namespace"`
	Workloads          []string                  `json:"workloads,omitempty"`
	VMCount            int                       `json:"vmCount,omitempty"`
	CPUCores           int                       `json:"cpuCores,omitempty"`
	Memory             string                    `json:"memory,omitempty"`
	DiskSize           string                    `json:"diskSize,omitempty"`
	StorageClass       string                    `json:"storageClass,omitempty"`
	GuestOS            string                    `json:"guestOs,omitempty"`
	ContainerDiskImage string                    `json:"containerDiskImage,omitempty"`
	Params             []string                  `json:"params,omitempty"` // workload.key=value
	WorkloadDir        string                    `json:"workloadDir,omitempty"`
	SSHUser            string                    `json:"sshUser,omitempty"`
	SSHPasswordSet     bool                      `json:"sshPasswordSet"`
	SSHKeys            int                       `json:"sshKeys"`
	PerWorkload        map[string]WorkloadConfig `json:"perWorkload,omitempty"`
}

// WorkloadConfig is a config file's per-workload override; empty fields
// were not set.
type WorkloadConfig struct {
	Enabled  *bool  `json:"enabled,omitempty"`
	VMCount  *int   `json:"vmCount,omitempty"`
	CPUCores *int   `json:"cpuCores,omitempty"`
	Memory   string `json:"memory,omitempty"`
	DiskSize string `json:"diskSize,omitempty"`
}

// Workload is what one workload role of the rendered set asked for.
type Workload struct {
	Workload string `json:"workload"`
	Role     string `json:"role,omitempty"`
	VMs      int    `json:"vms"`
	CPUCores int    `json:"cpuCores,omitempty"`
	Memory   string `json:"memory,omitempty"`
	// Disks are the data disks, "name=size".
	Disks []string `json:"disks,omitempty"`
}

// Object is what happened to one object.
type Object struct {
	Kind      string `json:"kind"`
	Group     string `json:"group,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Result    string `json:"result"`
	Reason    string `json:"reason,omitempty"`
	Owner     string `json:"owner,omitempty"`
}

// Problem is an object that did not end as asked (failed, timed-out,
// skipped) and why.
type Problem struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Result    string `json:"result"`
	Reason    string `json:"reason"`
}

// VM is one VirtualMachine of a run.
type VM struct {
	Name     string `json:"name"`
	Workload string `json:"workload,omitempty"`
	Role     string `json:"role,omitempty"`
	// Status: Ready, Failed, TimedOut, Skipped, NotWaited, Interrupted.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Applied is when the apply call for the VM returned; Ready and
	// AgentConnected when virtwork saw those conditions become True.
	Applied        time.Time `json:"applied,omitzero"`
	Ready          time.Time `json:"ready,omitzero"`
	AgentConnected time.Time `json:"agentConnected,omitzero"`
	// Started, Phases and Measured: see event.VM.
	Started  time.Time        `json:"started,omitzero"`
	Phases   event.PhaseTimes `json:"phases,omitempty"`
	Measured bool             `json:"measured,omitempty"`
}

// TimeToReady is Ready - Applied, and false when either is unknown.
func (v VM) TimeToReady() (time.Duration, bool) { return since(v.Applied, v.Ready) }

// WaitForAgent is Run.WaitFor of an apply that waited for the guest
// agent; only such runs have AgentConnected figures.
const WaitForAgent = "agent"

// TimeToAgent is AgentConnected - Applied, and false when either is unknown.
func (v VM) TimeToAgent() (time.Duration, bool) { return since(v.Applied, v.AgentConnected) }

func since(from, to time.Time) (time.Duration, bool) {
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	return max(to.Sub(from), 0), true
}

// Stats are latency figures over a run's VMs (count, min, P50, P90, P95,
// P99, max, mean), the same as apply's summary prints; see event.Stats.
type Stats = event.Stats

// PhaseStats are the Stats of one lifecycle step; see event.PhaseStats.
type PhaseStats = event.PhaseStats

// Quantiles computes Stats over values; nil when there are none.
func Quantiles(values []time.Duration) *Stats { return event.NewStats(values) }

// summarize fills the run's figures from its details: counts, VM totals,
// latencies. AgentConnected latencies need a run that waited for the agent
// (otherwise apply saw only the fastest VMs' agents). Latencies cover the
// VMs this run created, as kube-burner's do: a VM that was already there (unchanged, configured) is Ready at once
// and says nothing about start-up. A VM without an object record (a
// hand-made record) counts.
func (r *Run) summarize() {
	r.Counts = map[string]int{}
	result := map[string]string{}
	for _, o := range r.Objects {
		r.Counts[o.Result]++
		if o.Kind == "VirtualMachine" {
			result[o.Name] = o.Result
		}
	}
	if len(r.Counts) == 0 {
		r.Counts = nil
	}
	r.VMCount, r.ReadyCount = len(r.VMs), 0
	var ready, agent []time.Duration
	for _, v := range r.VMs {
		if v.Status == "Ready" {
			r.ReadyCount++
		}
		if res, ok := result[v.Name]; ok && res != "created" {
			continue
		}
		if d, ok := v.TimeToReady(); ok {
			ready = append(ready, d)
		}
		if d, ok := v.TimeToAgent(); ok && r.WaitFor == WaitForAgent {
			agent = append(agent, d)
		}
	}
	r.Ready, r.AgentConnected = Quantiles(ready), Quantiles(agent)
	r.Phases = event.PhaseSummary(r.eventVMs())
}

// eventVMs are the run's VMs as far as event.PhaseSummary reads them.
func (r *Run) eventVMs() []event.VM {
	out := make([]event.VM, len(r.VMs))
	for i, v := range r.VMs {
		out[i] = event.VM{Name: v.Name, Phases: v.Phases, Measured: v.Measured}
	}
	return out
}

// Seconds is a duration written in JSON as seconds with millisecond
// precision; String rounds to 0.1 s, the precision that matters for VM
// start-up.
type Seconds = event.Seconds
