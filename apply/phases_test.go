package apply_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/kubevirtsim"
)

// withDataVolume gives a VM a blank data disk from a DataVolume template.
func withDataVolume(u *unstructured.Unstructured) *unstructured.Unstructured {
	dv := u.GetName() + "-data"
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"metadata": map[string]any{"name": dv},
		"spec": map[string]any{
			"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
			"source":  map[string]any{"blank": map[string]any{}},
		},
	}}, "spec", "dataVolumeTemplates")
	_ = unstructured.SetNestedSlice(u.Object, []any{
		map[string]any{"name": "rootdisk", "disk": map[string]any{"bus": "virtio"}},
		map[string]any{"name": "data", "disk": map[string]any{"bus": "virtio"}},
	}, "spec", "template", "spec", "domain", "devices", "disks")
	_ = unstructured.SetNestedSlice(u.Object, []any{
		map[string]any{"name": "rootdisk", "containerDisk": map[string]any{"image": "quay.io/containerdisks/fedora:41"}},
		map[string]any{"name": "data", "dataVolume": map[string]any{"name": dv}},
	}, "spec", "template", "spec", "volumes")
	return u
}

// Timestamps on the cluster have whole seconds, so a step can look up to a
// second later or earlier than it happened.
const stampSlack = time.Second

// checkPhases checks the invariants of a run's phase figures against the
// simulator's settings: every measured VM has each step once, the steps
// come in lifecycle order, and the time from the VMI (and the DataVolumes)
// to Ready is the simulator's boot delay within its jitter.
func checkPhases(t *testing.T, s *event.Summary, st kubevirtsim.Settings, withDV map[string]bool) {
	t.Helper()
	order := []string{event.PhaseVMICreated, event.PhasePending, event.PhaseScheduling, event.PhaseScheduled, event.PhaseRunning, event.PhaseReady}
	for _, v := range s.VMs {
		if !v.Measured {
			t.Errorf("%s not measured", v.Name)
			continue
		}
		prev := time.Duration(0)
		for _, p := range order {
			d, ok := v.Phases[p]
			if !ok {
				t.Errorf("%s: phase %s missing: %v", v.Name, p, v.Phases)
				continue
			}
			if time.Duration(d) < prev {
				t.Errorf("%s: %s at %s comes before the step before it (%s): %v", v.Name, p, d, event.Seconds(prev), v.Phases)
			}
			prev = time.Duration(d)
		}
		// The boot clock starts once the VMI exists and its volumes are
		// ready; how soon the simulator gets to the VM varies with load.
		bootFrom := time.Duration(v.Phases[event.PhaseVMICreated])
		if withDV[v.Name] {
			dv, ok := v.Phases[event.PhaseDataVolumes]
			if !ok || time.Duration(dv) < st.DataVolumeDelay-stampSlack || time.Duration(dv) > time.Duration(v.Phases[event.PhaseReady]) {
				t.Errorf("%s: DataVolumes at %s, want from %s and before Ready: %v", v.Name, dv, st.DataVolumeDelay, v.Phases)
			}
			bootFrom = max(bootFrom, time.Duration(dv))
		} else if _, ok := v.Phases[event.PhaseDataVolumes]; ok {
			t.Errorf("%s has no DataVolumes but a DataVolume phase", v.Name)
		}
		boot := time.Duration(v.Phases[event.PhaseReady]) - bootFrom
		if lo, hi := st.BootDelay-stampSlack, st.BootDelay+st.BootJitter+stampSlack; boot < lo || boot > hi {
			t.Errorf("%s: booted in %s (Ready at %s), want %s..%s (boot delay %s, jitter %s)", v.Name, event.Seconds(boot),
				v.Phases[event.PhaseReady], lo, hi, st.BootDelay, st.BootJitter)
		}
		if _, ok := v.Phases[event.PhaseAgentConnected]; ok {
			t.Errorf("%s: AgentConnected recorded although apply did not wait for it", v.Name)
		}
	}
	// The run's figures: ordered quantiles, one count per VM.
	byPhase := map[string]event.PhaseStats{}
	for _, p := range s.Phases {
		byPhase[p.Phase] = p
	}
	for _, q := range append([]string{"min", "max", "mean"}, event.Quantiles...) {
		sched, _ := byPhase[event.PhaseScheduled].Get(q)
		run, _ := byPhase[event.PhaseRunning].Get(q)
		ready, _ := byPhase[event.PhaseReady].Get(q)
		if !(sched <= run && run <= ready) {
			t.Errorf("%s: Scheduled %s, Running %s, Ready %s: not in order", q, sched, run, ready)
		}
	}
	if r := byPhase[event.PhaseReady]; r.Count != len(s.VMs) || r.Missing != 0 {
		t.Errorf("Ready figures over %d VMs (%d missing), want %d", r.Count, r.Missing, len(s.VMs))
	}
}

// TestPhaseLatencies applies VMs that boot in 3-5 s (two with a data disk
// that takes 1 s) and checks each VM's lifecycle steps against the
// simulator's delays.
func TestPhaseLatencies(t *testing.T) {
	e := newEnv(t)
	st := kubevirtsim.Settings{BootDelay: 3 * time.Second, BootJitter: 2 * time.Second, DataVolumeDelay: time.Second}
	if err := e.c.Simulator().Configure(e.ns, st); err != nil {
		t.Fatal(err)
	}
	objs := set(t, 4, "phase")
	withDV := map[string]bool{}
	for _, o := range objs[len(objs)-2:] {
		withDataVolume(o)
		withDV[o.GetName()] = true
	}
	s, _, err := e.apply(objs, apply.Options{})
	mustSucceed(t, s, err)
	checkPhases(t, s, st, withDV)

	// Applied again, nothing starts: nothing is measured.
	s, _, err = e.apply(objs, apply.Options{})
	mustSucceed(t, s, err)
	for _, v := range s.VMs {
		if v.Measured || len(v.Phases) > 0 {
			t.Errorf("%s was up already, yet measured: %v", v.Name, v.Phases)
		}
	}
	if len(s.Phases) != 0 {
		t.Errorf("phase figures for a run that started nothing: %+v", s.Phases)
	}
}

// TestPhaseLatenciesSurviveARestart interrupts an apply once its VMs are
// created, waits, and applies again: the second run measures the VMs from
// their creation by the first, as the cluster recorded it, not from what
// it saw itself.
func TestPhaseLatenciesSurviveARestart(t *testing.T) {
	e := newEnv(t)
	st := kubevirtsim.Settings{BootDelay: 5 * time.Second, BootJitter: time.Second}
	if err := e.c.Simulator().Configure(e.ns, st); err != nil {
		t.Fatal(err)
	}
	objs := set(t, 3, "restart")
	ctx, cancel := context.WithCancel(context.Background())
	created := 0
	_, err := apply.Apply(ctx, e.kc, objs, apply.Options{Namespace: e.ns, Timeout: time.Minute}, func(ev event.Event) {
		if ev.Object != nil && ev.Object.Ref.Kind == "VirtualMachine" && ev.Object.Result == event.Created {
			if created++; created == 3 {
				cancel()
			}
		}
	})
	if err == nil {
		t.Fatal("the interrupted apply returned no error")
	}
	time.Sleep(2 * time.Second) // virtwork is "restarted" while the VMs boot
	s, _, err := e.apply(objs, apply.Options{})
	mustSucceed(t, s, err)
	checkPhases(t, s, st, nil)
	for _, v := range s.VMs {
		// Seen from the second apply call, Ready came at least 2 s sooner.
		if ttr, ready := time.Duration(v.TimeToReady), time.Duration(v.Phases[event.PhaseReady]); ttr > ready-time.Second {
			t.Errorf("%s: Ready %s after its creation but %s after the second apply call: the creation was not the anchor", v.Name, event.Seconds(ready), v.TimeToReady)
		}
	}
}

// TestPhaseLatenciesOfARestart starts a stopped VM by changing its
// runStrategy: the apply configures it, and its phases run from that
// change (virtwork's managedFields time), not from the VM's creation.
func TestPhaseLatenciesOfARestart(t *testing.T) {
	e := newEnv(t)
	st := kubevirtsim.Settings{BootDelay: 3 * time.Second}
	if err := e.c.Simulator().Configure(e.ns, st); err != nil {
		t.Fatal(err)
	}
	halted := vm(t, "later-1")
	_ = unstructured.SetNestedField(halted.Object, "Halted", "spec", "runStrategy")
	s, _, err := e.apply([]*unstructured.Unstructured{halted}, apply.Options{})
	mustSucceed(t, s, err)
	time.Sleep(3 * time.Second) // the VM's creation is well before its start

	s, r, err := e.apply([]*unstructured.Unstructured{vm(t, "later-1")}, apply.Options{})
	mustSucceed(t, s, err)
	if res := r.results()["VirtualMachine/later-1"]; res != event.Configured {
		t.Fatalf("the second apply %s the VM, want configured", res)
	}
	v := s.VMs[0]
	if !v.Measured {
		t.Fatal("the restarted VM was not measured")
	}
	created, err := e.get(vmsGVR, "later-1")
	if err != nil {
		t.Fatal(err)
	}
	if gap := v.Started.Sub(created.GetCreationTimestamp().Time); gap < 2*time.Second {
		t.Errorf("started %s, only %s after the creation: measured from the creation, not the restart", v.Started, gap)
	}
	checkPhases(t, s, st, nil)
}
