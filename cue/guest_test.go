package cue_test

// Tests of the guest programs (virtwork-run.py, virtwork-exporter.py)
// against the real load tools: each runs for a second or two, the runner
// parses its real output, and the figures must be present and plausible.
// Failing runs (server down, disk full) must raise the failure counter and
// keep the last good figures. Each test skips, naming the Debian package,
// where a tool is missing. The tests run in parallel: their checks are
// ratios and wide bounds, which contention between the tools does not upset.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtwork/virtwork/internal/testenv"
	"github.com/virtwork/virtwork/internal/workload"
)

func need(t *testing.T, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		testenv.Missing(t, "%s not found; install the Debian package %s to run this test", tool, debianPackage)
	}
	return p
}

// guest holds a metrics and a state directory, as in a VM.
type guest struct {
	t                    *testing.T
	metricsDir, stateDir string
}

// python is the interpreter the guest programs run with: the guests run
// /usr/bin/python3 (the programs' #! line); elsewhere python3 from $PATH.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return need(t, "python3", "python3")
}

func newGuest(t *testing.T) *guest {
	python(t)
	d := t.TempDir()
	return &guest{t: t, metricsDir: filepath.Join(d, "metrics"), stateDir: filepath.Join(d, "state")}
}

// roleOf is the role a built-in workload's tool runs in.
func roleOf(workload string) string {
	if workload == "network" {
		return "client"
	}
	return "main"
}

// run runs virtwork-run once; it reports whether the run succeeded.
func (g *guest) run(workload, parser string, extra []string, command ...string) bool {
	g.t.Helper()
	args := []string{"virtwork-run.py", "--workload", workload, "--role", roleOf(workload), "--vm", "vm-1",
		"--parser", parser, "--interval", "60", "--metrics-dir", g.metricsDir, "--state-dir", g.stateDir}
	args = append(args, extra...)
	args = append(append(args, "--"), command...)
	cmd := exec.Command(python(g.t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			g.t.Fatalf("virtwork-run: %v\n%s", err, out)
		}
		if cmd.ProcessState.ExitCode() != 1 {
			g.t.Fatalf("virtwork-run exited %d (want 0 or 1):\n%s", cmd.ProcessState.ExitCode(), out)
		}
		g.t.Logf("failed run, as output:\n%s", tail(out))
		return false
	}
	return true
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// figures reads <workload>.prom: series ("name{k=v,...}", labels sorted,
// workload/role/vm left out) to value. It fails the test on anything a
// Prometheus scrape would reject.
func (g *guest) figures(workload string) map[string]float64 {
	g.t.Helper()
	path := filepath.Join(g.metricsDir, workload+".prom")
	fi, err := os.Stat(path)
	if err != nil {
		g.t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		g.t.Errorf("%s has mode %v; the exporter (another user) needs 0644", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	fig := parseExposition(g.t, string(b), map[string]string{"workload": workload, "role": roleOf(workload), "vm": "vm-1"})
	return fig
}

// checkDeclared compares what the runner wrote for a built-in workload
// with the metrics its CUE role declares (for `virtwork workloads show`):
// the same names, types, help and labels.
func (g *guest) checkDeclared(name string) {
	g.t.Helper()
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: "ns"}})
	if err != nil {
		g.t.Fatal(err)
	}
	w, err := workload.Lookup(ws, name)
	if err != nil {
		g.t.Fatal(err)
	}
	declared := map[string]workload.Metric{}
	for _, r := range w.Roles {
		if r.Name == roleOf(name) {
			for _, m := range r.Metrics {
				declared[m.Name] = m
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(g.metricsDir, name+".prom"))
	if err != nil {
		g.t.Fatal(err)
	}
	written := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, " ", 4)
		switch {
		case f[0] == "#" && f[1] == "HELP":
			if m, ok := declared[f[2]]; !ok {
				g.t.Errorf("%s writes %s, which its CUE role does not declare", name, f[2])
			} else if m.Help != f[3] {
				g.t.Errorf("%s: help of %s is %q in CUE, %q in the runner", name, f[2], m.Help, f[3])
			}
			written[f[2]] = true
		case f[0] == "#" && f[1] == "TYPE":
			if m := declared[f[2]]; m.Type != f[3] {
				g.t.Errorf("%s: %s is a %s in CUE, a %s in the runner", name, f[2], m.Type, f[3])
			}
		default:
			m := sampleLine.FindStringSubmatch(line)
			var labels []string
			for _, p := range strings.Split(m[2], ",") {
				if k, _, _ := strings.Cut(p, "="); k != "workload" && k != "role" && k != "vm" {
					labels = append(labels, k)
				}
			}
			want := slices.Sorted(slices.Values(declared[m[1]].Labels))
			if !slices.Equal(labels, want) {
				g.t.Errorf("%s: %s has labels %v, CUE declares %v", name, line, labels, want)
			}
		}
	}
	for n := range declared {
		if !written[n] {
			g.t.Errorf("%s declares %s but the runner did not write it", name, n)
		}
	}
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$`)
)

// parseExposition is a minimal reader of the Prometheus text format: one
// HELP and TYPE per family before its samples, no duplicate series, every
// value a number. Labels in want must be on every sample and are left out
// of the keys.
func parseExposition(t *testing.T, text string, want map[string]string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]string{}
	helped := map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" {
			switch f[1] {
			case "TYPE":
				if _, dup := typed[f[2]]; dup {
					t.Errorf("second TYPE line for %s", f[2])
				}
				typed[f[2]] = f[3]
			case "HELP":
				if helped[f[2]] {
					t.Errorf("second HELP line for %s", f[2])
				}
				helped[f[2]] = true
			}
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not an exposition line: %q", line)
			continue
		}
		if typed[m[1]] == "" || !helped[m[1]] {
			t.Errorf("%s has no TYPE or HELP before its samples", m[1])
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("%q: value: %v", line, err)
		}
		labels := map[string]string{}
		if m[2] != "" {
			for _, p := range strings.Split(m[2], ",") {
				lp := labelPair.FindStringSubmatch(p)
				if lp == nil {
					t.Fatalf("%q: bad label %q", line, p)
				}
				labels[lp[1]] = lp[2]
			}
		}
		var keep []string
		for k, v := range labels {
			if w, ok := want[k]; ok {
				if v != w {
					t.Errorf("%s: label %s=%q, want %q", line, k, v, w)
				}
				continue
			}
			keep = append(keep, k+"="+v)
		}
		for k := range want {
			if _, ok := labels[k]; !ok {
				t.Errorf("%s lacks label %s", line, k)
			}
		}
		sort.Strings(keep)
		key := m[1]
		if len(keep) > 0 {
			key += "{" + strings.Join(keep, ",") + "}"
		}
		if _, dup := out[key]; dup {
			t.Errorf("duplicate series %s", key)
		}
		out[key] = v
	}
	return out
}

// checkRun checks the bookkeeping after runs runs with failures failures.
func checkRun(t *testing.T, fig map[string]float64, runs, failures int, lastOK bool) {
	t.Helper()
	if got := fig["virtwork_workload_runs_total"]; got != float64(runs) {
		t.Errorf("runs_total = %v, want %d", got, runs)
	}
	if got := fig["virtwork_workload_run_failures_total"]; got != float64(failures) {
		t.Errorf("run_failures_total = %v, want %d", got, failures)
	}
	ok := 0.0
	if lastOK {
		ok = 1
	}
	if got := fig["virtwork_workload_last_run_success"]; got != ok {
		t.Errorf("last_run_success = %v, want %v", got, ok)
	}
	now := float64(time.Now().Unix())
	if ts := fig["virtwork_workload_last_run_timestamp_seconds"]; ts < now-120 || ts > now+1 {
		t.Errorf("last_run_timestamp_seconds = %v, not within the last two minutes of %v", ts, now)
	}
	if fig["virtwork_workload_interval_seconds"] != 60 {
		t.Errorf("interval_seconds = %v, want 60", fig["virtwork_workload_interval_seconds"])
	}
}

// between fails unless lo <= fig[key] <= hi.
func between(t *testing.T, fig map[string]float64, key string, lo, hi float64) {
	t.Helper()
	v, ok := fig[key]
	switch {
	case !ok:
		t.Errorf("%s missing; have %v", key, keys(fig))
	case v < lo || v > hi:
		t.Errorf("%s = %g, want within [%g, %g]", key, v, lo, hi)
	}
}

func keys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sameFigures fails unless every series of before whose name has prefix
// keeps its value in after.
func sameFigures(t *testing.T, before, after map[string]float64, prefix string) {
	t.Helper()
	n := 0
	for k, v := range before {
		if strings.HasPrefix(k, prefix) {
			n++
			if after[k] != v {
				t.Errorf("after the failed run %s = %v, want the last good %v", k, after[k], v)
			}
		}
	}
	if n == 0 {
		t.Errorf("no %s figures to compare", prefix)
	}
}

func TestRunnerStressNG(t *testing.T) {
	t.Parallel()
	need(t, "stress-ng", "stress-ng")
	g := newGuest(t)
	if !g.run("cpu", "stress-ng", nil, "stress-ng", "--cpu", "1", "--cpu-method", "all", "--timeout", "2s") {
		t.Fatal("cpu run failed")
	}
	fig := g.figures("cpu")
	checkRun(t, fig, 1, 0, true)
	g.checkDeclared("cpu")
	between(t, fig, `virtwork_stress_bogo_ops_per_second{stressor=cpu}`, 1, 1e9)
	between(t, fig, `virtwork_stress_bogo_ops_per_cpu_second{stressor=cpu}`, 1, 1e9)
	// Per CPU second is at least per wall second for one stressor (it
	// cannot use more than one CPU).
	if fig[`virtwork_stress_bogo_ops_per_cpu_second{stressor=cpu}`] < 0.9*fig[`virtwork_stress_bogo_ops_per_second{stressor=cpu}`] {
		t.Errorf("bogo ops per CPU second < per wall second: %v", fig)
	}

	// A run that fails (an unknown option) counts and keeps the figures.
	if g.run("cpu", "stress-ng", nil, "stress-ng", "--cpu", "1", "--no-such-option", "--timeout", "1s") {
		t.Fatal("a run with a bad option succeeded")
	}
	after := g.figures("cpu")
	checkRun(t, after, 2, 1, false)
	sameFigures(t, fig, after, "virtwork_stress_")
	if after["virtwork_workload_last_success_timestamp_seconds"] != fig["virtwork_workload_last_success_timestamp_seconds"] {
		t.Error("a failed run moved last_success_timestamp_seconds")
	}

	// The memory workload's stressor.
	if !g.run("memory", "stress-ng", nil, "stress-ng", "--vm", "1", "--vm-bytes", "32M", "--vm-method", "all", "--timeout", "2s") {
		t.Fatal("memory run failed")
	}
	between(t, g.figures("memory"), `virtwork_stress_bogo_ops_per_second{stressor=vm}`, 1, 1e12)
	g.checkDeclared("memory")
}

func TestRunnerFio(t *testing.T) {
	t.Parallel()
	need(t, "fio", "fio")
	g := newGuest(t)
	dir := t.TempDir()
	job := func(name, body string) string {
		p := filepath.Join(dir, name+".fio")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Like the disk workload's profiles, small and short; psync because a
	// temporary directory may not support O_DIRECT.
	mixed := job("mixed-rw", fmt.Sprintf("[global]\ndirectory=%s\nioengine=psync\ntime_based=1\nruntime=2\ngroup_reporting=1\n[mixed-rw]\nrw=randrw\nrwmixread=70\nbs=4k\nsize=16m\nnumjobs=2\n", dir))
	seq := job("seq-write", fmt.Sprintf("[global]\ndirectory=%s\nioengine=psync\ntime_based=1\nruntime=1\n[seq-write]\nrw=write\nbs=128k\nsize=16m\n", dir))
	// /dev/full fails every write with ENOSPC: a full disk.
	full := job("full", "[seq-write]\nfilename=/dev/full\nrw=write\nbs=128k\nsize=16m\n")

	if !g.run("disk", "fio", []string{"--profile", "mixed-rw"}, "fio", mixed) {
		t.Fatal("mixed-rw run failed")
	}
	if !g.run("disk", "fio", []string{"--profile", "seq-write"}, "fio", seq) {
		t.Fatal("seq-write run failed")
	}
	fig := g.figures("disk")
	checkRun(t, fig, 2, 0, true)
	g.checkDeclared("disk")
	for _, op := range []string{"read", "write"} {
		between(t, fig, "virtwork_fio_iops{op="+op+",profile=mixed-rw}", 1, 1e8)
		between(t, fig, "virtwork_fio_bandwidth_bytes_per_second{op="+op+",profile=mixed-rw}", 4096, 1e12)
		p50 := fig["virtwork_fio_completion_latency_seconds{op="+op+",profile=mixed-rw,quantile=0.5}"]
		p99 := fig["virtwork_fio_completion_latency_seconds{op="+op+",profile=mixed-rw,quantile=0.99}"]
		p999 := fig["virtwork_fio_completion_latency_seconds{op="+op+",profile=mixed-rw,quantile=0.999}"]
		if !(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 < 10) {
			t.Errorf("mixed-rw %s latency P50 %g, P99 %g, P99.9 %g: want 0 < P50 <= P99 <= P99.9 < 10 s", op, p50, p99, p999)
		}
	}
	// Reads are 70% of the mix.
	if r, w := fig["virtwork_fio_iops{op=read,profile=mixed-rw}"], fig["virtwork_fio_iops{op=write,profile=mixed-rw}"]; r < 1.5*w || r > 3.5*w {
		t.Errorf("mixed-rw read/write IOPS %g/%g: not about 70/30", r, w)
	}
	between(t, fig, "virtwork_fio_bandwidth_bytes_per_second{op=write,profile=seq-write}", 128<<10, 1e12)
	between(t, fig, "virtwork_fio_iops{op=read,profile=seq-write}", 0, 0)
	// The bandwidth matches IOPS times the block size.
	if bw, iops := fig["virtwork_fio_bandwidth_bytes_per_second{op=write,profile=seq-write}"], fig["virtwork_fio_iops{op=write,profile=seq-write}"]; bw < 0.95*iops*128*1024 || bw > 1.05*iops*128*1024 {
		t.Errorf("seq-write bandwidth %g B/s is not IOPS %g x 128 KiB", bw, iops)
	}

	// Disk full: the failure counts, both profiles' figures stay.
	if g.run("disk", "fio", []string{"--profile", "seq-write"}, "fio", full) {
		t.Fatal("fio on a full disk succeeded")
	}
	after := g.figures("disk")
	checkRun(t, after, 3, 1, false)
	sameFigures(t, fig, after, "virtwork_fio_")
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on 127.0.0.1:%d", port)
}

func TestRunnerIperf3(t *testing.T) {
	t.Parallel()
	need(t, "iperf3", "iperf3")
	g := newGuest(t)
	port := strconv.Itoa(freePort(t))
	server := exec.Command("iperf3", "-s", "-B", "127.0.0.1", "-p", port)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			server.Process.Kill()
			server.Wait()
		}
	}
	defer stop()
	waitPort(t, freePortNumber(port))

	client := []string{"iperf3", "-c", "127.0.0.1", "-p", port, "-t", "1", "-P", "2", "--bidir"}
	if !g.run("network", "iperf3", nil, client...) {
		t.Fatal("iperf3 run failed")
	}
	fig := g.figures("network")
	checkRun(t, fig, 1, 0, true)
	g.checkDeclared("network")
	// Loopback moves at least 10 Mbit/s each way, and not more than 10 Tbit/s.
	between(t, fig, "virtwork_iperf3_sent_bits_per_second", 1e7, 1e13)
	between(t, fig, "virtwork_iperf3_received_bits_per_second", 1e7, 1e13)
	between(t, fig, "virtwork_iperf3_retransmits", 0, 1e9)
	if fig["virtwork_iperf3_retransmits_total"] != fig["virtwork_iperf3_retransmits"] {
		t.Errorf("after one run retransmits_total %v != retransmits %v", fig["virtwork_iperf3_retransmits_total"], fig["virtwork_iperf3_retransmits"])
	}

	stop() // the server goes down
	if g.run("network", "iperf3", nil, client...) {
		t.Fatal("iperf3 run without a server succeeded")
	}
	after := g.figures("network")
	checkRun(t, after, 2, 1, false)
	sameFigures(t, fig, after, "virtwork_iperf3_")
}

func freePortNumber(s string) int { n, _ := strconv.Atoi(s); return n }

// postgres is a throwaway PostgreSQL server in a temporary directory,
// listening on a loopback port and a socket in that directory.
type postgres struct {
	t          *testing.T
	dir, port  string
	bin        string
	asPostgres []string // prefix that runs a command as the server's user
}

func startPostgres(t *testing.T) *postgres {
	t.Helper()
	need(t, "pgbench", "postgresql")
	bin := pgBinDir(t)
	p := &postgres{t: t, port: strconv.Itoa(freePort(t)), bin: bin}
	dir, err := os.MkdirTemp("", "virtwork-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "running as root and no postgres user: install the Debian package postgresql")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asPostgres = []string{"runuser", "-u", "postgres", "--"}
	}
	p.cmd(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync")
	p.cmd(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-w", "-l", filepath.Join(dir, "log"), "-o",
		fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, dir), "start")
	t.Cleanup(p.stop)
	p.cmd("pgbench", p.conn("-i", "-s", "1", "-q", "postgres")...)
	return p
}

func (p *postgres) conn(args ...string) []string {
	return append([]string{"-h", p.dir, "-p", p.port, "-U", "postgres"}, args...)
}

func (p *postgres) cmd(name string, args ...string) {
	p.t.Helper()
	argv := append(append(append([]string{}, p.asPostgres...), name), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (p *postgres) stop() {
	argv := append(append([]string{}, p.asPostgres...), filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "-w", "stop")
	exec.Command(argv[0], argv[1:]...).Run()
}

// pgBinDir finds initdb and pg_ctl, which Debian keeps out of $PATH.
func pgBinDir(t *testing.T) string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	testenv.Missing(t, "initdb not found; install the Debian package postgresql")
	return ""
}

func TestRunnerPgbench(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	g := newGuest(t)
	bench := append(append([]string{}, pg.asPostgres...), "pgbench")
	bench = append(bench, pg.conn("-c", "2", "-j", "1", "-T", "2", "postgres")...)
	if !g.run("database", "pgbench", nil, bench...) {
		t.Fatal("pgbench run failed")
	}
	fig := g.figures("database")
	checkRun(t, fig, 1, 0, true)
	g.checkDeclared("database")
	between(t, fig, "virtwork_pgbench_transactions_per_second", 1, 1e6)
	between(t, fig, "virtwork_pgbench_latency_average_seconds", 1e-6, 5)
	between(t, fig, "virtwork_pgbench_failed_transactions", 0, 0)
	between(t, fig, "virtwork_pgbench_failed_transactions_total", 0, 0)
	// About TPS x 2 s transactions were processed.
	tps, total := fig["virtwork_pgbench_transactions_per_second"], fig["virtwork_pgbench_transactions_total"]
	if total < tps || total > 3*tps {
		t.Errorf("transactions_total %g is not about 2 s x %g TPS", total, tps)
	}
	// With 2 clients, latency x TPS is about 2 (Little's law).
	if l := tps * fig["virtwork_pgbench_latency_average_seconds"]; l < 1 || l > 2.5 {
		t.Errorf("TPS x average latency = %g, want about 2 (2 clients)", l)
	}

	pg.stop() // the database goes down
	if g.run("database", "pgbench", nil, bench...) {
		t.Fatal("pgbench without a server succeeded")
	}
	after := g.figures("database")
	checkRun(t, after, 2, 1, false)
	sameFigures(t, fig, after, "virtwork_pgbench_")
}

// TestRunnerCountersSurviveRestarts: the state file carries the counters
// from one runner process to the next (and across reboots).
func TestRunnerCountersSurviveRestarts(t *testing.T) {
	t.Parallel()
	g := newGuest(t)
	for i := 0; i < 3; i++ {
		g.run("user", "none", nil, "true")
	}
	g.run("user", "none", nil, "false")
	checkRun(t, g.figures("user"), 4, 1, false)
	// A damaged state file starts the count again instead of failing the run.
	if err := os.WriteFile(filepath.Join(g.stateDir, "user.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run("user", "none", nil, "true")
	checkRun(t, g.figures("user"), 1, 0, true)
}

// startExporter runs virtwork-exporter.py on a free loopback port.
func startExporter(t *testing.T, dir string) string {
	t.Helper()
	return startExporterOn(t, dir, "127.0.0.1:0")
}

// startExporterOn runs virtwork-exporter.py with --listen listen and
// returns its URL as it prints it.
func startExporterOn(t *testing.T, dir, listen string) string {
	t.Helper()
	cmd := exec.Command(python(t), "virtwork-exporter.py", "--dir", dir, "--listen", listen, "--vm", "vm-1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("exporter did not say where it listens: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("exporter's first line %q", line)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("exporter's address %q: %v", addr, err)
	}
	return "http://" + net.JoinHostPort(host, port)
}

// TestExporterListensEverywhere: the guests' --listen :9100 reaches the
// exporter over IPv4 (and over IPv6 where this host has it), the Service's
// and Prometheus' way in on any cluster.
func TestExporterListensEverywhere(t *testing.T) {
	t.Parallel()
	u := startExporterOn(t, t.TempDir(), ":0")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	for _, host := range []string{"127.0.0.1", "::1"} {
		if host == "::1" {
			if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
				t.Log("no IPv6 loopback here: IPv4 only checked")
				continue
			} else {
				l.Close()
			}
		}
		if code, _, _ := get(t, "http://"+net.JoinHostPort(host, port)+"/metrics"); code != 200 {
			t.Errorf("GET /metrics on %s: %d", host, code)
		}
	}
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestExporter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := startExporter(t, dir)

	// No workload file yet: guest figures only.
	code, ctype, body := get(t, url+"/metrics")
	if code != 200 || ctype != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %d %q", code, ctype)
	}
	fig := parseExposition(t, body, map[string]string{"vm": "vm-1"})
	between(t, fig, "virtwork_guest_cpus", 1, 4096)
	between(t, fig, "virtwork_guest_memory_total_bytes", 64<<20, 1<<50)
	if fig["virtwork_guest_memory_available_bytes"] > fig["virtwork_guest_memory_total_bytes"] {
		t.Errorf("available memory > total: %v", fig)
	}
	between(t, fig, "virtwork_guest_cpu_seconds_total{mode=user}", 0.01, 1e12)
	between(t, fig, "virtwork_guest_cpu_seconds_total{mode=steal}", 0, 1e12)
	between(t, fig, "virtwork_guest_load1", 0, 1e6)
	between(t, fig, "virtwork_guest_boot_timestamp_seconds", 1e9, float64(time.Now().Unix()))

	// Two workloads' files share families; a third file has a bad line,
	// a series already served and a reserved name.
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	common := func(w string, runs int) string {
		return fmt.Sprintf("# HELP virtwork_workload_runs_total Runs.\n# TYPE virtwork_workload_runs_total counter\nvirtwork_workload_runs_total{role=\"main\",vm=\"vm-1\",workload=%q} %d\n", w, runs)
	}
	write("cpu.prom", common("cpu", 3)+"# HELP virtwork_stress_bogo_ops_per_second Ops.\n# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{stressor=\"cpu\",vm=\"vm-1\",role=\"main\",workload=\"cpu\"} 123.5\n")
	write("hello.prom", common("hello", 7)+"not a metric line\nvirtwork_workload_runs_total{role=\"main\",vm=\"vm-1\",workload=\"cpu\"} 9\nvirtwork_guest_cpus{vm=\"vm-1\"} 99\n")
	write(".hello.prom.tmp123", "half a file")
	write("notes.txt", "not figures")

	_, _, body = get(t, url+"/metrics")
	fig = parseExposition(t, body, map[string]string{"vm": "vm-1"})
	want := map[string]float64{
		"virtwork_workload_runs_total{role=main,workload=cpu}":                     3,
		"virtwork_workload_runs_total{role=main,workload=hello}":                   7,
		"virtwork_stress_bogo_ops_per_second{role=main,stressor=cpu,workload=cpu}": 123.5,
		"virtwork_exporter_file_errors{file=cpu.prom}":                             0,
		"virtwork_exporter_file_errors{file=hello.prom}":                           3,
	}
	for k, v := range want {
		if got, ok := fig[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if fig["virtwork_guest_cpus"] == 99 {
		t.Error("a workload file overrode the exporter's own virtwork_guest_cpus")
	}
	for k := range fig {
		if strings.Contains(k, "tmp") || strings.Contains(k, "notes") {
			t.Errorf("served %s from a file that is not a finished .prom file", k)
		}
	}

	if code, _, _ := get(t, url+"/nope"); code != 404 {
		t.Errorf("GET /nope: %d, want 404", code)
	}
}

// TestExporterServesRunnerFiles: what the runner writes, the exporter
// serves unchanged, and promtool (when installed) accepts the result.
func TestExporterServesRunnerFiles(t *testing.T) {
	t.Parallel()
	g := newGuest(t)
	g.run("cpu", "none", nil, "true")
	g.run("disk", "none", nil, "false")
	url := startExporter(t, g.metricsDir)
	_, _, body := get(t, url+"/metrics")
	fig := parseExposition(t, body, map[string]string{"vm": "vm-1"})
	for k, v := range map[string]float64{
		"virtwork_workload_runs_total{role=main,workload=cpu}":          1,
		"virtwork_workload_run_failures_total{role=main,workload=disk}": 1,
		"virtwork_workload_last_run_success{role=main,workload=disk}":   0,
	} {
		if fig[k] != v {
			t.Errorf("%s = %v, want %v", k, fig[k], v)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

// TestExporterNeverSeesHalfAFile: while the runner rewrites its file run
// after run, every scrape holds the complete file (all six bookkeeping
// series, one HELP and TYPE each) and runs_total never goes down.
func TestExporterNeverSeesHalfAFile(t *testing.T) {
	t.Parallel()
	g := newGuest(t)
	g.run("user", "none", nil, "true")
	url := startExporter(t, g.metricsDir)

	const runs = 25
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i < runs; i++ {
			g.run("user", "none", nil, "true")
		}
	}()
	last, scrapes := 0.0, 0
	for running := true; running; scrapes++ {
		select {
		case <-done:
			running = false // one more scrape after the last run
		default:
		}
		_, _, body := get(t, url+"/metrics")
		fig := parseExposition(t, body, map[string]string{"vm": "vm-1"})
		n := 0
		for k := range fig {
			if strings.HasPrefix(k, "virtwork_workload_") {
				n++
			}
		}
		if n != 6 {
			t.Fatalf("scrape %d: %d bookkeeping series, want 6 (a partial file?):\n%s", scrapes, n, body)
		}
		runsTotal := fig["virtwork_workload_runs_total{role=main,workload=user}"]
		if runsTotal < last {
			t.Fatalf("scrape %d: runs_total went down from %v to %v", scrapes, last, runsTotal)
		}
		last = runsTotal
	}
	if last != runs {
		t.Errorf("last scrape saw runs_total %v, want %d", last, runs)
	}
	t.Logf("%d scrapes during %d runs", scrapes, runs)
}
