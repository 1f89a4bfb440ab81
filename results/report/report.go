// Package report holds the result of a look at an instance's figures, as
// 'virtwork results' prints it and the run history keeps it (a leaf
// package, so the history need not import what reads the figures).
package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Status of a VM's figures.
type Status string

const (
	Reporting Status = "reporting"
	Failing   Status = "failing" // the tool's last run failed, or failures rose
	Stale     Status = "stale"   // last good figures older than three intervals
	Missing   Status = "missing" // no answer, or no figures yet
)

// Report is the result of one look at an instance's figures.
type Report struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Source    string    `json:"source"` // "direct" or "prometheus"
	Since     string    `json:"since,omitempty"`
	At        time.Time `json:"at"`
	Groups    []Group   `json:"workloads"`
}

// Group is the figures of one workload role.
type Group struct {
	Workload  string `json:"workload"`
	Role      string `json:"role,omitempty"`
	Expected  int    `json:"expected"`
	Reporting int    `json:"reporting"`
	// GuestOnly: no VM of the role writes workload figures (a role that
	// only serves, such as the network server); a VM whose exporter
	// answers counts as reporting.
	GuestOnly bool `json:"guestOnly,omitempty"`
	// NewestAgeSeconds is the age of the newest figures of the role
	// (from the guests' last-success times); nil when there are none.
	NewestAgeSeconds *float64  `json:"newestAgeSeconds,omitempty"`
	Figures          []Figure  `json:"figures,omitempty"`
	Problems         []Problem `json:"problems,omitempty"`
}

// Figure is one workload figure across the VMs that report it.
type Figure struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	VMs    int               `json:"vms"`
	// Sum is nil for figures in seconds (latencies), which do not add up.
	Sum    *float64 `json:"sum,omitempty"`
	Min    float64  `json:"min"`
	Median float64  `json:"median"`
	Max    float64  `json:"max"`
}

// Problem is a VM that does not report, and why.
type Problem struct {
	VM     string `json:"vm"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// Key names a figure: its metric and labels as "name{k=v,...}".
func (f Figure) Key() string {
	if len(f.Labels) == 0 {
		return f.Name
	}
	var b strings.Builder
	b.WriteString(f.Name)
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(f.Labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, f.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Counts returns how many VMs have each status.
func (r *Report) Counts() map[Status]int {
	c := map[Status]int{}
	for _, g := range r.Groups {
		c[Reporting] += g.Reporting
		for _, p := range g.Problems {
			c[p.Status]++
		}
	}
	return c
}

// Exit statuses of 'virtwork results', as apply's: 3 failed, 4 not there.
const (
	ExitFailing = 3
	ExitMissing = 4
)

// ExitCode is 0 when every VM reports, ExitFailing when any tool fails,
// else ExitMissing when any VM is missing or stale.
func (r *Report) ExitCode() int {
	c := r.Counts()
	switch {
	case c[Failing] > 0:
		return ExitFailing
	case c[Missing]+c[Stale] > 0:
		return ExitMissing
	}
	return 0
}

// AllReported reports whether every expected VM has reported figures at
// least once (apply --wait-for results): failing and stale VMs have.
func (r *Report) AllReported() bool {
	return r.Counts()[Missing] == 0
}
