package apply_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kube"
)

func TestScaleDownAndWorkloadChangePrune(t *testing.T) {
	e := newEnv(t)
	e.applyOK(set(t, 3, "cpu"), apply.Options{})

	s, r, err := e.apply(set(t, 1, "cpu"), apply.Options{})
	mustSucceed(t, s, err)
	if got := r.results(); got["VirtualMachine/cpu-2"] != event.Pruned || got["VirtualMachine/cpu-3"] != event.Pruned {
		t.Errorf("scale down: results %v, want cpu-2 and cpu-3 pruned", got)
	}
	if got := e.names(vmsGVR); !slices.Equal(got, []string{"cpu-1"}) {
		t.Errorf("VMs after scale down: %v, want [cpu-1]", got)
	}

	// Another workload instead: everything of cpu goes.
	s, r, err = e.apply(set(t, 2, "mem"), apply.Options{})
	mustSucceed(t, s, err)
	if got := e.names(vmsGVR); !slices.Equal(got, []string{"mem-1", "mem-2"}) {
		t.Errorf("VMs after workload change: %v", got)
	}
	if e.exists(secretsGVR, "cpu-cloudinit") || e.exists(svcGVR, "cpu") {
		t.Error("cpu's Secret or Service survived the workload change")
	}
	if got := r.results()["Secret/cpu-cloudinit"]; got != event.Pruned {
		t.Errorf("cpu Secret result %s, want pruned", got)
	}
	// The inventory now holds exactly the new set.
	st, err := apply.Status(context.Background(), e.kc, nil, apply.StatusOptions{Namespace: e.ns})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range st.Objects {
		names = append(names, o.Ref.Kind+"/"+o.Ref.Name+"="+o.Status)
	}
	want := []string{"VirtualMachine/mem-1=Current", "VirtualMachine/mem-2=Current", "Secret/mem-cloudinit=Current", "Service/mem=Current"}
	if !slices.Equal(names, want) {
		t.Errorf("status %v, want %v", names, want)
	}
}

func TestDestroyLeavesNothing(t *testing.T) {
	e := newEnv(t)
	// Something of someone else's in the namespace must survive.
	other := secret(t, "not-ours", "x")
	other.SetNamespace(e.ns)
	if _, err := e.kc.Dynamic.Resource(secretsGVR).Namespace(e.ns).Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.applyOK(set(t, 3, "cpu"), apply.Options{})

	s, r, err := e.destroy(apply.DestroyOptions{})
	mustSucceed(t, s, err)
	if got := e.names(vmsGVR); len(got) != 0 {
		t.Errorf("VMs left: %v", got)
	}
	if got := e.names(svcGVR); len(got) != 0 {
		t.Errorf("Services left: %v", got)
	}
	if got := e.names(secretsGVR); !slices.Equal(got, []string{"not-ours"}) {
		t.Errorf("Secrets after destroy: %v, want only not-ours", got)
	}
	if e.exists(cmGVR, "virtwork-inventory-virtwork") {
		t.Error("inventory survived destroy")
	}
	if r.results()["VirtualMachine/cpu-1"] != event.Deleted {
		t.Errorf("results %v", r.results())
	}
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace gone without --delete-namespace: %v", err)
	}

	// Destroying again finds nothing to do.
	s, _, err = e.destroy(apply.DestroyOptions{})
	mustSucceed(t, s, err)
}

func TestDestroyDeleteNamespace(t *testing.T) {
	e := newEnv(t)
	e.useNewNamespace() // apply creates it
	nsYAML := "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + e.ns + ", labels: {app.kubernetes.io/managed-by: virtwork}}\n"
	e.applyOK(append(set(t, 1, "cpu"), parse(t, nsYAML)), apply.Options{})

	// Something that is not the instance's in the namespace: refused,
	// before anything is deleted.
	foreign := secret(t, "mine", "keep me")
	if _, err := e.kc.Dynamic.Resource(secretsGVR).Namespace(e.ns).Create(context.Background(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.destroy(apply.DestroyOptions{DeleteNamespace: true})
	if err == nil || !strings.Contains(err.Error(), "Secret/mine") || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("destroy --delete-namespace with a foreign Secret: %v", err)
	}
	if _, err := e.kc.Dynamic.Resource(vmsGVR).Namespace(e.ns).Get(context.Background(), "cpu-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused destroy deleted the instance's VM: %v", err)
	}
	if err := e.kc.Dynamic.Resource(secretsGVR).Namespace(e.ns).Delete(context.Background(), "mine", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	s, r, err := e.destroy(apply.DestroyOptions{DeleteNamespace: true})
	mustSucceed(t, s, err)
	if r.results()["Namespace/"+e.ns] != event.Deleted {
		t.Errorf("results %v: namespace not deleted", r.results())
	}
	// destroy waits until the namespace is finalized (by the simulator's
	// namespace finalizer here), so an apply right after it works.
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there after destroy --delete-namespace returned: %v", err)
	}
	e.applyOK(append(set(t, 1, "cpu"), parse(t, nsYAML)), apply.Options{})
}

func TestNeverReadyTimesOut(t *testing.T) {
	e := newEnv(t)
	objs := []*unstructured.Unstructured{vm(t, "ok-1"), vm(t, "stuck-1", "sim.virtwork.io/fault", "never-ready")}
	s, _, err := e.apply(objs, apply.Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Outcome != event.TimedOut || apply.ExitCode(s, err) != apply.ExitTimeout {
		t.Fatalf("outcome %s (exit %d), want timed-out (exit %d)", s.Outcome, apply.ExitCode(s, err), apply.ExitTimeout)
	}
	for _, v := range s.VMs {
		switch v.Name {
		case "ok-1":
			if v.Status != event.VMReady {
				t.Errorf("ok-1: %s", v.Status)
			}
		case "stuck-1":
			if v.Status != event.VMTimedOut || !strings.Contains(v.Message, "never becomes ready") {
				t.Errorf("stuck-1: %s %q, want TimedOut with the VM's condition message", v.Status, v.Message)
			}
		}
	}
	if len(s.Problems) != 1 || s.Problems[0].Ref.Name != "stuck-1" || s.Problems[0].Result != "timed-out" {
		t.Errorf("problems %+v", s.Problems)
	}
}

func TestFailuresFailFast(t *testing.T) {
	e := newEnv(t)
	dvVM := vmWithDataVolume(t, "dv-1", "sim.virtwork.io/fault", "DataVolumeFailed")
	objs := []*unstructured.Unstructured{vm(t, "pull-1", "sim.virtwork.io/fault", "ErrImagePull"), dvVM}

	start := time.Now()
	s, _, err := e.apply(objs, apply.Options{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("failures took %s to notice: not fast", took)
	}
	if s.Outcome != event.Failure || apply.ExitCode(s, err) != apply.ExitFailed {
		t.Fatalf("outcome %s exit %d, want failed exit %d", s.Outcome, apply.ExitCode(s, err), apply.ExitFailed)
	}
	want := map[string]string{"pull-1": "ErrImagePull", "dv-1": "DataVolumeError"}
	for _, v := range s.VMs {
		if v.Status != event.VMFailed || !strings.Contains(v.Message, want[v.Name]) {
			t.Errorf("%s: %s %q, want Failed mentioning %s", v.Name, v.Status, v.Message, want[v.Name])
		}
	}
}

func TestObjectsOwnedElsewhereAreLeftAlone(t *testing.T) {
	e := newEnv(t)
	// Instance "a" owns cpu-1; an unmanaged Secret exists already.
	e.applyOK([]*unstructured.Unstructured{vm(t, "cpu-1")}, apply.Options{Name: "a"})
	plain := secret(t, "cpu-cloudinit", "theirs")
	plain.SetNamespace(e.ns)
	if _, err := e.kc.Dynamic.Resource(secretsGVR).Namespace(e.ns).Create(context.Background(), plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	s, r, err := e.apply(set(t, 2, "cpu"), apply.Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	o := r.object("VirtualMachine", "cpu-1")
	if o == nil || o.Result != event.Skipped || o.Owner != e.ns+".a" || !strings.Contains(o.Reason, `virtwork instance "a"`) {
		t.Errorf("cpu-1 event %+v: want skipped, owned by instance a", o)
	}
	if o := r.object("Secret", "cpu-cloudinit"); o == nil || o.Result != event.Skipped || !strings.Contains(o.Reason, "no inventory") {
		t.Errorf("Secret event %+v: want skipped, no inventory", o)
	}
	if r.results()["VirtualMachine/cpu-2"] != event.Created {
		t.Errorf("cpu-2 not created: %v", r.results())
	}
	_ = s
	sec, _ := e.get(secretsGVR, "cpu-cloudinit")
	if sec.GetAnnotations()["config.k8s.io/owning-inventory"] != "" {
		t.Error("b took over the unmanaged Secret")
	}

	// Destroying b deletes only what b owns.
	e.destroyOK(apply.DestroyOptions{Name: "b"})
	if got := e.names(vmsGVR); !slices.Equal(got, []string{"cpu-1"}) {
		t.Errorf("VMs after destroying b: %v, want a's cpu-1", got)
	}
	if !e.exists(secretsGVR, "cpu-cloudinit") {
		t.Error("destroy of b deleted the unmanaged Secret")
	}

	// --adopt takes them over. The Secret's data was written by another
	// field manager with another value: taking that field is a conflict
	// (server-side apply sees it since apply sends data, not the
	// write-only stringData), which --force-conflicts resolves.
	s, r, err = e.apply(set(t, 1, "cpu"), apply.Options{Name: "b", Adopt: true})
	if err == nil && s.Outcome != event.Failure {
		t.Errorf("--adopt without --force-conflicts took another manager's Secret data: %+v", s)
	}
	s, r, err = e.apply(set(t, 1, "cpu"), apply.Options{Name: "b", Adopt: true, ForceConflicts: true})
	mustSucceed(t, s, err)
	if r.results()["VirtualMachine/cpu-1"] == event.Skipped {
		t.Error("--adopt still skipped cpu-1")
	}
	got, _ := e.get(vmsGVR, "cpu-1")
	if got.GetAnnotations()["config.k8s.io/owning-inventory"] != e.ns+".b" {
		t.Errorf("cpu-1 owner %q after --adopt", got.GetAnnotations()["config.k8s.io/owning-inventory"])
	}
}

func TestNamespaceScopedUser(t *testing.T) {
	e := newEnv(t)
	user, err := e.c.NamespaceAdmin(context.Background(), e.ns, "runner")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.New(kube.Options{Kubeconfig: user.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if kc.Namespace != e.ns {
		t.Errorf("namespace from the user's context: %q, want %q", kc.Namespace, e.ns)
	}
	// The rendered set includes the Namespace, which this user may not touch.
	ns := parse(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+e.ns+"}\n")
	objs := append([]*unstructured.Unstructured{ns}, set(t, 2, "cpu")...)
	s, err := apply.Apply(context.Background(), kc, objs, apply.Options{Namespace: e.ns, Timeout: time.Minute}, nil)
	mustSucceed(t, s, err)
	st, err := apply.Status(context.Background(), kc, nil, apply.StatusOptions{Namespace: e.ns})
	if err != nil || len(st.Objects) != 4 {
		t.Fatalf("status: %v, %d objects", err, len(st.Objects))
	}
	s, err = apply.Destroy(context.Background(), kc, apply.DestroyOptions{Namespace: e.ns, Timeout: time.Minute}, nil)
	mustSucceed(t, s, err)
	if got := e.names(vmsGVR); len(got) != 0 {
		t.Errorf("VMs left: %v", got)
	}

	// Elsewhere it is refused, in one line that says what is missing.
	elsewhere := e.c.NewNamespace(t)
	_, err = apply.Apply(context.Background(), kc, set(t, 1, "cpu"), apply.Options{Namespace: elsewhere, Timeout: time.Minute}, nil)
	if err == nil {
		t.Fatal("apply in a foreign namespace succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "permission denied") || !strings.Contains(msg, elsewhere) || !strings.Contains(msg, "cannot") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line saying permission denied, what and where", msg)
	}
	if _, err := apply.Destroy(context.Background(), kc, apply.DestroyOptions{Namespace: elsewhere, Timeout: time.Minute}, nil); err == nil || !strings.HasPrefix(err.Error(), "permission denied") {
		t.Errorf("destroy elsewhere: %v", err)
	}
}

func TestUnreachableAPIServer(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	// Port 1 on loopback: nothing listens there.
	err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]
current-context: c
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.New(kube.Options{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply.Apply(context.Background(), kc, set(t, 1, "cpu"), apply.Options{Namespace: "ns"}, nil)
	want := "cannot reach the Kubernetes API server at https://127.0.0.1:1: connection refused"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want one line starting %q", err, want)
	}
	_, err = apply.Destroy(context.Background(), kc, apply.DestroyOptions{Namespace: "ns"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("destroy: %v", err)
	}
	if _, err = kc.ServerVersion(); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("ServerVersion: %v", err)
	}
}

func TestInterruptedApplyThenDestroyLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	applied := 0
	sink := func(ev event.Event) {
		if ev.Object != nil && ev.Object.Ref.Kind == "VirtualMachine" {
			if applied++; applied == 5 {
				cancel() // Ctrl-C while VMs are being applied
			}
		}
	}
	s, err := apply.Apply(ctx, e.kc, set(t, 100, "cpu"), apply.Options{Namespace: e.ns, Workers: 2, Timeout: time.Minute}, sink)
	if s == nil || s.Outcome != event.Interrupted || apply.ExitCode(s, err) != apply.ExitInterrupted {
		t.Fatalf("summary %+v, err %v: want interrupted", s, err)
	}
	if n := len(e.names(vmsGVR)); n == 0 || n == 100 {
		t.Fatalf("%d VMs exist after the interruption; the test wants a partial apply", n)
	}
	e.destroyOK(apply.DestroyOptions{})
	if got := e.names(vmsGVR); len(got) != 0 {
		t.Errorf("VMs left after destroy: %d", len(got))
	}
	if got := e.names(secretsGVR); len(got) != 0 {
		t.Errorf("Secrets left: %v", got)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	s, r, err := e.apply(set(t, 2, "cpu"), apply.Options{DryRun: true})
	mustSucceed(t, s, err)
	if r.results()["VirtualMachine/cpu-1"] != event.Created {
		t.Errorf("dry run results %v", r.results())
	}
	if len(e.names(vmsGVR)) != 0 || e.exists(cmGVR, "virtwork-inventory-virtwork") {
		t.Error("dry run created objects or the inventory")
	}
}

func TestDiff(t *testing.T) {
	e := newEnv(t)
	objs := set(t, 2, "cpu")
	var out bytes.Buffer
	changed, err := apply.Diff(context.Background(), e.kc, objs, apply.DiffOptions{Namespace: e.ns}, &out)
	if err != nil || !changed || !strings.Contains(out.String(), "+++ virtwork/VirtualMachine/"+e.ns+"/cpu-1") {
		t.Fatalf("diff before apply: changed=%v err=%v\n%s", changed, err, out.String())
	}
	if strings.Contains(out.String(), "#cloud-config") || strings.Contains(out.String(), "I2Nsb3VkLWNvbmZpZw") {
		t.Errorf("diff shows Secret data:\n%s", out.String())
	}
	e.applyOK(objs, apply.Options{})

	out.Reset()
	changed, err = apply.Diff(context.Background(), e.kc, set(t, 2, "cpu"), apply.DiffOptions{Namespace: e.ns}, &out)
	if err != nil || changed || out.Len() != 0 {
		t.Fatalf("diff after apply: changed=%v err=%v\n%s", changed, err, out.String())
	}

	// A changed Secret, a changed VM and a VM fewer.
	changedSet := set(t, 1, "cpu")
	changedSet[0] = secret(t, "cpu-cloudinit", "#cloud-config\nhostname: new\n")
	_ = unstructured.SetNestedField(changedSet[2].Object, "2Gi", "spec", "template", "spec", "domain", "memory", "guest")
	out.Reset()
	changed, err = apply.Diff(context.Background(), e.kc, changedSet, apply.DiffOptions{Namespace: e.ns}, &out)
	if err != nil || !changed {
		t.Fatalf("diff after change: changed=%v err=%v", changed, err)
	}
	d := out.String()
	for _, re := range []string{`(?m)^-\s+guest: 1Gi$`, `(?m)^\+\s+guest: 2Gi$`} {
		if !regexp.MustCompile(re).MatchString(d) {
			t.Errorf("diff does not match %s:\n%s", re, d)
		}
	}
	// The pruned VM diffs against /dev/null.
	for _, want := range []string{"--- live/VirtualMachine/" + e.ns + "/cpu-2\n+++ /dev/null\n", "*** (before)", "*** (after)"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "hostname") || strings.Contains(d, "aG9zdG5hbWU") {
		t.Errorf("diff shows Secret data:\n%s", d)
	}
}

func TestApplyIntoMissingNamespace(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.apply(set(t, 1, "cpu"), apply.Options{Namespace: e.ns + "-missing"})
	if err == nil || !strings.Contains(err.Error(), "namespace "+e.ns+"-missing does not exist") {
		t.Errorf("error %v: want it to say the namespace does not exist", err)
	}
}

func TestWaitForAgent(t *testing.T) {
	e := newEnv(t)
	s, _, err := e.apply([]*unstructured.Unstructured{vm(t, "cpu-1")}, apply.Options{WaitFor: "agent"})
	mustSucceed(t, s, err)
	v := s.VMs[0]
	if v.AgentConnected.IsZero() || v.AgentConnected.Before(v.Ready) {
		t.Errorf("VM %+v: want AgentConnected seen, not before Ready", v)
	}
}

// Before the first apply the namespace may not exist: dry run and diff
// still say what would be created.
func TestDryRunAndDiffBeforeTheNamespaceExists(t *testing.T) {
	e := newEnv(t)
	ns := e.ns + "-new"
	objs := append([]*unstructured.Unstructured{parse(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n")}, set(t, 1, "cpu")...)
	s, r, err := e.apply(objs, apply.Options{Namespace: ns, DryRun: true})
	mustSucceed(t, s, err)
	if got := r.results(); got["VirtualMachine/cpu-1"] != event.Created || got["Namespace/"+ns] != event.Created {
		t.Errorf("dry run results %v", got)
	}
	var out bytes.Buffer
	changed, err := apply.Diff(context.Background(), e.kc, objs, apply.DiffOptions{Namespace: ns}, &out)
	if err != nil || !changed || !strings.Contains(out.String(), "+++ virtwork/VirtualMachine/"+ns+"/cpu-1") || !strings.Contains(out.String(), "+++ virtwork/Namespace/"+ns) {
		t.Errorf("diff: changed=%v err=%v\n%s", changed, err, out.String())
	}
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), ns, metav1.GetOptions{}); err == nil {
		t.Error("dry run created the namespace")
	}
}

func TestForceConflicts(t *testing.T) {
	e := newEnv(t)
	// Someone else applied cpu-1 with their own field manager.
	theirs := vm(t, "cpu-1")
	theirs.SetNamespace(e.ns)
	if _, err := e.kc.Dynamic.Resource(vmsGVR).Namespace(e.ns).Apply(context.Background(), "cpu-1", theirs, metav1.ApplyOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	ours := vm(t, "cpu-1")
	_ = unstructured.SetNestedField(ours.Object, "2Gi", "spec", "template", "spec", "domain", "memory", "guest")

	s, r, err := e.apply([]*unstructured.Unstructured{ours}, apply.Options{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	o := r.object("VirtualMachine", "cpu-1")
	if s.Outcome != event.Failure || o == nil || o.Result != event.Failed || !strings.Contains(o.Reason, "--force-conflicts") {
		t.Fatalf("outcome %s, event %+v: want a failed object naming --force-conflicts", s.Outcome, o)
	}
	e.applyOK([]*unstructured.Unstructured{ours}, apply.Options{Adopt: true, ForceConflicts: true})
	got, _ := e.get(vmsGVR, "cpu-1")
	if mem, _, _ := unstructured.NestedString(got.Object, "spec", "template", "spec", "domain", "memory", "guest"); mem != "2Gi" {
		t.Errorf("memory %q after --force-conflicts, want 2Gi", mem)
	}
}

func TestServerVersion(t *testing.T) {
	e := newEnv(t)
	v, err := e.kc.ServerVersion()
	if err != nil || !strings.HasPrefix(v, "v1.") {
		t.Errorf("ServerVersion = %q, %v", v, err)
	}
}

func TestDestroyKeepsANamespaceVirtworkDidNotCreate(t *testing.T) {
	e := newEnv(t) // the test made the namespace, without virtwork's labels
	e.applyOK(set(t, 1, "cpu"), apply.Options{})
	_, _, err := e.destroy(apply.DestroyOptions{DeleteNamespace: true})
	if err == nil || !strings.Contains(err.Error(), "was not created by virtwork") {
		t.Fatalf("destroy --delete-namespace of a namespace virtwork did not create: %v", err)
	}
	if _, err := e.kc.Dynamic.Resource(vmsGVR).Namespace(e.ns).Get(context.Background(), "cpu-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused destroy deleted the instance's VM: %v", err)
	}
}
