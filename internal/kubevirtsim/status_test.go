package kubevirtsim

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func TestVMIPhaseFollowsTheBootClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vmi := &unstructured.Unstructured{Object: map[string]any{}}
	vmi.SetCreationTimestamp(metav1.NewTime(start))
	boot, agent := 10*time.Second, 5*time.Second
	cases := []struct {
		at        time.Duration
		fault     Fault
		phase     string
		next      time.Duration
		condTypes string
	}{
		{0, NoFault, "Pending", time.Second, "Ready=False"},
		{2 * time.Second, NoFault, "Scheduling", 2 * time.Second, "Ready=False"},
		{4 * time.Second, NoFault, "Scheduled", 6 * time.Second, "Ready=False"},
		{10 * time.Second, NoFault, "Running", 5 * time.Second, "Ready=True"},
		{15 * time.Second, NoFault, "Running", 0, "Ready=True AgentConnected=True"},
		{60 * time.Second, ErrImagePull, "Scheduling", 0, "Ready=False"},
		{60 * time.Second, ErrorUnschedulable, "Scheduling", 0, "PodScheduled=False Ready=False"},
		{60 * time.Second, NeverReady, "Running", 0, "Ready=False"},
	}
	for _, c := range cases {
		status, next := vmiStatus(vmi, start.Add(c.at), start, boot, agent, c.fault)
		var conds string
		for _, ci := range status["conditions"].([]any) {
			m := ci.(map[string]any)
			if conds != "" {
				conds += " "
			}
			conds += m["type"].(string) + "=" + m["status"].(string)
		}
		stamps := status["phaseTransitionTimestamps"].([]any)
		if status["phase"] != c.phase || next != c.next || conds != c.condTypes || stamps[len(stamps)-1].(map[string]any)["phase"] != c.phase {
			t.Errorf("at %s with fault %q: phase %v next %s conditions %q stamps %v; want %s, %s, %q",
				c.at, c.fault, status["phase"], next, conds, stamps, c.phase, c.next, c.condTypes)
		}
	}
}

func TestBootDelayIsStablePerVMWithinTheJitter(t *testing.T) {
	st := Settings{BootDelay: 2 * time.Second, BootJitter: 3 * time.Second}
	seen := map[time.Duration]bool{}
	for i := range 50 {
		vm := &unstructured.Unstructured{Object: map[string]any{}}
		vm.SetUID(types.UID("uid-" + string(rune('a'+i))))
		d := bootDelay(vm, st)
		if d != bootDelay(vm, st) {
			t.Fatal("boot delay differs between calls for one VM")
		}
		if d < st.BootDelay || d >= st.BootDelay+st.BootJitter {
			t.Errorf("boot delay %s outside [%s, %s)", d, st.BootDelay, st.BootDelay+st.BootJitter)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct boot delays among 50 VMs: no spread", len(seen))
	}
	vm := &unstructured.Unstructured{Object: map[string]any{}}
	vm.SetAnnotations(map[string]string{BootDelayAnnotation: "7s"})
	if d := bootDelay(vm, st); d != 7*time.Second {
		t.Errorf("annotation %s=7s gave %s", BootDelayAnnotation, d)
	}
}
