package apply_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/testcluster"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		// A bench child process works on the parent's cluster.
		os.Exit(m.Run())
	}
	testcluster.Main(m, testcluster.Options{})
}

var (
	vmsGVR     = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	svcGVR     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	cmGVR      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nsGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// env is one test's namespace on the shared cluster and an admin client.
type env struct {
	t  *testing.T
	c  *testcluster.Cluster
	ns string
	kc *kube.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := testcluster.Get(t)
	ns := c.NewNamespace(t)
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, ns: ns, kc: kc}
}

func parse(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// vm is a minimal VirtualMachine of workload "cpu"; annotations select
// simulator behaviour (sim.virtwork.io/fault, sim.virtwork.io/boot-delay).
func vm(t testing.TB, name string, annotations ...string) *unstructured.Unstructured {
	u := parse(t, fmt.Sprintf(`
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: %s
  labels: {app.kubernetes.io/component: cpu, app.kubernetes.io/managed-by: virtwork}
spec:
  runStrategy: Always
  template:
    metadata:
      labels: {app.kubernetes.io/component: cpu}
    spec:
      terminationGracePeriodSeconds: 0
      domain:
        memory: {guest: 1Gi}
        devices:
          disks: [{name: rootdisk, disk: {bus: virtio}}]
      volumes:
      - name: rootdisk
        containerDisk: {image: quay.io/containerdisks/fedora:41}
`, name))
	if len(annotations) > 0 {
		a := map[string]string{}
		for i := 0; i+1 < len(annotations); i += 2 {
			a[annotations[i]] = annotations[i+1]
		}
		u.SetAnnotations(a)
	}
	return u
}

// vmWithDataVolume is vm with a blank data disk from a DataVolume
// template, NAME-data, as render makes for the disk workload.
func vmWithDataVolume(t testing.TB, name string, annotations ...string) *unstructured.Unstructured {
	u := vm(t, name, annotations...)
	tmpl := map[string]any{
		"metadata": map[string]any{"name": name + "-data"},
		"spec": map[string]any{
			"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
			"source":  map[string]any{"blank": map[string]any{}},
		},
	}
	_ = unstructured.SetNestedSlice(u.Object, []any{tmpl}, "spec", "dataVolumeTemplates")
	_ = unstructured.SetNestedSlice(u.Object, []any{
		map[string]any{"name": "rootdisk", "disk": map[string]any{"bus": "virtio"}},
		map[string]any{"name": "data", "disk": map[string]any{"bus": "virtio"}},
	}, "spec", "template", "spec", "domain", "devices", "disks")
	_ = unstructured.SetNestedSlice(u.Object, []any{
		map[string]any{"name": "rootdisk", "containerDisk": map[string]any{"image": "quay.io/containerdisks/fedora:41"}},
		map[string]any{"name": "data", "dataVolume": map[string]any{"name": name + "-data"}},
	}, "spec", "template", "spec", "volumes")
	return u
}

func secret(t testing.TB, name, data string) *unstructured.Unstructured {
	return parse(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s}\nstringData: {userdata: %q}\n", name, data))
}

func service(t testing.TB, name string) *unstructured.Unstructured {
	return parse(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %s}
spec:
  selector: {app.kubernetes.io/component: cpu}
  ports: [{name: http, port: 80, protocol: TCP}]
`, name))
}

// set is a small manifest set: a Secret, a Service and n VMs.
func set(t testing.TB, n int, prefix string) []*unstructured.Unstructured {
	objs := []*unstructured.Unstructured{secret(t, prefix+"-cloudinit", "#cloud-config\n"), service(t, prefix)}
	for i := 1; i <= n; i++ {
		objs = append(objs, vm(t, fmt.Sprintf("%s-%d", prefix, i)))
	}
	return objs
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) sink(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// results maps "Kind/name" to the object results seen.
func (r *recorder) results() map[string]event.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]event.Result{}
	for _, e := range r.events {
		if e.Object != nil {
			out[e.Object.Ref.Kind+"/"+e.Object.Ref.Name] = e.Object.Result
		}
	}
	return out
}

func (r *recorder) object(kind, name string) *event.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Object != nil && e.Object.Ref.Kind == kind && e.Object.Ref.Name == name {
			return e.Object
		}
	}
	return nil
}

func (e *env) apply(objs []*unstructured.Unstructured, opts apply.Options) (*event.Summary, *recorder, error) {
	e.t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = e.ns
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	r := &recorder{}
	s, err := apply.Apply(context.Background(), e.kc, objs, opts, r.sink)
	return s, r, err
}

func (e *env) destroy(opts apply.DestroyOptions) (*event.Summary, *recorder, error) {
	e.t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = e.ns
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	r := &recorder{}
	s, err := apply.Destroy(context.Background(), e.kc, opts, r.sink)
	return s, r, err
}

// names lists the names of the objects of a resource in the namespace.
func (e *env) names(gvr schema.GroupVersionResource) []string {
	e.t.Helper()
	list, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range list.Items {
		if it.GetDeletionTimestamp() == nil {
			out = append(out, it.GetName())
		}
	}
	return out
}

// allNames is names, Terminating objects included.
func (e *env) allNames(gvr schema.GroupVersionResource) []string {
	e.t.Helper()
	list, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range list.Items {
		out = append(out, it.GetName())
	}
	return out
}

func (e *env) get(gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
	return e.kc.Dynamic.Resource(gvr).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

func (e *env) exists(gvr schema.GroupVersionResource, name string) bool {
	e.t.Helper()
	_, err := e.get(gvr, name)
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return err == nil
}

func mustSucceed(t *testing.T, s *event.Summary, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if s.Outcome != event.Succeeded {
		t.Fatalf("outcome %s, problems %+v, vms %+v", s.Outcome, s.Problems, s.VMs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ = strings.Contains

func unstructuredBool(obj map[string]any, fields ...string) (bool, bool, error) {
	return unstructured.NestedBool(obj, fields...)
}

// applyOK applies and fails the test unless every VM becomes ready.
func (e *env) applyOK(objs []*unstructured.Unstructured, opts apply.Options) *recorder {
	e.t.Helper()
	s, r, err := e.apply(objs, opts)
	mustSucceed(e.t, s, err)
	return r
}

func (e *env) destroyOK(opts apply.DestroyOptions) *recorder {
	e.t.Helper()
	s, r, err := e.destroy(opts)
	mustSucceed(e.t, s, err)
	return r
}
