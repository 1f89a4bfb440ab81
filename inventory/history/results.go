package history

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/virtwork/virtwork/results/report"
)

// PutResults records what 'virtwork results' showed as a finished run of
// command "results" described by m: the figures in Results, the whole
// report in Look.
func (db *DB) PutResults(m Meta, r *report.Report) error {
	if db == nil {
		return nil
	}
	at := utc(r.At)
	host, _ := os.Hostname()
	run := &Run{
		ID: NewID(at), Command: m.Command, Start: at, End: at, Outcome: Succeeded,
		User: m.User, Host: host, PID: os.Getpid(), KubeContext: m.KubeContext, Server: m.Server,
		Namespace: m.Namespace, Name: m.Name, InventoryID: m.InventoryID, Version: m.Version,
		Results: resultsOf(r), Look: r,
	}
	if c := r.Counts(); r.ExitCode() != 0 {
		run.Outcome = Failed
		run.Error = fmt.Sprintf("%d VMs failing, %d stale, %d missing", c[report.Failing], c[report.Stale], c[report.Missing])
	}
	return db.Put(run)
}

// resultsOf flattens a report's figures: the sum over the VMs where the
// figure adds up, else (seconds) the median.
func resultsOf(r *report.Report) []Result {
	var out []Result
	for _, g := range r.Groups {
		for _, f := range g.Figures {
			res := Result{Workload: g.Workload, Role: g.Role, Metric: f.Key(), Value: f.Median}
			if f.Sum != nil {
				res.Value = *f.Sum
			}
			res.Unit = unitOf(f.Name)
			out = append(out, res)
		}
	}
	return out
}

// unitOf reads the unit from a Prometheus metric name's suffix.
func unitOf(name string) string {
	for _, u := range []struct{ suffix, unit string }{
		{"_bits_per_second", "bits/s"}, {"_bytes_per_second", "bytes/s"}, {"_per_second", "1/s"},
		{"_seconds", "s"}, {"_bytes", "bytes"},
	} {
		if strings.HasSuffix(name, u.suffix) {
			return u.unit
		}
	}
	return ""
}

// ResultsOf finds the workload figures recorded for run r: r itself when
// it is a results run; for an apply, the newest results run of the same
// instance (inventory, cluster) recorded after it and before the next
// apply or destroy of that instance, i.e. while r's VMs ran, the last
// look being the most settled. nil when there is none.
func (db *DB) ResultsOf(r *Run) (*Run, error) {
	if r.Command == CommandResults || r.Command != "apply" || r.DryRun {
		return resultsIn(nil, r), nil
	}
	runs, err := db.List(Filter{Namespace: r.Namespace, Name: r.Name})
	if err != nil {
		return nil, err
	}
	return resultsIn(runs, r), nil
}

// resultsIn is ResultsOf over runs, the history newest first.
func resultsIn(runs []*Run, r *Run) *Run {
	if r.Command == CommandResults {
		return r
	}
	if r.Command != "apply" || r.DryRun {
		return nil
	}
	var found *Run
	for i := len(runs) - 1; i >= 0; i-- { // oldest first; ids sort by start
		o := runs[i]
		if o.ID <= r.ID || o.DryRun || !sameInstance(r, o) {
			continue
		}
		if o.Command == "apply" || o.Command == "destroy" {
			break
		}
		if o.Command == CommandResults {
			found = o
		}
	}
	return found
}

// CommandResults is the command of the runs PutResults records.
const CommandResults = "results"

// sameInstance: the runs are of one inventory on one cluster, as far as
// both say.
func sameInstance(a, b *Run) bool {
	same := func(x, y string) bool { return x == "" || y == "" || x == y }
	return a.Namespace == b.Namespace && a.Name == b.Name && same(a.InventoryID, b.InventoryID) && same(a.Server, b.Server)
}

// BetterOf says which way a workload figure improves, from its name and
// unit: "higher" for rates (operations, transactions, IOPS, bits or
// bytes per second), "lower" for figures in seconds (latencies) and for
// retransmits, failures and errors; "" when the name does not tell.
func BetterOf(metric, unit string) string {
	name, _, _ := strings.Cut(metric, "{")
	switch {
	case strings.Contains(name, "retransmit"), strings.Contains(name, "fail"), strings.Contains(name, "error"):
		return "lower"
	case unit == "s":
		return "lower"
	case unit == "1/s", unit == "bits/s", unit == "bytes/s", strings.HasSuffix(name, "_iops"),
		strings.Contains(name, "_per_") && strings.HasSuffix(name, "_second"):
		return "higher"
	}
	return ""
}

// AddResults sets the workload figures of ra and rb (the results runs of
// the compared runs, either nil) side by side, in ra's order, then those
// only rb has.
func (c *Comparison) AddResults(ra, rb *Run) {
	c.Results = nil
	c.A.Results, c.B.Results = resultsRef(ra), resultsRef(rb)
	type key struct{ workload, role, metric string }
	index := map[key]int{}
	add := func(res Result, isA bool) {
		k := key{res.Workload, res.Role, res.Metric}
		i, ok := index[k]
		if !ok {
			i = len(c.Results)
			index[k] = i
			c.Results = append(c.Results, ResultChange{Workload: res.Workload, Role: res.Role, Metric: res.Metric,
				Unit: res.Unit, Better: BetterOf(res.Metric, res.Unit)})
		}
		v := res.Value
		if isA {
			c.Results[i].A = &v
		} else {
			c.Results[i].B = &v
		}
	}
	if ra != nil {
		for _, res := range ra.Results {
			add(res, true)
		}
	}
	if rb != nil {
		for _, res := range rb.Results {
			add(res, false)
		}
	}
	for i := range c.Results {
		rc := &c.Results[i]
		if rc.A != nil && rc.B != nil && *rc.A != 0 {
			pct := (*rc.B - *rc.A) / *rc.A * 100
			rc.Change = &pct
		}
	}
}

func resultsRef(r *Run) *ResultsRef {
	if r == nil {
		return nil
	}
	return &ResultsRef{ID: r.ID, At: r.Start, Outcome: r.Outcome, Error: r.Error}
}

// Name is the figure's workload/role.
func (rc ResultChange) Name() string {
	if rc.Role == "" {
		return rc.Workload
	}
	return rc.Workload + "/" + rc.Role
}

func (c *Comparison) checkResults(limit float64, add func(Regression)) {
	ra, rb := c.A.Results, c.B.Results
	if rb != nil && rb.Outcome != Succeeded {
		add(Regression{Reason: "results", Figure: "outcome", B: rb.Outcome,
			Message: fmt.Sprintf("results of run %s: %s%s", c.B.ID, rb.Outcome, parenthesized(rb.Error))})
	}
	if ra == nil {
		return // no baseline figures: nothing to hold B's to
	}
	if rb == nil {
		add(Regression{Reason: "results", Figure: "results",
			Message: fmt.Sprintf("results: run %s has figures (%s), run %s none recorded", c.A.ID, ra.ID, c.B.ID)})
		return
	}
	for _, rc := range c.Results {
		if rc.A == nil {
			continue
		}
		r := Regression{Reason: "worse", Workload: rc.Name(), Figure: rc.Metric, A: *rc.A, Unit: rc.Unit, Limit: limit}
		if rc.B == nil {
			r.Reason, r.A = "results", nil
			r.Message = fmt.Sprintf("%s %s: %s -> none (B has no such figure)", rc.Name(), rc.Metric, FormatValue(*rc.A, rc.Unit))
			add(r)
			continue
		}
		r.B = *rc.B
		from, to := FormatValue(*rc.A, rc.Unit), FormatValue(*rc.B, rc.Unit)
		switch {
		case rc.Better == "":
			continue
		case rc.Change == nil: // A was 0: only a lower-is-better figure can get worse
			if rc.Better == "lower" && *rc.B > 0 {
				r.Message = fmt.Sprintf("%s %s: %s -> %s (from 0, limit %.1f%%)", rc.Name(), rc.Metric, from, to, limit)
				add(r)
			}
		case rc.Better == "higher" && *rc.Change < -limit, rc.Better == "lower" && *rc.Change > limit:
			r.Change = *rc.Change
			r.Message = fmt.Sprintf("%s %s: %s -> %s (%+.1f%%, %s is better, limit %.1f%%)", rc.Name(), rc.Metric, from, to, *rc.Change, rc.Better, limit)
			add(r)
		}
	}
}

// FormatValue writes a workload figure with its unit: whole numbers
// whole, from 100 on with one decimal, below with four significant
// digits.
func FormatValue(v float64, unit string) string {
	var s string
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 4, 64)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// Compare sets runs a and b side by side (see Compare) with the workload
// figures recorded for each (see ResultsOf).
func (db *DB) Compare(a, b *Run) (*Comparison, error) {
	c := Compare(a, b)
	var runs []*Run
	if a.Command == "apply" || b.Command == "apply" {
		var err error
		if runs, err = db.List(Filter{}); err != nil { // once for both
			return nil, err
		}
	}
	ra, rb := resultsIn(runs, a), resultsIn(runs, b)
	if ra != nil || rb != nil {
		c.AddResults(ra, rb)
	}
	return c, nil
}

// WithResults fills in r.Results, when r has none, with the figures
// ResultsOf finds for it, so that a report of the apply shows them.
func (db *DB) WithResults(r *Run) error {
	if len(r.Results) > 0 {
		return nil
	}
	res, err := db.ResultsOf(r)
	if err != nil || res == nil {
		return err
	}
	r.Results = res.Results
	return nil
}
