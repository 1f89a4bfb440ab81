package history

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/virtwork/virtwork/apply/event"
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

	// RemovedRuns, for a destroy that succeeded, lists the earlier apply
	// runs of the same inventory whose objects it removed.
	RemovedRuns []string `json:"removedRuns,omitempty"`

	// Details, kept apart from the run in the database (see package doc);
	// List leaves them empty, Get fills them in.
	Objects  []Object  `json:"objects,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	VMs      []VM      `json:"vms,omitempty"`
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
	ContainerDiskImage string                    `json:"containerDiskImage,omitempty"`
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

// Stats are latency figures over a run's VMs, as kube-burner reports them.
// Quantiles are nearest-rank: Pq is the smallest value with at least q% of
// the values at or below it, i.e. sorted[ceil(q/100*N)-1]; so with one value
// all figures are that value, and with two P50 is the smaller and P90, P99
// the larger.
type Stats struct {
	Count int     `json:"count"`
	Min   Seconds `json:"min"`
	P50   Seconds `json:"p50"`
	P90   Seconds `json:"p90"`
	P99   Seconds `json:"p99"`
	Max   Seconds `json:"max"`
	Avg   Seconds `json:"avg"`
}

// Quantiles computes Stats over values; nil when there are none. The
// quantiles are event.Quantile's, the same as the terminal summary's.
func Quantiles(values []time.Duration) *Stats {
	if len(values) == 0 {
		return nil
	}
	s := slices.Clone(values)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	rank := func(q float64) Seconds { return Seconds(event.Quantile(s, q)) }
	return &Stats{
		Count: len(s), Min: Seconds(s[0]), Max: Seconds(s[len(s)-1]),
		P50: rank(0.5), P90: rank(0.9), P99: rank(0.99),
		Avg: Seconds(sum / time.Duration(len(s))),
	}
}

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
}

// Seconds is a duration written in JSON as seconds with millisecond
// precision.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', 3, 64), nil
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration in seconds: %w", err)
	}
	*s = Seconds(math.Round(f * float64(time.Second)))
	return nil
}

// String rounds to 0.1 s, the precision that matters for VM start-up.
func (s Seconds) String() string { return time.Duration(s).Round(100 * time.Millisecond).String() }
