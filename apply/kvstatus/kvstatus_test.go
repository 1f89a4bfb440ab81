package kvstatus

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	// Through JSON, as objects come from the API server (integers int64).
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

const vmHead = `
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm, namespace: ns, generation: 1}
spec: {runStrategy: Always}
`

func TestVirtualMachine(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		spec    string
		waitFor WaitFor
		want    status.Status
		msg     string // substring of the message
	}{
		{name: "no status yet", want: status.InProgressStatus, msg: "waiting for KubeVirt"},
		{name: "starting", status: `{printableStatus: Starting}`, want: status.InProgressStatus, msg: "Starting"},
		{name: "ready false", status: `{printableStatus: Starting, conditions: [{type: Ready, status: "False", reason: GuestNotRunning, message: "Guest VM is not reported as running"}]}`,
			want: status.InProgressStatus, msg: "Guest VM is not reported as running"},
		{name: "ready", status: `{printableStatus: Running, ready: true, conditions: [{type: Ready, status: "True"}]}`, want: status.CurrentStatus},
		{name: "ready, waiting for agent", waitFor: WaitForAgent, status: `{printableStatus: Running, conditions: [{type: Ready, status: "True"}]}`,
			want: status.InProgressStatus, msg: "guest agent"},
		{name: "agent connected", waitFor: WaitForAgent, status: `{printableStatus: Running, conditions: [{type: Ready, status: "True"}, {type: AgentConnected, status: "True"}]}`,
			want: status.CurrentStatus},
		{name: "failure condition", status: `{printableStatus: Starting, conditions: [{type: Failure, status: "True", reason: FailedCreate, message: "pods is forbidden: quota"}]}`,
			want: status.FailedStatus, msg: "pods is forbidden: quota"},
		{name: "failure condition false", status: `{printableStatus: Running, conditions: [{type: Failure, status: "False"}, {type: Ready, status: "True"}]}`,
			want: status.CurrentStatus},
		{name: "ErrImagePull", status: `{printableStatus: ErrImagePull, conditions: [{type: Ready, status: "False", reason: PodNotExists, message: "image quay.io/x not found"}]}`,
			want: status.FailedStatus, msg: "ErrImagePull: image quay.io/x not found"},
		{name: "ImagePullBackOff", status: `{printableStatus: ImagePullBackOff}`, want: status.FailedStatus, msg: "ImagePullBackOff"},
		{name: "ErrorUnschedulable", status: `{printableStatus: ErrorUnschedulable}`, want: status.FailedStatus, msg: "ErrorUnschedulable"},
		{name: "CrashLoopBackOff", status: `{printableStatus: CrashLoopBackOff}`, want: status.FailedStatus},
		{name: "DataVolumeError", status: `{printableStatus: DataVolumeError}`, want: status.FailedStatus},
		{name: "stale generation", status: `{observedGeneration: 0, printableStatus: Running, conditions: [{type: Ready, status: "True"}]}`,
			want: status.InProgressStatus, msg: "generation 1"},
		{name: "halted and stopped", spec: "Halted", status: `{printableStatus: Stopped}`, want: status.CurrentStatus, msg: "stopped"},
		{name: "halted without status", spec: "Halted", want: status.InProgressStatus},
		{name: "halted still running", spec: "Halted", status: `{printableStatus: Stopping}`, want: status.InProgressStatus, msg: "Stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := vmHead
			if tt.spec != "" {
				y = strings.Replace(y, "Always", tt.spec, 1)
			}
			if tt.status != "" {
				y += "status: " + tt.status + "\n"
			}
			got, err := Compute(obj(t, y), tt.waitFor)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", got.Status, got.Message, tt.want)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", got.Message, tt.msg)
			}
		})
	}
}

func TestVirtualMachineBeingDeleted(t *testing.T) {
	u := obj(t, vmHead+"status: {printableStatus: Running, conditions: [{type: Ready, status: \"True\"}]}\n")
	u.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	got, _ := Compute(u, WaitForReady)
	if got.Status != status.TerminatingStatus {
		t.Errorf("status = %s, want Terminating", got.Status)
	}
}

func TestDataVolume(t *testing.T) {
	head := "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata: {name: dv, namespace: ns}\n"
	tests := []struct {
		status string
		want   status.Status
		msg    string
	}{
		{"", status.InProgressStatus, "waiting for CDI"},
		{"{phase: ImportInProgress, progress: 10%}", status.InProgressStatus, "ImportInProgress"},
		{"{phase: Succeeded}", status.CurrentStatus, ""},
		{`{phase: Failed, conditions: [{type: Running, status: "False", message: "Unable to connect to http data source"}]}`,
			status.FailedStatus, "Unable to connect"},
		{"{phase: Failed}", status.FailedStatus, "DataVolume failed"},
	}
	for _, tt := range tests {
		y := head
		if tt.status != "" {
			y += "status: " + tt.status + "\n"
		}
		got, err := Compute(obj(t, y), WaitForReady)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tt.want || !strings.Contains(got.Message, tt.msg) {
			t.Errorf("%s: got %s %q, want %s containing %q", tt.status, got.Status, got.Message, tt.want, tt.msg)
		}
	}
}

func TestOtherKindsUseKstatus(t *testing.T) {
	// A Secret has no status; kstatus calls it Current.
	got, err := Compute(obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\n"), WaitForReady)
	if err != nil || got.Status != status.CurrentStatus {
		t.Errorf("Secret: %v %v, want Current", got, err)
	}
}

func TestParseWaitFor(t *testing.T) {
	for in, want := range map[string]WaitFor{"": WaitForReady, "ready": WaitForReady, "agent": WaitForAgent} {
		if got, err := ParseWaitFor(in); err != nil || got != want {
			t.Errorf("ParseWaitFor(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseWaitFor("booted"); err == nil || !strings.Contains(err.Error(), "ready or agent") {
		t.Errorf("ParseWaitFor(booted) error = %v", err)
	}
}
