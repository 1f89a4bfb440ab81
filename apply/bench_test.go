package apply_test

// The apply bench: in one run against the same local API server (and
// simulator), it measures kubectl apply --server-side / delete --wait, a
// 32-worker parallel server-side-apply floor, and virtwork (in a child
// process, as a user runs it), then prints the ratios the apply issue sets
// as goals. Run it with
//
//	go test ./apply -run TestBench -v -timeout 60m -bench.vms 1000 [-bench.memvms 10000]
//
// kubectl is $VIRTWORK_KUBECTL, else the one tools/kubectl/build.sh builds
// at the API server's version, else kubectl on PATH.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/testcluster"
)

var (
	benchVMs           = flag.Int("bench.vms", 0, "apply bench: number of VMs (0 skips TestBench)")
	benchMemVMs        = flag.Int("bench.memvms", 0, "apply bench: number of VMs for the peak-memory run (0 skips it)")
	benchKubectl       = flag.Bool("bench.kubectl", true, "apply bench: measure kubectl apply")
	benchQPS           = flag.String("bench.qps", "", "apply bench: also time virtwork apply+destroy with each of these --qps values (burst 2x), e.g. 20,100,500")
	benchKubectlDelete = flag.Bool("bench.kubectl-delete", true, "apply bench: measure kubectl delete --wait (slow: minutes)")
)

const benchChildEnv = "VIRTWORK_BENCH_CHILD"

// benchSet is n VMs and the cloud-init Secret they share.
func benchSet(t testing.TB, n int) []*unstructured.Unstructured {
	objs := []*unstructured.Unstructured{secret(t, "cpu-cloudinit", "#cloud-config\n")}
	for i := 1; i <= n; i++ {
		objs = append(objs, vm(t, fmt.Sprintf("cpu-%d", i)))
	}
	return objs
}

// childResult is what a virtwork child process reports.
type childResult struct {
	Init       float64 // s from process start to the start of applying
	Applied    float64 // s from process start to the last object applied
	Wall       float64 // s from process start to the end of the run
	WaitEnd    int64   // unix ns when the wait ended
	Outcome    string
	MaxRSSMiB  float64
	DestroyS   float64 // s for destroy (when run)
	ReadyCount int
}

// TestBenchChild runs virtwork for TestBench in a child process.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(benchChildEnv)
	if mode == "" {
		t.Skip("run by TestBench")
	}
	start := time.Now()
	n, _ := strconv.Atoi(os.Getenv("BENCH_VMS"))
	ns := os.Getenv("BENCH_NS")
	qps, _ := strconv.ParseFloat(os.Getenv("BENCH_QPS"), 32)
	kc, err := kube.New(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG"), Namespace: ns, QPS: float32(qps), Burst: int(2 * qps)})
	if err != nil {
		t.Fatal(err)
	}
	var res childResult
	var lastApplied time.Time
	start = processStart()
	sink := func(e event.Event) {
		if e.Object != nil {
			lastApplied = e.Time
		}
		if e.Init != nil && res.Init == 0 {
			res.Init = e.Time.Sub(start).Seconds()
		}
	}
	objs := benchSet(t, n)
	if strings.Contains(mode, "apply") {
		s, err := apply.Apply(context.Background(), kc, objs, apply.Options{Namespace: ns, Timeout: 30 * time.Minute, NoWait: os.Getenv("BENCH_NOWAIT") != ""}, sink)
		if err != nil {
			t.Fatal(err)
		}
		res.WaitEnd = time.Now().UnixNano()
		res.Applied = lastApplied.Sub(start).Seconds()
		res.Wall = time.Since(start).Seconds()
		res.Outcome = string(s.Outcome)
		for _, v := range s.VMs {
			if v.Status == event.VMReady {
				res.ReadyCount++
			}
		}
	}
	if strings.Contains(mode, "destroy") {
		d := time.Now()
		s, err := apply.Destroy(context.Background(), kc, apply.DestroyOptions{Namespace: ns, Timeout: 30 * time.Minute}, nil)
		if err != nil || s.Outcome != event.Succeeded {
			t.Fatalf("destroy: %v %v", err, s)
		}
		res.DestroyS = time.Since(d).Seconds()
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	res.MaxRSSMiB = float64(ru.Maxrss) / 1024
	b, _ := json.Marshal(res)
	if err := os.WriteFile(os.Getenv("BENCH_OUT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// processStart is when this process started (Linux), so that the child's
// times include its start-up like a user's run would.
func processStart() time.Time {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return time.Now()
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ticks, _ := strconv.ParseInt(fields[19], 10, 64) // field 22: starttime
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Now()
	}
	uptime, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	const hz = 100 // USER_HZ
	return time.Now().Add(-time.Duration((uptime - float64(ticks)/hz) * float64(time.Second)))
}

func runChild(t *testing.T, c *testcluster.Cluster, mode, ns string, n int, env ...string) childResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+mode, "KUBECONFIG="+c.Kubeconfig(),
		"BENCH_NS="+ns, "BENCH_VMS="+strconv.Itoa(n), "BENCH_OUT="+out)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("virtwork child %s: %v\n%s", mode, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res childResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// readyWatch records, by this process's clock, when each VM in ns first
// has Ready=True: the reference for how soon virtwork notices.
type readyWatch struct {
	mu   sync.Mutex
	last time.Time
	n    int
	seen map[string]bool
	stop chan struct{}
}

func watchReady(t *testing.T, dyn dynamic.Interface, ns string) *readyWatch {
	rw := &readyWatch{seen: map[string]bool{}, stop: make(chan struct{})}
	inf := dynamicinformer.NewFilteredDynamicInformer(dyn, vmsGVR, ns, 0, cache.Indexers{}, nil).Informer()
	check := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		if ready, _, _ := unstructured.NestedBool(u.Object, "status", "ready"); ready {
			now := time.Now()
			rw.mu.Lock()
			if !rw.seen[u.GetName()] {
				rw.seen[u.GetName()] = true
				rw.n++
				rw.last = now
			}
			rw.mu.Unlock()
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, n any) { check(n) }})
	go inf.Run(rw.stop)
	return rw
}

func timeIt(f func() error) (time.Duration, error) {
	s := time.Now()
	err := f()
	return time.Since(s), err
}

func findKubectl(t *testing.T) string {
	if k := os.Getenv("VIRTWORK_KUBECTL"); k != "" {
		return k
	}
	if out, err := exec.Command("../tools/kubectl/build.sh").Output(); err == nil {
		return strings.TrimSpace(string(out))
	} else {
		t.Logf("tools/kubectl/build.sh: %v; using kubectl from PATH", err)
	}
	k, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl: set $VIRTWORK_KUBECTL or run tools/kubectl/build.sh")
	}
	return k
}

// floorApply server-side applies objs with 32 workers, nothing else.
func floorApply(dyn dynamic.Interface, ns string, objs []*unstructured.Unstructured) error {
	return parallel(32, len(objs), func(i int) error {
		o := objs[i].DeepCopy()
		o.SetNamespace(ns)
		gvr := vmsGVR
		if o.GetKind() == "Secret" {
			gvr = secretsGVR
		}
		_, err := dyn.Resource(gvr).Namespace(ns).Apply(context.Background(), o.GetName(), o, metav1.ApplyOptions{FieldManager: "floor"})
		return err
	})
}

// floorDelete deletes objs with 32 workers and waits until no VM is left.
func floorDelete(dyn dynamic.Interface, ns string, objs []*unstructured.Unstructured) error {
	err := parallel(32, len(objs), func(i int) error {
		gvr := vmsGVR
		if objs[i].GetKind() == "Secret" {
			gvr = secretsGVR
		}
		return dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), objs[i].GetName(), metav1.DeleteOptions{})
	})
	if err != nil {
		return err
	}
	return waitNoVMs(dyn, ns)
}

func waitNoVMs(dyn dynamic.Interface, ns string) error {
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list, err := dyn.Resource(vmsGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
	}
	return fmt.Errorf("VMs still there")
}

func parallel(workers, n int, f func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func writeManifest(t *testing.T, objs []*unstructured.Unstructured) string {
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	path := filepath.Join(t.TempDir(), "set.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBench(t *testing.T) {
	if *benchVMs == 0 && *benchMemVMs == 0 {
		t.Skip("apply bench: pass -bench.vms N (and -bench.memvms N)")
	}
	c := testcluster.Get(t)
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	report := func(format string, args ...any) { fmt.Printf("bench: "+format+"\n", args...) }

	if n := *benchVMs; n > 0 {
		objs := benchSet(t, n)
		var kApply, kDelete time.Duration
		if *benchKubectl {
			kubectl := findKubectl(t)
			ver, _ := exec.Command(kubectl, "version", "--client").CombinedOutput()
			report("kubectl: %s (%s)", kubectl, strings.SplitN(string(ver), "\n", 2)[0])
			ns := c.NewNamespace(t)
			file := writeManifest(t, objs)
			run := func(args ...string) error {
				cmd := exec.Command(kubectl, args...)
				cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig())
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("kubectl %v: %v\n%s", args, err, out)
				}
				return nil
			}
			if kApply, err = timeIt(func() error { return run("apply", "--server-side", "-n", ns, "-f", file) }); err != nil {
				t.Fatal(err)
			}
			report("kubectl apply --server-side -f (%d VMs): %.1fs", n, kApply.Seconds())
			if *benchKubectlDelete {
				if kDelete, err = timeIt(func() error { return run("delete", "--wait", "-n", ns, "-f", file) }); err != nil {
					t.Fatal(err)
				}
				report("kubectl delete --wait -f (%d VMs): %.1fs", n, kDelete.Seconds())
			} else if err := floorDelete(dyn, ns, objs); err != nil {
				t.Fatal(err)
			}
		}

		ns := c.NewNamespace(t)
		fApply, err := timeIt(func() error { return floorApply(dyn, ns, objs) })
		if err != nil {
			t.Fatal(err)
		}
		report("floor: 32 parallel server-side applies (%d VMs): %.1fs", n, fApply.Seconds())
		fDelete, err := timeIt(func() error { return floorDelete(dyn, ns, objs) })
		if err != nil {
			t.Fatal(err)
		}
		report("floor: 32 parallel deletes, until gone (%d VMs): %.1fs", n, fDelete.Seconds())

		ns = c.NewNamespace(t)
		rw := watchReady(t, dyn, ns)
		res := runChild(t, c, "apply", ns, n)
		close(rw.stop)
		rw.mu.Lock()
		lag := time.Unix(0, res.WaitEnd).Sub(rw.last)
		seen := rw.n
		rw.mu.Unlock()
		if res.Outcome != string(event.Succeeded) || res.ReadyCount != n || seen != n {
			t.Fatalf("virtwork apply: outcome %s, %d ready (watch saw %d), want %d", res.Outcome, res.ReadyCount, seen, n)
		}
		report("virtwork apply (%d VMs, process start to last object applied): %.1fs (setup %.1fs); all Ready at %.1fs", n, res.Applied, res.Init, res.Wall)
		report("virtwork noticed the last Ready %.0fms after it happened", lag.Seconds()*1000)
		dres := runChild(t, c, "destroy", ns, n)
		report("virtwork destroy (%d VMs, until gone): %.1fs", n, dres.DestroyS)

		// The floor again, now that the cluster has been through as much
		// as for virtwork's run: the ratios use the mean of both.
		ns = c.NewNamespace(t)
		fApply2, err := timeIt(func() error { return floorApply(dyn, ns, objs) })
		if err != nil {
			t.Fatal(err)
		}
		fDelete2, err := timeIt(func() error { return floorDelete(dyn, ns, objs) })
		if err != nil {
			t.Fatal(err)
		}
		report("floor, second run: apply %.1fs, delete until gone %.1fs", fApply2.Seconds(), fDelete2.Seconds())
		fApply, fDelete = (fApply+fApply2)/2, (fDelete+fDelete2)/2

		fmt.Printf("bench: --- ratios (%d VMs, goals in brackets) ---\n", n)
		if kApply > 0 {
			report("apply: virtwork/kubectl = %.2f [<= 0.5]", res.Applied/kApply.Seconds())
		}
		report("apply: virtwork/floor (mean of both floor runs) = %.2f [<= 2]", res.Applied/fApply.Seconds())
		report("readiness lag: %.0fms [<= 1000ms]", lag.Seconds()*1000)
		if kDelete > 0 {
			report("destroy: virtwork/kubectl = %.3f [<= 0.1]", dres.DestroyS/kDelete.Seconds())
		}
		report("destroy: virtwork/floor (mean of both floor runs) = %.2f", dres.DestroyS/fDelete.Seconds())

		for _, q := range strings.Split(*benchQPS, ",") {
			if q == "" {
				continue
			}
			ns := c.NewNamespace(t)
			res := runChild(t, c, "apply+destroy", ns, n, "BENCH_QPS="+q)
			report("virtwork --qps %s --burst 2x (%d VMs): applied in %.1fs, destroyed in %.1fs", q, n, res.Applied, res.DestroyS)
		}
	}

	if n := *benchMemVMs; n > 0 {
		ns := c.NewNamespace(t)
		res := runChild(t, c, "apply+destroy", ns, n)
		report("virtwork apply+destroy of %d VMs: apply %.1fs (ready %.1fs), destroy %.1fs, peak RSS %.0f MiB [< 1024 MiB]",
			n, res.Applied, res.Wall, res.DestroyS, res.MaxRSSMiB)
	}
}
