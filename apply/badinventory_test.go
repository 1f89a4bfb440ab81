package apply_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
)

// badEntries are inventory entries virtwork cannot act on: a cluster-scoped
// kind, an object in another namespace, and keys that do not parse.
var badEntries = []string{
	"_admin_rbac.authorization.k8s.io_ClusterRole",
	"other-ns_x__Secret",
	"garbage",
	"_",
}

func (e *env) spoilInventory() {
	e.t.Helper()
	data := map[string]string{}
	for _, k := range badEntries {
		data[k] = ""
	}
	patch, _ := json.Marshal(map[string]any{"data": data})
	if _, err := e.kc.Dynamic.Resource(cmGVR).Namespace(e.ns).Patch(context.Background(), "virtwork-inventory-virtwork", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// A cluster-scoped or malformed inventory entry is reported, with how to
// remove it, and skipped: status, apply and destroy still work.
func TestBadInventoryEntriesAreReportedAndSkipped(t *testing.T) {
	e := newEnv(t)
	f := e.plant()
	e.applyOK(set(t, 1, "cpu"), apply.Options{})
	e.spoilInventory()
	e.holds("with bad entries", f)

	st, err := apply.Status(context.Background(), e.kc, nil, apply.StatusOptions{Namespace: e.ns})
	if err != nil {
		t.Fatalf("status with bad inventory entries: %v", err)
	}
	if len(st.Objects) != 3 {
		t.Errorf("status objects %+v, want the 3 good entries", st.Objects)
	}
	for _, k := range badEntries {
		found := false
		for _, b := range st.BadEntries {
			found = found || strings.Contains(b, `"`+k+`"`) && strings.Contains(b, "kubectl")
		}
		if !found {
			t.Errorf("status does not report entry %q with a repair command: %v", k, st.BadEntries)
		}
	}

	// apply reports them and writes an inventory without them.
	s, r, err := e.apply(set(t, 1, "cpu"), apply.Options{})
	mustSucceed(t, s, err)
	reported := 0
	for _, ev := range r.events {
		if ev.Object != nil && ev.Object.Result == event.Skipped && strings.Contains(ev.Object.Reason, "inventory entry") {
			reported++
		}
	}
	if reported != len(badEntries) {
		t.Errorf("apply reported %d bad entries, want %d", reported, len(badEntries))
	}
	cm, err := e.get(cmGVR, "virtwork-inventory-virtwork")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range badEntries {
		if _, ok := cm.Object["data"].(map[string]any)[k]; ok {
			t.Errorf("entry %q still in the inventory after apply", k)
		}
	}
	e.holds("after the apply", f)

	// destroy deletes what it can.
	e.spoilInventory()
	e.destroyOK(apply.DestroyOptions{})
	if got := ours(e.names(vmsGVR)); len(got) != 0 {
		t.Errorf("VMs left: %v", got)
	}
	if e.exists(cmGVR, "virtwork-inventory-virtwork") {
		t.Error("inventory left")
	}
	e.holds("after the destroy", f)
}
