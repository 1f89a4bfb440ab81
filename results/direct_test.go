package results_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/netnstest"
	"github.com/virtwork/virtwork/internal/testcluster"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
	"github.com/virtwork/virtwork/results"
)

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}) }

var vmis = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}

// instance applies workloads (name: VM count) in a new namespace with the
// cluster admin and waits until the VMs are ready.
func instance(t testing.TB, c *testcluster.Cluster, counts map[string]int) string {
	t.Helper()
	ns := c.NewNamespace(t)
	wls, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: ns}})
	if err != nil {
		t.Fatal(err)
	}
	// With the ServiceMonitor, which the API server validates against the
	// operator's CRD.
	cfg := &config.Config{Namespace: ns, ServiceMonitor: true, PerWorkload: map[string]config.WorkloadSettings{}}
	for name, n := range counts {
		cfg.Workloads = append(cfg.Workloads, name)
		cfg.PerWorkload[name] = config.WorkloadSettings{VMCount: &n}
	}
	objs, err := render.Render(cfg, wls)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	s, err := apply.Apply(context.Background(), kc, objs, apply.Options{Namespace: ns, Timeout: 2 * time.Minute}, nil)
	if code := apply.ExitCode(s, err); code != 0 {
		t.Fatalf("apply: exit %d: %v", code, err)
	}
	return ns
}

// launchers gives each VM in ips a launcher pod with that IP.
func launchers(t testing.TB, c *testcluster.Cluster, ns string, ips map[string]string) {
	t.Helper()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for vm, ip := range ips {
		vmi, err := dyn.Resource(vmis).Namespace(ns).Get(ctx, vm, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kubevirtsim.LauncherPod(ctx, cs, vmi, ip); err != nil {
			t.Fatal(err)
		}
	}
}

// resultsReader makes a ServiceAccount of ns with exactly the rights
// 'virtwork results' documents, and returns its clients.
func resultsReader(t testing.TB, c *testcluster.Cluster, ns string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	user, err := c.NamespaceAdmin(context.Background(), ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	// Narrow the admin role to what results says it needs.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-namespace-admin", Namespace: ns},
		Rules:      results.Rules(true),
	}
	if _, err := cs.RbacV1().Roles(ns).Update(context.Background(), role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ucs, err := kubernetes.NewForConfig(user.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	udyn, err := dynamic.NewForConfig(user.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return ucs, udyn
}

// promFile is a workload's metrics file as the guest runner writes it.
func promFile(workload, role, vm string, lastSuccess time.Time, lastRunOK bool, interval int, figures string) string {
	ok := 1
	if !lastRunOK {
		ok = 0
	}
	l := fmt.Sprintf(`workload=%q,role=%q,vm=%q`, workload, role, vm)
	figures = strings.ReplaceAll(figures, "LABELS", l)
	return fmt.Sprintf(`# TYPE virtwork_workload_runs_total counter
virtwork_workload_runs_total{%[1]s} 10
# TYPE virtwork_workload_run_failures_total counter
virtwork_workload_run_failures_total{%[1]s} %[2]d
# TYPE virtwork_workload_last_success_timestamp_seconds gauge
virtwork_workload_last_success_timestamp_seconds{%[1]s} %[3]d
# TYPE virtwork_workload_last_run_success gauge
virtwork_workload_last_run_success{%[1]s} %[4]d
# TYPE virtwork_workload_interval_seconds gauge
virtwork_workload_interval_seconds{%[1]s} %[5]d
%[6]s`, l, 1-ok, lastSuccess.Unix(), ok, interval, figures)
}

// exporterScript is the guest exporter when this tree has it.
func exporterScript(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "cue", "virtwork-exporter.py"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// serve runs an exporter for each VM at its address in the namespace,
// serving files (name -> content): the guest's own exporter
// (cue/virtwork-exporter.py, a real process per address) when the tree
// has it and guestExporter is set, else a stand-in serving the files in
// the same text format.
func serve(t testing.TB, ns *netnstest.Netns, addrs map[string]string, files map[string]map[string]string, guestExporter bool) {
	t.Helper()
	if script := exporterScript(t); script != "" && guestExporter {
		for vm, addr := range addrs {
			dir := t.TempDir()
			for name, content := range files[vm] {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := ns.Command("python3", script, "--dir", dir, "--listen", net.JoinHostPort(addr, fmt.Sprint(results.ExporterPort)), "--vm", vm)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "listening on") {
				t.Fatalf("exporter for %s: %q, %v", vm, line, err)
			}
		}
		return
	}
	byAddr := map[string]string{}
	for vm, addr := range addrs {
		var b strings.Builder
		for _, content := range files[vm] {
			b.WriteString(content)
		}
		byAddr[addr] = b.String()
	}
	ns.Serve(t, results.ExporterPort, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := byAddr[netnstest.LocalAddr(r)]
		if !ok || r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, body)
	}))
}

// TestDirect reads real exporters inside a network namespace through the
// API server's pod proxy, as a user whose rights cover only the
// namespace, and judges each kind of VM: reporting, failing, stale, not
// answering (no pod, nothing listening, hanging), and a role that writes
// no figures.
func TestDirect(t *testing.T) {
	c := testcluster.Get(t)
	netns := netnstest.New(t, 8)
	ns := instance(t, c, map[string]int{"cpu": 6, "network": 1})
	now := time.Now()
	cpuFile := func(vm string, ops float64, last time.Time, ok bool) map[string]string {
		return map[string]string{"cpu.prom": promFile("cpu", "main", vm, last, ok, 60, fmt.Sprintf(
			"# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{LABELS,stressor=\"cpu\"} %g\n", ops))}
	}
	addr := func(i int) string { return netns.Addrs[i].String() }
	files := map[string]map[string]string{
		"cpu-1":            cpuFile("cpu-1", 1000, now.Add(-10*time.Second), true),
		"cpu-2":            cpuFile("cpu-2", 3000, now.Add(-20*time.Second), true),
		"cpu-3":            cpuFile("cpu-3", 500, now.Add(-100*time.Second), false), // the tool failing
		"cpu-4":            cpuFile("cpu-4", 2000, now.Add(-200*time.Second), true), // stale: > 3 x 60 s
		"network-server-1": {},
		"network-client-1": {"network.prom": promFile("network", "client", "network-client-1", now.Add(-5*time.Second), true, 70,
			"# TYPE virtwork_iperf3_sent_bits_per_second gauge\nvirtwork_iperf3_sent_bits_per_second{LABELS} 9.4e9\n")},
	}
	addrs := map[string]string{}
	for i, vm := range []string{"cpu-1", "cpu-2", "cpu-3", "cpu-4", "network-server-1", "network-client-1"} {
		addrs[vm] = addr(i)
	}
	serve(t, netns, addrs, files, true)
	// cpu-5: an address where nothing listens; cpu-6: no launcher pod.
	pods := map[string]string{"cpu-5": addr(6)}
	for vm, a := range addrs {
		pods[vm] = a
	}
	launchers(t, c, ns, pods)

	cs, dyn := resultsReader(t, c, ns)
	looker := &results.Looker{Dynamic: dyn, Namespace: ns, Name: "virtwork", SourceName: "direct",
		Source: &results.Direct{Clientset: cs, Dynamic: dyn, Namespace: ns, Timeout: 3 * time.Second}}
	report, err := looker.Look(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range report.Groups {
		for _, p := range g.Problems {
			got[p.VM] = string(p.Status) + ": " + p.Reason
		}
	}
	want := map[string]string{
		"cpu-3": "failing: the tool's last run failed",
		"cpu-4": "stale: figures are 3m2",
		"cpu-5": "missing: no answer: " + addr(6) + ":9100 via pod virt-launcher-cpu-5-",
		"cpu-6": "missing: no answer: no virt-launcher pod",
	}
	for vm, w := range want {
		if !strings.HasPrefix(got[vm], w) {
			t.Errorf("%s: %q, want it to start %q", vm, got[vm], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want only %v", got, want)
	}
	byName := map[string]results.Group{}
	for _, g := range report.Groups {
		byName[g.Workload+"/"+g.Role] = g
	}
	cpu := byName["cpu/"]
	if cpu.Expected != 6 || cpu.Reporting != 2 || len(cpu.Figures) != 1 {
		t.Fatalf("cpu: %+v", cpu)
	}
	f := cpu.Figures[0]
	if f.Key() != "virtwork_stress_bogo_ops_per_second{stressor=cpu}" || f.VMs != 2 || *f.Sum != 4000 || f.Min != 1000 || f.Median != 2000 || f.Max != 3000 {
		t.Errorf("cpu figure %s: %+v (sum %v), want sum 4000 over 2 VMs, 1000/2000/3000", f.Key(), f, *f.Sum)
	}
	if age := *cpu.NewestAgeSeconds; age < 10 || age > 60 {
		t.Errorf("cpu newest figures %gs old, want about 10 s", age)
	}
	if s := byName["network/server"]; !s.GuestOnly || s.Reporting != 1 {
		t.Errorf("network server: %+v, want reporting with guest figures only", s)
	}
	if cl := byName["network/client"]; cl.Reporting != 1 || len(cl.Figures) != 1 || *cl.Figures[0].Sum != 9.4e9 {
		t.Errorf("network client: %+v", cl)
	}
	if code := report.ExitCode(); code != results.ExitFailing {
		t.Errorf("exit code %d, want %d (a tool failing)", code, results.ExitFailing)
	}
}
