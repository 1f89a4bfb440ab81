package testcluster_test

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/internal/testcluster"
	"github.com/virtwork/virtwork/internal/testenv"
)

func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.Options{})
}

var vmGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}

func TestAPIServerAnswersThroughKubeconfig(t *testing.T) {
	c := testcluster.Get(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != testcluster.KubeAPIServerVersion {
		t.Errorf("server version %q, want %q", v.GitVersion, testcluster.KubeAPIServerVersion)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("get namespace default: %v", err)
	}
	t.Logf("started in %s; schemas: %s", c.StartupTime(), c.Schemas())
}

func TestCRDsAreServedWithShortNamesAndColumns(t *testing.T) {
	c := testcluster.Get(t)
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"kubevirt.io/v1/virtualmachines":         {"vm", "vms"},
		"kubevirt.io/v1/virtualmachineinstances": {"vmi", "vmis"},
		"cdi.kubevirt.io/v1beta1/datavolumes":    {"dv", "dvs"},
	}
	for key, shortNames := range want {
		gv := key[:strings.LastIndex(key, "/")]
		res := key[strings.LastIndex(key, "/")+1:]
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatalf("discovery %s: %v", gv, err)
		}
		found, status := false, false
		for _, r := range list.APIResources {
			if r.Name == res {
				found = true
				if strings.Join(r.ShortNames, ",") != strings.Join(shortNames, ",") || !r.Namespaced {
					t.Errorf("%s: shortNames %v namespaced %v, want %v namespaced", key, r.ShortNames, r.Namespaced, shortNames)
				}
			}
			status = status || r.Name == res+"/status"
		}
		if !found || !status {
			t.Errorf("%s served %v, status subresource %v; want both", key, found, status)
		}
	}
	// The VM table shows KubeVirt's columns.
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	crd, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
		Get(context.Background(), "virtualmachines.kubevirt.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	cols, _, _ := unstructured.NestedSlice(versions[0].(map[string]any), "additionalPrinterColumns")
	var names []string
	for _, col := range cols {
		names = append(names, col.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, ","); got != "Age,Status,Ready" {
		t.Errorf("VM printer columns %s, want Age,Status,Ready", got)
	}
}

// validVM is shaped like a rendered virtwork VM.
const validVM = `
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web-0
  labels: {app.kubernetes.io/managed-by: virtwork}
spec:
  runStrategy: Always
  dataVolumeTemplates:
  - metadata: {name: web-0-data}
    spec:
      storage:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 10Gi}}
      source: {blank: {}}
  template:
    metadata:
      labels: {virtwork.io/workload: web}
    spec:
      terminationGracePeriodSeconds: 0
      domain:
        cpu: {cores: 2}
        memory: {guest: 2Gi}
        devices:
          disks:
          - name: rootdisk
            disk: {bus: virtio}
          - name: data
            disk: {bus: virtio}
          - name: cloudinit
            disk: {bus: virtio}
          interfaces:
          - name: default
            masquerade: {}
      networks:
      - name: default
        pod: {}
      volumes:
      - name: rootdisk
        containerDisk: {image: quay.io/containerdisks/fedora:41}
      - name: data
        dataVolume: {name: web-0-data}
      - name: cloudinit
        cloudInitNoCloud:
          secretRef: {name: web-0-cloudinit}
`

func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestVMSchemaAcceptsAValidVMAndRejectsABrokenOne(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealSchemas() {
		testenv.Missing(t, "real schemas not installed (%s): ../shared/schemas is needed", c.Schemas())
	}
	ns := c.NewNamespace(t)
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	vms := dyn.Resource(vmGVR).Namespace(ns)
	if _, err := vms.Create(context.Background(), decode(t, validVM), metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid VM rejected: %v", err)
	}

	broken := []struct {
		name, want string
		edit       func(*unstructured.Unstructured)
	}{
		{"bad runStrategy type", "spec.runStrategy", func(u *unstructured.Unstructured) {
			unstructured.SetNestedField(u.Object, int64(3), "spec", "runStrategy")
		}},
		{"no domain", "spec.template.spec.domain", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "template", "spec", "domain")
		}},
		{"disk without name", "name", func(u *unstructured.Unstructured) {
			unstructured.SetNestedSlice(u.Object, []any{map[string]any{"disk": map[string]any{"bus": "virtio"}}},
				"spec", "template", "spec", "domain", "devices", "disks")
		}},
	}
	for i, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			vm := decode(t, validVM)
			vm.SetName("broken-" + string(rune('a'+i)))
			b.edit(vm)
			_, err := vms.Create(context.Background(), vm, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("broken VM: got %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), b.want) {
				t.Errorf("error %q does not name %s", err, b.want)
			}
		})
	}
}

func TestNamespaceAdminIsConfinedToItsNamespace(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	mine, other := c.NewNamespace(t), c.NewNamespace(t)
	u, err := c.NamespaceAdmin(ctx, mine, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", u.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vm := decode(t, validVM)
	if _, err := dyn.Resource(vmGVR).Namespace(mine).Create(ctx, vm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VM in own namespace: %v", err)
	}
	if err := dyn.Resource(vmGVR).Namespace(mine).Delete(ctx, vm.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete VM in own namespace: %v", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"userdata": "x"}}
	if _, err := cs.CoreV1().Secrets(mine).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret in own namespace: %v", err)
	}
	if _, err := dyn.Resource(vmGVR).Namespace(other).Create(ctx, vm, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create VM in another namespace: got %v, want Forbidden", err)
	}
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list namespaces: got %v, want Forbidden", err)
	}
}

func TestStopLeavesNoProcessPortOrFile(t *testing.T) {
	testcluster.Get(t) // skips when the binaries are missing
	c, err := testcluster.Start(context.Background(), testcluster.Options{SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	pids, ports, dir := c.Pids(), c.Ports(), c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after Stop (kill -0: %v)", pid, err)
		}
	}
	for _, port := range ports {
		if portInUse(port) {
			t.Errorf("port %d still accepts connections after Stop", port)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still exists after Stop (%v)", dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func portInUse(port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func TestMissingBinarySaysHowToBuildIt(t *testing.T) {
	_, err := testcluster.Start(context.Background(), testcluster.Options{KubeAPIServer: "/nonexistent/kube-apiserver"})
	if !errors.Is(err, testcluster.ErrBinaryMissing) || !strings.Contains(err.Error(), "make kube-apiserver") {
		t.Fatalf("got %v, want ErrBinaryMissing naming `make kube-apiserver`", err)
	}
}

// BenchmarkStart measures a warm start: from Start to a ready API server
// with the CRDs established and served, and the simulator synced.
func BenchmarkStart(b *testing.B) {
	testcluster.Get(b)
	for range b.N {
		c, err := testcluster.Start(context.Background(), testcluster.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(c.StartupTime().Seconds(), "start-s")
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMinimalSchemasWhenTheRealOnesAreAbsent(t *testing.T) {
	testcluster.Get(t) // skips when the binaries are missing
	c, err := testcluster.Start(context.Background(), testcluster.Options{SchemasDir: t.TempDir(), NoSimulator: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if c.RealSchemas() || !strings.HasPrefix(c.Schemas(), "minimal") {
		t.Fatalf("schemas %q (real %v), want minimal", c.Schemas(), c.RealSchemas())
	}
	dyn, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	vm := decode(t, validVM)
	unstructured.SetNestedField(vm.Object, "kept", "spec", "template", "spec", "notAKubeVirtField")
	got, err := dyn.Resource(vmGVR).Namespace("default").Create(context.Background(), vm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("VM rejected by the minimal schema: %v", err)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "spec", "template", "spec", "notAKubeVirtField"); v != "kept" {
		t.Errorf("unknown field not preserved: %v", got.Object["spec"])
	}
}

// A child's parent-death signal fires when the OS thread that started it
// ends, not the process. Go ends a thread whose goroutine exits while locked
// to it (netnstest.Listen does so on purpose), so a cluster started on such a
// thread died mid-test: this is how CI lost its API server. Ending many
// threads must leave the servers running.
func TestServersOutliveEndedThreads(t *testing.T) {
	testcluster.Get(t)
	c, err := testcluster.Start(context.Background(), testcluster.Options{SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for range 200 {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			close(done)
		}()
		<-done
		runtime.Gosched()
	}
	time.Sleep(500 * time.Millisecond) // let the signal land
	for _, pid := range c.Pids() {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("server process %d is gone after threads ended (kill -0: %v)", pid, err)
		}
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Errorf("API server stopped answering after threads ended: %v", err)
	}
}
