package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/netnstest"
	"github.com/virtwork/virtwork/internal/testcluster"
	"github.com/virtwork/virtwork/results"
)

// cpuFigures is a cpu VM's metrics file as the guest runner writes it.
func cpuFigures(vm string, ops int, at time.Time) string {
	l := fmt.Sprintf(`workload="cpu",role="main",vm=%q`, vm)
	return fmt.Sprintf(`virtwork_workload_runs_total{%[1]s} 1
virtwork_workload_run_failures_total{%[1]s} 0
virtwork_workload_last_success_timestamp_seconds{%[1]s} %[2]d
virtwork_workload_last_run_success{%[1]s} 1
virtwork_workload_interval_seconds{%[1]s} 60
virtwork_stress_bogo_ops_per_second{%[1]s,stressor="cpu"} %[3]d
`, l, at.Unix(), ops)
}

// TestApplyWaitForResults: apply --wait-for results returns only once
// every VM reports its first figures, shows them, and records them in the
// history; 'virtwork results' then reads them again; a VM that never
// reports makes apply exit 4 at --timeout.
func TestApplyWaitForResults(t *testing.T) {
	c := testcluster.Get(t)
	netns := netnstest.New(t, 2)
	ns := c.NewNamespace(t)
	state := t.TempDir()
	env := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		if args[0] != "history" {
			args = append([]string{args[0], "--kubeconfig", c.Kubeconfig()}, args[1:]...)
		}
		code := run(args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) (string, bool) {
			switch k {
			case "XDG_STATE_HOME":
				return state, true
			}
			return "", false
		}})
		return code, out.String(), errOut.String()
	}

	// The exporters answer with their guest figures only until the tool's
	// first run ends: here 3 s after the first read (60 s in a guest).
	var mu sync.Mutex
	var reported time.Time
	var firstRead sync.Once
	byAddr := map[string]string{netns.Addrs[0].String(): guestFigures("cpu-1"), netns.Addrs[1].String(): guestFigures("cpu-2")}
	netns.Serve(t, 9100, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		firstRead.Do(func() {
			time.AfterFunc(3*time.Second, func() {
				mu.Lock()
				defer mu.Unlock()
				reported = time.Now()
				byAddr[netns.Addrs[0].String()] = cpuFigures("cpu-1", 1000, reported)
				byAddr[netns.Addrs[1].String()] = cpuFigures("cpu-2", 3000, reported)
			})
		})
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, byAddr[netnstest.LocalAddr(r)])
	}))
	// KubeVirt's part: launcher pods with those addresses once the VMIs exist.
	go func() {
		cs, _ := c.Clientset()
		dyn, _ := c.Dynamic()
		vmis := dyn.Resource(schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}).Namespace(ns)
		for i, vm := range []string{"cpu-1", "cpu-2"} {
			for {
				vmi, err := vmis.Get(context.Background(), vm, metav1.GetOptions{})
				if err == nil {
					if _, err := kubevirtsim.LauncherPod(context.Background(), cs, vmi, netns.Addrs[i].String()); err != nil {
						t.Error(err)
					}
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	code, out, stderr := env("apply", "-n", ns, "--workloads", "cpu", "--vm-count", "2", "--wait-for", "results", "--timeout", "60s", "-o", "text")
	if code != 0 {
		t.Fatalf("apply exit %d\n%s\n%s", code, out, stderr)
	}
	mu.Lock()
	if reported.IsZero() {
		t.Error("apply returned before the VMs reported their first figures")
	}
	mu.Unlock()
	for _, want := range []string{"cpu: 2 of 2 VMs reporting", "virtwork_stress_bogo_ops_per_second{stressor=cpu}"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}

	code, out, stderr = env("results", "-n", ns, "-o", "json")
	if code != 0 || !strings.Contains(out, `"sum": 4000`) {
		t.Errorf("results: exit %d, want 0 and the sum 4000:\n%s\n%s", code, out, stderr)
	}
	code, out, _ = env("history", "--limit", "1")
	id := ""
	if f := strings.Fields(strings.Split(out, "\n")[min(1, len(strings.Split(out, "\n"))-1)]); code == 0 && len(f) > 0 {
		id = f[0]
	}
	code, out, stderr = env("history", "show", id)
	if code != 0 || !strings.Contains(out, "RESULTS (direct") || !strings.Contains(out, "virtwork_stress_bogo_ops_per_second{stressor=cpu}") {
		t.Errorf("history show %q: exit %d, want the results:\n%s\n%s", id, code, out, stderr)
	}

	// The record keeps each figure for compare and report: here the sum.
	code, out, _ = env("history", "show", id, "-o", "json")
	if code != 0 || !strings.Contains(out, `"metric": "virtwork_stress_bogo_ops_per_second{stressor=cpu}"`) || !strings.Contains(out, `"value": 4000`) {
		t.Errorf("history show -o json: exit %d, want the figure with its sum:\n%s", code, out)
	}

	// cpu-2's exporter stops answering with figures: results exits 4 and
	// says why; apply --wait-for results times out with 4, and with -o
	// json its last line is the results.
	mu.Lock()
	byAddr[netns.Addrs[1].String()] = guestFigures("cpu-2")
	mu.Unlock()
	code, out, _ = env("results", "-n", ns)
	if code != 4 || !strings.Contains(out, "cpu-2 MISSING: no figures yet") {
		t.Errorf("results: exit %d, want 4 and cpu-2 missing:\n%s", code, out)
	}
	code, out, stderr = env("apply", "-n", ns, "--workloads", "cpu", "--vm-count", "2", "--wait-for", "results", "--timeout", "5s", "-o", "json")
	if code != 4 || !strings.Contains(stderr, "not every VM reported its first figures within --timeout 5s (1 missing)") {
		t.Errorf("apply: exit %d, want 4 and why:\n%s", code, stderr)
	}
	var shown *results.Report
	for _, line := range strings.Split(out, "\n") {
		var ev struct {
			Type    string          `json:"type"`
			Results *results.Report `json:"results"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == "results" {
			shown = ev.Results
		}
	}
	if shown == nil || len(shown.Groups) != 1 || shown.Groups[0].Reporting != 1 || len(shown.Groups[0].Problems) != 1 || shown.Groups[0].Problems[0].VM != "cpu-2" {
		t.Errorf("apply -o json: results %+v, want a results event with cpu-1 reporting and cpu-2 missing:\n%s", shown, out)
	}
}

// guestFigures is what a VM's exporter serves before the tool's first run
// ends: its own figures of the guest, labelled vm only.
func guestFigures(vm string) string {
	return fmt.Sprintf("virtwork_guest_cpus{vm=%q} 2\nvirtwork_guest_load1{vm=%q} 0.5\n", vm, vm)
}
