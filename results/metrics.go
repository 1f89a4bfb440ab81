package results

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Names of the bookkeeping metrics every workload runner writes (see
// the README's "Results"); the rest of a workload's gauges are its figures.
const (
	metricRuns           = "virtwork_workload_runs_total"
	metricFailures       = "virtwork_workload_run_failures_total"
	metricLastSuccess    = "virtwork_workload_last_success_timestamp_seconds"
	metricLastRun        = "virtwork_workload_last_run_timestamp_seconds"
	metricLastRunSuccess = "virtwork_workload_last_run_success"
	metricInterval       = "virtwork_workload_interval_seconds"
	metricFioIOPS        = "virtwork_fio_iops"
)

// Labels the runner puts on every workload series; figures are told
// apart by their other labels (profile, op, quantile, stressor).
const (
	labelWorkload = "workload"
	labelRole     = "role"
	labelVM       = "vm"
)

// ExporterPort is the port of the exporter in every VM.
const ExporterPort = 9100

// Sample is one series' value as a VM's exporter (or Prometheus) gave it.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
	// Counter is set for counter series, which are not figures.
	Counter bool
}

// ParseText reads the Prometheus text exposition format and returns the
// samples of the virtwork_workload_* bookkeeping and of every workload
// gauge (series with a workload label), leaving out the guest figures.
func ParseText(r io.Reader) ([]Sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading the exporter's metrics: %w", err)
	}
	var out []Sample
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if !strings.HasPrefix(name, "virtwork_") {
			continue
		}
		f := families[name]
		for _, m := range f.GetMetric() {
			s := Sample{Name: name, Labels: make(map[string]string, len(m.GetLabel()))}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			if s.Labels[labelWorkload] == "" {
				continue // a guest figure
			}
			switch {
			case m.Gauge != nil:
				s.Value = m.Gauge.GetValue()
			case m.Counter != nil:
				s.Value, s.Counter = m.Counter.GetValue(), true
			case m.Untyped != nil:
				s.Value = m.Untyped.GetValue()
				s.Counter = strings.HasSuffix(name, "_total")
			default:
				continue // summaries and histograms are not figures here
			}
			out = append(out, s)
		}
	}
	return out, nil
}
