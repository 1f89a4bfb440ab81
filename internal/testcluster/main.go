package testcluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cluster shared by the tests of one test binary (see Main).
var (
	shared    *Cluster
	sharedErr error
)

// Main starts one cluster for the whole test binary, runs the tests and
// stops the cluster. Call it from TestMain; tests get the cluster with Get.
//
// When etcd or kube-apiserver is missing, tests that call Get are skipped
// with a message saying how to install them, except when $CI or
// $VIRTWORK_REQUIRE_CLUSTER is set: then they fail. With
// $VIRTWORK_SKIP_CLUSTER set no cluster is started and those tests skip.
func Main(m *testing.M, opts Options) {
	os.Exit(runMain(m, opts))
}

func runMain(m *testing.M, opts Options) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if os.Getenv("VIRTWORK_SKIP_CLUSTER") != "" {
		sharedErr = errSkipCluster
		return m.Run()
	}
	// Test clusters listen on loopback ports that get reused; cli-runtime's
	// discovery cache (~/.kube/cache, keyed by host and port) outlives a
	// cluster and would serve an earlier cluster's kinds. One cache per test
	// binary, which its child processes inherit.
	if os.Getenv("KUBECACHEDIR") == "" {
		if dir, err := os.MkdirTemp("", "virtwork-kubecache-"); err == nil {
			os.Setenv("KUBECACHEDIR", dir)
			defer os.RemoveAll(dir)
		}
	}
	if opts.Logf == nil && testing.Verbose() {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		sharedErr = err
		if !errors.Is(err, ErrBinaryMissing) {
			fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
			return 1
		}
		return m.Run()
	}
	shared = c
	// Ctrl-C on `go test` reaches the test binary: stop the servers and
	// remove the directory instead of leaving them to the parent death signal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		c.Stop()
		os.Exit(130)
	}()
	code := m.Run()
	signal.Stop(sigs)
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	return code
}

// Get returns the cluster Main started. It skips the test when the binaries
// are missing (fails under CI) and fails it when Main was not called.
func Get(t testing.TB) *Cluster {
	t.Helper()
	switch {
	case shared != nil:
		return shared
	case sharedErr == errSkipCluster:
		t.Skip("testcluster: VIRTWORK_SKIP_CLUSTER is set")
	case sharedErr != nil && (os.Getenv("CI") != "" || os.Getenv("VIRTWORK_REQUIRE_CLUSTER") != ""):
		t.Fatalf("testcluster: %v", sharedErr)
	case sharedErr != nil:
		t.Skipf("testcluster: %v", sharedErr)
	default:
		t.Fatal("testcluster: no cluster; call testcluster.Main(m, opts) from TestMain")
	}
	return nil
}

var errSkipCluster = errors.New("VIRTWORK_SKIP_CLUSTER is set")

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// NewNamespace creates a namespace named after the test and deletes it when
// the test ends (the namespace finalizer in kubevirtsim completes the
// deletion when the simulator runs).
func (c *Cluster) NewNamespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 50 {
		base = strings.Trim(base[:50], "-")
	}
	name := fmt.Sprintf("%s-%05d", base, rand.IntN(100000))
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}
