package results_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/netnstest"
	"github.com/virtwork/virtwork/internal/testcluster"
	"github.com/virtwork/virtwork/results"
)

// BenchmarkDirectThousandVMs times one 'virtwork results' look at 1,000
// VMs in direct mode: the inventory, the VMIs and launcher pods listed,
// and 1,000 exporter reads through the API server's pod proxy. One
// stand-in exporter inside a network namespace answers on all 1,000
// addresses.
//
//	go test ./results -run '^$' -bench DirectThousandVMs -benchtime 5x
func BenchmarkDirectThousandVMs(b *testing.B) {
	const n = 1000
	c := testcluster.Get(b)
	netns := netnstest.New(b, n)
	ns := instance(b, c, map[string]int{"cpu": n})

	file := promFile("cpu", "main", "cpu", time.Now(), true, 60,
		"# TYPE virtwork_stress_bogo_ops_per_second gauge\nvirtwork_stress_bogo_ops_per_second{LABELS,stressor=\"cpu\"} 1234\n")
	addrs := map[string]string{}
	files := map[string]map[string]string{}
	for i := range n {
		vm := fmt.Sprintf("cpu-%d", i+1)
		addrs[vm] = netns.Addrs[i].String()
		files[vm] = map[string]string{"cpu.prom": file}
	}
	// A stand-in exporter, not the guest's: one Python process serving
	// 1,000 addresses overflows its listen backlog of 5 under 64
	// concurrent reads, which no guest (one read at a time) sees.
	serve(b, netns, addrs, files, false)

	cs, err := c.Clientset()
	if err != nil {
		b.Fatal(err)
	}
	dyn, err := c.Dynamic()
	if err != nil {
		b.Fatal(err)
	}
	createLaunchers(b, cs, dyn, ns, addrs)

	for _, workers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchLook(b, cs, dyn, ns, workers, n)
		})
	}
}

func benchLook(b *testing.B, cs kubernetes.Interface, dyn dynamic.Interface, ns string, workers, n int) {
	looker := &results.Looker{Dynamic: dyn, Namespace: ns, Name: "virtwork", SourceName: "direct",
		Source: &results.Direct{Clientset: cs, Dynamic: dyn, Namespace: ns, Workers: workers}}
	for b.Loop() {
		report, err := looker.Look(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if c := report.Counts(); c[results.Reporting] != n {
			b.Fatalf("%v reporting, want %d: %+v", c, n, report.Groups[0].Problems[:1])
		}
	}
}

// createLaunchers creates the launcher pods of many VMs at once.
func createLaunchers(tb testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, ns string, ips map[string]string) {
	tb.Helper()
	ctx := context.Background()
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 32 {
		wg.Go(func() {
			for vm := range jobs {
				vmi, err := dyn.Resource(vmis).Namespace(ns).Get(ctx, vm, metav1.GetOptions{})
				if err == nil {
					_, err = kubevirtsim.LauncherPod(ctx, cs, vmi, ips[vm])
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for vm := range ips {
		jobs <- vm
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
}

// waitListening waits until something accepts connections at addr:9100
// inside the namespace.
func waitListening(tb testing.TB, netns *netnstest.Netns, addr string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, fmt.Sprint(results.ExporterPort)), time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("nothing listens at %s:%d in %s", addr, results.ExporterPort, netns.Name)
}
