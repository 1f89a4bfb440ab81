// Package clustertest checks that the history records what the apply
// engine really reports, against the local API server with the KubeVirt
// simulator (internal/testcluster): apply, an unchanged re-apply, a failed
// apply, an interrupted apply and destroy.
package clustertest

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/testcluster"
	"github.com/virtwork/virtwork/internal/version"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/inventory"
	"github.com/virtwork/virtwork/inventory/history"
	"github.com/virtwork/virtwork/render"
)

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}) }

// fixture is one instance on the test cluster and its history.
type fixture struct {
	t   *testing.T
	kc  *kube.Client
	db  *history.DB
	ns  string
	cfg *config.Config
}

// run records one command the way the CLI does: Meta from the settings
// and the rendered set, the Recorder teed into the engine's sink, Finish
// with what the engine returned.
func (f *fixture) run(command string, objs []*unstructured.Unstructured, do func(event.Sink) (*event.Summary, error)) *history.Run {
	f.t.Helper()
	inv, err := inventory.New("virtwork", f.ns)
	if err != nil {
		f.t.Fatal(err)
	}
	meta := history.Meta{Command: command, User: history.CurrentUser(), KubeContext: f.kc.ContextName(), Server: f.kc.Host(),
		Namespace: f.ns, Name: "virtwork", InventoryID: inv.ID(), Version: version.String()}
	if objs != nil {
		meta.Source, meta.WaitFor, meta.Timeout = "config", "ready", time.Minute
		meta.Config, meta.Workloads = history.ConfigOf(f.cfg), history.WorkloadsOf(objs)
		if meta.Digest, err = history.Digest(objs); err != nil {
			f.t.Fatal(err)
		}
	}
	rec, err := history.Start(f.db, meta)
	if err != nil {
		f.t.Fatal(err)
	}
	_, runErr := do(rec.Sink())
	r, err := rec.Finish(runErr)
	if err != nil {
		f.t.Fatal(err)
	}
	got, err := f.db.Get(r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func (f *fixture) apply(ctx context.Context, objs []*unstructured.Unstructured) *history.Run {
	return f.run("apply", objs, func(sink event.Sink) (*event.Summary, error) {
		return apply.Apply(ctx, f.kc, objs, apply.Options{Name: "virtwork", Namespace: f.ns, Timeout: time.Minute}, sink)
	})
}

func TestApplyAndDestroyAreRecorded(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t)
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	db, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	user, password := "fedora", "Not-In-The-History-1"
	cfg, err := config.Load(config.Flags{Namespace: &ns, SSHUser: &user, SSHPassword: &password, Workloads: []string{"cpu", "memory"}},
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	wls, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: ns}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(cfg, wls)
	if err != nil {
		t.Fatal(err)
	}
	var vms []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "VirtualMachine" {
			vms = append(vms, o)
		}
	}
	if len(vms) != 2 {
		t.Fatalf("rendered %d VMs, want 2 (cpu, memory)", len(vms))
	}
	annotate(vms[1], kubevirtsim.BootDelayAnnotation, "1500ms")
	f := &fixture{t: t, kc: kc, db: db, ns: ns, cfg: cfg}

	// 1. A first apply: everything created, both VMs Ready, latencies.
	first := f.apply(context.Background(), objs)
	if first.Outcome != history.Succeeded || first.VMCount != 2 || first.ReadyCount != 2 || first.Counts["created"] < 3 {
		t.Fatalf("first apply: %s %q, %d/%d ready, counts %v", first.Outcome, first.Error, first.ReadyCount, first.VMCount, first.Counts)
	}
	if s := first.Ready; s == nil || s.Count != 2 || s.Max < history.Seconds(1500*time.Millisecond) || s.Min > s.Max {
		t.Errorf("first apply's ready latency %+v, want 2 VMs, max at least the 1.5s boot delay", s)
	}
	if first.Server != c.Host() || first.InventoryID == "" || !first.Config.SSHPasswordSet || first.Config.SSHUser != "fedora" ||
		len(first.Workloads) != 2 || !strings.HasPrefix(first.Digest, "sha256:") {
		t.Errorf("first apply's metadata: server %q inventory %q config %+v workloads %+v digest %q",
			first.Server, first.InventoryID, first.Config, first.Workloads, first.Digest)
	}
	for _, v := range first.VMs {
		if v.Status != event.VMReady || v.Workload == "" || v.Applied.IsZero() || v.Ready.Before(v.Applied) {
			// cpu-1 boots at once: on a loaded machine the simulator can make
			// it Ready before the apply call returns, and Ready is then
			// clamped to the apply time, so only the order is certain.
			t.Errorf("first apply's VM %+v: want Ready with workload and applied <= ready", v)
		}
	}

	// 2. The same set again: nothing created, so no latency figures.
	again := f.apply(context.Background(), objs)
	if again.Outcome != history.Succeeded || again.Counts["created"] != 0 || again.Ready != nil || again.ReadyCount != 2 {
		t.Errorf("re-apply: %s, counts %v, latency %+v, %d ready; want succeeded, nothing created, no figures, 2 ready",
			again.Outcome, again.Counts, again.Ready, again.ReadyCount)
	}
	if again.Digest != first.Digest {
		t.Errorf("same set, digests %s and %s", first.Digest, again.Digest)
	}

	// 3. A VM that cannot pull its image: failed, and the record says which and why.
	bad := vms[0].DeepCopy()
	bad.SetName("cpu-broken")
	annotate(bad, kubevirtsim.FaultAnnotation, string(kubevirtsim.ErrImagePull))
	failed := f.apply(context.Background(), append(slices.Clone(objs), bad))
	if failed.Outcome != history.Failed || !strings.Contains(failed.Error, "1 failed: VirtualMachine/cpu-broken (") ||
		!strings.Contains(failed.Error, "ErrImagePull") {
		t.Errorf("failed apply: %s %q, want failed naming cpu-broken and ErrImagePull", failed.Outcome, failed.Error)
	}
	if i := slices.IndexFunc(failed.VMs, func(v history.VM) bool { return v.Name == "cpu-broken" }); i < 0 ||
		failed.VMs[i].Status != event.VMFailed || !strings.Contains(failed.VMs[i].Message, "ErrImagePull") {
		t.Errorf("failed apply's VMs %+v: want cpu-broken Failed with ErrImagePull", failed.VMs)
	}

	// 4. Ctrl-C while waiting for a VM that never becomes ready.
	stuck := vms[0].DeepCopy()
	stuck.SetName("cpu-stuck")
	annotate(stuck, kubevirtsim.FaultAnnotation, string(kubevirtsim.NeverReady))
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(2*time.Second, cancel)
	defer timer.Stop()
	interrupted := f.apply(ctx, append(slices.Clone(objs), stuck))
	if interrupted.Outcome != history.Interrupted || interrupted.End.IsZero() {
		t.Errorf("interrupted apply: %s %q", interrupted.Outcome, interrupted.Error)
	}

	// 5. destroy: everything goes, and the record names the applies it undid.
	gone := f.run("destroy", nil, func(sink event.Sink) (*event.Summary, error) {
		return apply.Destroy(context.Background(), kc, apply.DestroyOptions{Name: "virtwork", Namespace: ns, Timeout: time.Minute}, sink)
	})
	if gone.Outcome != history.Succeeded || gone.Counts["deleted"] == 0 {
		t.Errorf("destroy: %s %q, counts %v", gone.Outcome, gone.Error, gone.Counts)
	}
	want := []string{interrupted.ID, failed.ID, again.ID, first.ID}
	if !slices.Equal(gone.RemovedRuns, want) {
		t.Errorf("destroy removed runs %v, want %v", gone.RemovedRuns, want)
	}

	runs, err := db.List(history.Filter{Namespace: ns})
	if err != nil || len(runs) != 5 || runs[0].ID != gone.ID {
		t.Errorf("List: %d runs (%v), want 5, the destroy first", len(runs), err)
	}
	if _, err := db.Get(first.ID); err != nil && !errors.Is(err, history.ErrNotFound) {
		t.Error(err)
	}
}

func annotate(o *unstructured.Unstructured, k, v string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
}
