package results_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwork/virtwork/internal/testenv"
	"github.com/virtwork/virtwork/results"
)

// loopbackExporter serves the files in dir on loopback and returns its
// address: the guest's exporter when the tree has it, else a stand-in
// that reads the files on every request as the exporter does.
func loopbackExporter(t testing.TB, dir, vm string) string {
	t.Helper()
	if script := exporterScript(t); script != "" {
		cmd := exec.Command("python3", script, "--dir", dir, "--listen", "127.0.0.1:0", "--vm", vm)
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
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if err != nil || !ok {
			t.Fatalf("exporter: %q, %v", line, err)
		}
		return addr
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.prom"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			_, _ = w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeFile replaces a metrics file as the runner does (temp file, rename).
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestPrometheus has a real Prometheus (Debian's package) scrape real
// exporters on loopback every 200 ms, behind a proxy that, like
// OpenShift's tenancy port, requires a bearer token and a namespace
// parameter; results then reads the figures averaged over the window, and
// the failing tool's failures as they rose.
func TestPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Missing(t, "no prometheus binary (Debian package prometheus; .ci/apt-packages installs it)")
	}
	const ns = "perf"
	start := time.Now()
	dirs := map[string]string{}
	var targets []string
	for _, vm := range []string{"cpu-1", "cpu-2"} {
		dirs[vm] = t.TempDir()
		writeFile(t, filepath.Join(dirs[vm], "cpu.prom"), promFile("cpu", "main", vm, start, true, 60, fmt.Sprintf(
			"# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{LABELS,stressor=\"cpu\"} 1000\n")))
		targets = append(targets, fmt.Sprintf("%q", loopbackExporter(t, dirs[vm], vm)))
	}
	// The network server runs no tool: its exporter serves guest figures
	// only.
	targets = append(targets, fmt.Sprintf("%q", loopbackExporter(t, t.TempDir(), "network-server-1")))
	port := freePort(t)
	dir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 200ms, scrape_timeout: 150ms}
scrape_configs:
- job_name: virtwork
  static_configs:
  - targets: [%s]
    labels: {namespace: %s}
`, strings.Join(targets, ", "), ns)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(bin, "--config.file", filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(dir, "data"), "--web.listen-address", fmt.Sprintf("127.0.0.1:%d", port))
	logs, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = logs, logs
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Process.Kill(); _ = prom.Wait() })

	// The tenancy port: a token and the namespace, or 401/400.
	backend, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	proxy := httputil.NewSingleHostReverseProxy(backend)
	tenancy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("namespace") != ns {
			http.Error(w, "Bad Request. The request or configuration is malformed.", http.StatusBadRequest)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(tenancy.Close)

	vms := []results.VM{{Name: "cpu-1", Workload: "cpu"}, {Name: "cpu-2", Workload: "cpu"}, {Name: "cpu-3", Workload: "cpu"},
		{Name: "network-server-1", Workload: "network", Role: "server", GuestOnly: true}}
	source := &results.Prometheus{URL: tenancy.URL, Namespace: ns, Since: time.Minute, Token: "s3cret", Tenancy: true, Timeout: 5 * time.Second}
	read := func() map[string]results.Reading {
		t.Helper()
		readings, _, err := source.Read(context.Background(), vms)
		if err != nil {
			t.Fatal(err)
		}
		return readings
	}
	waitFor := func(what string, done func(map[string]results.Reading) bool) map[string]results.Reading {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, _, err := source.Read(context.Background(), vms) // Prometheus may still be starting
			if err == nil && done(r) {
				return r
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
				t.Fatalf("%s: not within 30 s; last readings %+v, %v\nprometheus log:\n%s", what, r, err, log)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("first figures", func(r map[string]results.Reading) bool { return r["cpu-1"].Err == nil && r["cpu-2"].Err == nil })

	// cpu-2's tool does 3000 from now on; cpu-1's fails (its last good
	// figures stay).
	now := time.Now()
	writeFile(t, filepath.Join(dirs["cpu-2"], "cpu.prom"), promFile("cpu", "main", "cpu-2", now, true, 60,
		"# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{LABELS,stressor=\"cpu\"} 3000\n"))
	writeFile(t, filepath.Join(dirs["cpu-1"], "cpu.prom"), promFile("cpu", "main", "cpu-1", start, false, 60,
		"# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{LABELS,stressor=\"cpu\"} 1000\n"))
	readings := waitFor("the failure and the new figures", func(r map[string]results.Reading) bool { return r["cpu-1"].FailuresRose })
	time.Sleep(time.Second) // a few scrapes of the new figures

	readings = read()
	groups := results.Evaluate(time.Now(), vms, readings)
	if len(groups) != 2 {
		t.Fatalf("groups %+v", groups)
	}
	if s := groups[1]; readings["network-server-1"].Err != nil || s.Reporting != 1 || len(s.Problems) != 0 {
		t.Errorf("network server: %+v (%v), want reporting from its guest figures", s, readings["network-server-1"].Err)
	}
	g := groups[0]
	problems := map[string]string{}
	for _, p := range g.Problems {
		problems[p.VM] = string(p.Status) + ": " + p.Reason
	}
	if !strings.HasPrefix(problems["cpu-1"], "failing: ") || !strings.HasPrefix(problems["cpu-3"], "missing: no answer: no figures in Prometheus in the last 1m") || len(problems) != 2 {
		t.Errorf("problems %v, want cpu-1 failing and cpu-3 missing", problems)
	}
	if g.Reporting != 1 || len(g.Figures) != 1 {
		t.Fatalf("group %+v, want cpu-2 reporting one figure", g)
	}
	// Averaged over the window: cpu-2 did 1000, then 3000.
	if f := g.Figures[0]; f.Max <= 1000 || f.Max >= 3000 {
		t.Errorf("cpu-2's averaged figure %g, want between 1000 and 3000", f.Max)
	}

	// Without the token or the namespace parameter, the tenancy port
	// refuses, and the error says so.
	for _, bad := range []*results.Prometheus{
		{URL: tenancy.URL, Namespace: ns, Since: time.Minute, Tenancy: true},
		{URL: tenancy.URL, Namespace: ns, Since: time.Minute, Token: "s3cret"},
	} {
		if _, _, err := bad.Read(context.Background(), vms); err == nil || !strings.Contains(err.Error(), "querying Prometheus at "+tenancy.URL) {
			t.Errorf("%+v: %v, want an error naming the URL", bad, err)
		}
	}
}

func TestClusterTokenOnlyOverHTTPSOrLoopback(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://thanos-querier.openshift-monitoring.svc:9092": true,
		"http://127.0.0.1:9090":                                true,
		"http://[::1]:9090":                                    true,
		"http://localhost:9090":                                true,
		"http://prometheus.example:9090":                       false,
		"http://10.0.0.5:9090":                                 false,
		"::bad":                                                false,
	} {
		if got := results.MaySendClusterToken(raw); got != want {
			t.Errorf("MaySendClusterToken(%q) = %v, want %v", raw, got, want)
		}
	}
}

// A Prometheus that redirects elsewhere (another host here: 127.0.0.2)
// must not get the token sent on: the token is for the URL given.
func TestPrometheusTokenStaysWithItsHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		testenv.Missing(t, "no 127.0.0.2 on this machine's loopback: %v", err)
	}
	got := make(chan string, 8)
	elsewhere := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	})}}
	elsewhere.Start()
	defer elsewhere.Close()
	first := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	p := &results.Prometheus{URL: first.URL, Namespace: "ns", Since: time.Minute, Token: "CLUSTER-TOKEN", Insecure: true}
	_, _, err = p.Read(context.Background(), []results.VM{{Name: "cpu-1", Workload: "cpu"}})
	close(got)
	for auth := range got {
		if auth != "" {
			t.Errorf("%s got Authorization %q, want no token", elsewhere.URL, auth)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Read: %v, want an error about the redirect", err)
	}
}
