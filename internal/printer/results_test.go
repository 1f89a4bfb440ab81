package printer

import (
	"bytes"
	"testing"
	"time"

	"github.com/virtwork/virtwork/results/report"
)

func TestResultsText(t *testing.T) {
	sum, age := 9.4e9, 12.0
	r := &report.Report{Namespace: "perf", Name: "virtwork", Source: "direct", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Groups: []report.Group{
			{Workload: "network", Role: "client", Expected: 2, Reporting: 1, NewestAgeSeconds: &age,
				Figures: []report.Figure{
					{Name: "virtwork_iperf3_sent_bits_per_second", VMs: 1, Sum: &sum, Min: 9.4e9, Median: 9.4e9, Max: 9.4e9},
					{Name: "virtwork_fio_completion_latency_seconds", Labels: map[string]string{"quantile": "0.99"}, VMs: 1, Min: 0.00042, Median: 0.0015, Max: 2.5},
				},
				Problems: []report.Problem{{VM: "network-client-2", Status: report.Stale, Reason: "figures are 5m0s old, more than 3 intervals of 1m10s"}}},
			{Workload: "network", Role: "server", Expected: 2, Reporting: 2, GuestOnly: true},
		}}
	var b bytes.Buffer
	if err := Results(&b, r, Auto); err != nil {
		t.Fatal(err)
	}
	want := `instance "virtwork" in namespace perf, read directly from each VM's exporter at 03:04:05

network/client: 1 of 2 VMs reporting, newest figures 12s old
  FIGURE                                                   SUM    MIN  MEDIAN   MAX  VMS
  virtwork_iperf3_sent_bits_per_second                    9.4G   9.4G    9.4G  9.4G    1
  virtwork_fio_completion_latency_seconds{quantile=0.99}     -  420µs   1.5ms  2.5s    1
  network-client-2 STALE: figures are 5m0s old, more than 3 intervals of 1m10s

network/server: 2 of 2 VMs reporting (exporter answers; this role writes no workload figures)

VMs: 3 reporting, 1 stale
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
