//go:build faults

// Package faults is virtwork's fault suite (`make test-faults`, run by `make
// test`): the virtwork binary against the local cluster, interrupted with
// SIGINT and SIGKILL at random moments, raced against itself, with the API
// server restarted and etcd paused under it. After every scenario one
// checker (internal/invariant) asserts what the README's Guarantees section
// promises: every object carrying virtwork's owner annotation is in exactly
// one inventory, every inventory entry exists or is reported gone, and the
// foreign objects planted first were neither deleted nor claimed.
//
// Random moments come from a seed printed at the start; rerun one with
// FAULTS_SEED=N.
package faults

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/internal/invariant"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/testcluster"
)

// vmCount is the size of the set interrupted mid-run.
const vmCount = 300

var (
	binary string
	rng    *rand.Rand
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtwork-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "virtwork")
	build := exec.Command("go", "build", "-o", binary, "github.com/virtwork/virtwork/cmd/virtwork")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building virtwork:", err)
		os.Exit(1)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULTS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	fmt.Fprintf(os.Stderr, "faults: FAULTS_SEED=%d\n", seed)
	rng = rand.New(rand.NewPCG(seed, seed))
	code := testcluster.Run(m, testcluster.Options{})
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one scenario's namespace, with foreign objects planted.
type env struct {
	t       *testing.T
	c       *testcluster.Cluster
	ns      string
	kc      *kube.Client
	foreign invariant.Foreign
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := testcluster.Get(t)
	ns := c.NewNamespace(t)
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	f, err := invariant.Plant(context.Background(), kc, ns)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, ns: ns, kc: kc, foreign: f}
}

// check asserts the invariant, retrying through a moment of the API server
// being unready after a fault.
func (e *env) check(when string) {
	e.t.Helper()
	var err error
	for range 20 {
		if err = invariant.Check(context.Background(), e.kc, e.ns, e.foreign); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "connection refused") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.t.Fatalf("%s: %v", when, err)
}

// proc is a running virtwork.
type proc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (e *env) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{cmd: exec.Command(binary, append(args, "-n", e.ns, "--no-history", "--qps", "500", "--burst", "1000")...)}
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+e.c.Kubeconfig())
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// wait returns the exit status.
func (p *proc) wait() int {
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// run runs virtwork to the end and wants exit status want.
func (e *env) run(want int, args ...string) string {
	e.t.Helper()
	p := e.start(args...)
	if got := p.wait(); got != want {
		e.t.Fatalf("virtwork %s: exit %d, want %d; output:\n%s", strings.Join(args, " "), got, want, tail(p.out.String()))
	}
	return p.out.String()
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}

func applyArgs(name string, n int) []string {
	return []string{"apply", "--name", name, "--workloads", "cpu", "--vm-count", strconv.Itoa(n), "--timeout", "3m"}
}

func destroyArgs(name string) []string {
	return []string{"destroy", "--name", name, "--timeout", "3m"}
}

// randomMoment is a delay in [0, max): early ones fall in the setup
// (reading the inventory, taking the lease), later ones in the apply calls,
// the prune or the wait.
func randomMoment(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }

// interrupted runs virtwork and sends sig at a random moment; the exit
// status must be what the README says for that signal (or 0 when the run
// had already ended).
func (e *env) interrupted(sig syscall.Signal, max time.Duration, args ...string) {
	e.t.Helper()
	at := randomMoment(max)
	p := e.start(args...)
	time.Sleep(at)
	_ = p.cmd.Process.Signal(sig)
	got := p.wait()
	want := map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGKILL: 128 + int(syscall.SIGKILL)}[sig]
	if got != want && got != 0 {
		e.t.Fatalf("%s after %s: exit %d, want %d (or 0 if done); output:\n%s", sig, at, got, want, tail(p.out.String()))
	}
	e.t.Logf("%s %s after %s: exit %d", args[0], sig, at.Round(time.Millisecond), got)
}

// vms counts the VMs in the namespace, not being deleted, besides the
// planted one.
func (e *env) vms() int {
	e.t.Helper()
	list, err := e.kc.Metadata.Resource(schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}).
		Namespace(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, o := range list.Items {
		if o.DeletionTimestamp == nil && o.Name != "foreign-vm" {
			n++
		}
	}
	return n
}

// SIGINT and SIGKILL at random moments during apply and destroy of a few
// hundred VMs; then apply and destroy recover: the next apply completes
// (a lease left by a killed process on this host is taken over at once),
// the next destroy leaves nothing.
func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newEnv(t)
			for round := range 3 {
				e.interrupted(sig, 3*time.Second, applyArgs("sig", vmCount)...)
				e.check(fmt.Sprintf("round %d, after the interrupted apply", round))
				e.run(0, applyArgs("sig", vmCount)...)
				e.check(fmt.Sprintf("round %d, after the recovering apply", round))
				if n := e.vms(); n != vmCount {
					t.Fatalf("round %d: %d VMs after the recovering apply, want %d", round, n, vmCount)
				}
				e.interrupted(sig, 2*time.Second, destroyArgs("sig")...)
				e.check(fmt.Sprintf("round %d, after the interrupted destroy", round))
				e.run(0, destroyArgs("sig")...)
				e.check(fmt.Sprintf("round %d, after the recovering destroy", round))
				if n := e.vms(); n != 0 {
					t.Fatalf("round %d: %d VMs left after destroy", round, n)
				}
			}
		})
	}
}

// The API server restarted mid-apply and mid-destroy: the run fails (exit
// 1, naming the unreachable server) or rides it out (0), and the next run
// recovers.
func TestAPIServerRestart(t *testing.T) {
	e := newEnv(t)
	for _, step := range []struct {
		args    []string
		recover []string
		vms     int
	}{
		{applyArgs("restart", vmCount), applyArgs("restart", vmCount), vmCount},
		{destroyArgs("restart"), destroyArgs("restart"), 0},
	} {
		at := randomMoment(1500 * time.Millisecond)
		p := e.start(step.args...)
		time.Sleep(at)
		if err := e.c.RestartAPIServer(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := p.wait()
		t.Logf("%s with a restart after %s: exit %d", step.args[0], at.Round(time.Millisecond), got)
		if got != 0 && got != 1 {
			t.Fatalf("%s: exit %d, want 1 (unreachable) or 0; output:\n%s", step.args[0], got, tail(p.out.String()))
		}
		if got == 1 && !strings.Contains(p.out.String(), "cannot reach the Kubernetes API server") {
			t.Errorf("%s: exit 1 without naming the unreachable server:\n%s", step.args[0], tail(p.out.String()))
		}
		e.check("after the restart during " + step.args[0])
		e.run(0, step.recover...)
		e.check("after the recovering " + step.args[0])
		if n := e.vms(); n != step.vms {
			t.Fatalf("%d VMs after the recovering %s, want %d", n, step.args[0], step.vms)
		}
	}
}

// etcd paused (SIGSTOP) for a few seconds mid-apply and mid-destroy: the
// runs stall, then complete.
func TestEtcdPaused(t *testing.T) {
	e := newEnv(t)
	etcd := e.c.Pids()[0]
	for _, step := range []struct {
		args []string
		vms  int
	}{
		{applyArgs("pause", vmCount), vmCount},
		{destroyArgs("pause"), 0},
	} {
		at := randomMoment(1500 * time.Millisecond)
		p := e.start(step.args...)
		time.Sleep(at)
		if err := syscall.Kill(etcd, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		if err := syscall.Kill(etcd, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		got := p.wait()
		t.Logf("%s with etcd paused after %s: exit %d", step.args[0], at.Round(time.Millisecond), got)
		if got != 0 {
			t.Fatalf("%s: exit %d after a 4 s etcd pause; output:\n%s", step.args[0], got, tail(p.out.String()))
		}
		e.check("after etcd paused during " + step.args[0])
		if n := e.vms(); n != step.vms {
			t.Fatalf("%d VMs after %s, want %d", n, step.args[0], step.vms)
		}
	}
}

// raceRounds is how often each racy scenario runs through the binary (the
// apply package runs the same races in-process, 8 rounds each).
const raceRounds = 10

// atOnce starts the commands together and returns their exit statuses and
// outputs.
func (e *env) atOnce(cmds ...[]string) ([]int, []string) {
	ps := make([]*proc, len(cmds))
	var wg sync.WaitGroup
	codes, outs := make([]int, len(cmds)), make([]string, len(cmds))
	for i, args := range cmds {
		ps[i] = e.start(args...)
	}
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = p.wait()
			outs[i] = p.out.String()
		}()
	}
	wg.Wait()
	return codes, outs
}

// Two runs of one instance at once (apply and apply, apply and destroy):
// one is refused, naming the holder, or they run one after the other;
// two instances at once split the objects between them, each object in
// one inventory, the loser exiting 3 (skipped objects).
func TestRaces(t *testing.T) {
	e := newEnv(t)
	refused := 0
	for round := range raceRounds {
		name := fmt.Sprintf("r%d", round)
		refused += e.sameInstance(fmt.Sprintf("round %d, apply vs apply", round), applyArgs(name, 20), applyArgs(name, 30))
		refused += e.sameInstance(fmt.Sprintf("round %d, apply vs destroy", round), applyArgs(name, 40), destroyArgs(name))
		e.run(0, destroyArgs(name)...)
		e.check(fmt.Sprintf("round %d, destroy", round))

		codes, outs := e.atOnce(applyArgs(name+"a", 20), applyArgs(name+"b", 20))
		e.check(fmt.Sprintf("round %d, two instances", round))
		for i, c := range codes {
			// The loser of any object exits 3, naming the winner.
			if c != 0 && (c != 3 || !strings.Contains(outs[i], "owned by virtwork instance")) {
				t.Fatalf("round %d: two instances: exit %d:\n%s", round, c, tail(outs[i]))
			}
		}
		e.run(0, destroyArgs(name+"a")...)
		e.run(0, destroyArgs(name+"b")...)
		e.check(fmt.Sprintf("round %d, both destroyed", round))
		if n := e.vms(); n != 0 {
			t.Fatalf("round %d: %d VMs left", round, n)
		}
	}
	t.Logf("%d of %d same-instance runs refused with the instance in use", refused, 2*raceRounds)
}

// sameInstance runs two commands on one instance at once: each must
// succeed or be refused naming the holder; then the invariant must hold.
// It returns how many were refused.
func (e *env) sameInstance(what string, a, b []string) int {
	e.t.Helper()
	codes, outs := e.atOnce(a, b)
	refused := 0
	for i, c := range codes {
		if c != 0 && !strings.Contains(outs[i], "is in use by") {
			e.t.Fatalf("%s: exit %d:\n%s", what, c, tail(outs[i]))
		}
		if c != 0 {
			refused++
		}
	}
	e.check(what)
	return refused
}
