package history

import (
	"fmt"
	"os"
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
