package inventory

import (
	"strings"
	"testing"

	"sigs.k8s.io/cli-utils/pkg/common"
)

func TestIDIsStableAndReadable(t *testing.T) {
	inv, err := New("", "load")
	if err != nil {
		t.Fatal(err)
	}
	// The id is stored in every applied object's owning-inventory
	// annotation: changing it would orphan existing installations.
	if inv.ID() != "load.virtwork" {
		t.Errorf("ID = %q, want load.virtwork", inv.ID())
	}
	if got := inv.Info().ID(); got != inv.ID() {
		t.Errorf("Info().ID() = %q, want %q", got, inv.ID())
	}
	if got := inv.ConfigMap().GetLabels()[common.InventoryLabel]; got != inv.ID() {
		t.Errorf("inventory label = %q", got)
	}
	if got := Owner(inv.ID()); got != `virtwork instance "virtwork" in namespace "load"` {
		t.Errorf("Owner = %q", got)
	}
}

func TestLongIDsFitALabelValue(t *testing.T) {
	a, _ := New(strings.Repeat("a", 63), strings.Repeat("n", 63))
	b, _ := New(strings.Repeat("a", 62)+"b", strings.Repeat("n", 63))
	if len(a.ID()) > 63 || a.ID() == b.ID() {
		t.Errorf("ids %q and %q: want distinct and at most 63 characters", a.ID(), b.ID())
	}
	if again, _ := New(a.Name, a.Namespace); again.ID() != a.ID() {
		t.Error("id not deterministic")
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	if _, err := New("Bad_Name", "ns"); err == nil || !strings.Contains(err.Error(), `--name "Bad_Name"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := New("ok", ""); err == nil || !strings.Contains(err.Error(), "-n") {
		t.Errorf("err = %v", err)
	}
}

func TestOwnerOfForeignIDs(t *testing.T) {
	if got := Owner(""); !strings.Contains(got, "no inventory") {
		t.Errorf("Owner(\"\") = %q", got)
	}
	if got := Owner("kpt-1234"); got != `inventory "kpt-1234"` {
		t.Errorf("Owner = %q", got)
	}
}
