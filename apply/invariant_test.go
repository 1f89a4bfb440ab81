package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/invariant"
	"github.com/virtwork/virtwork/internal/kube"
)

// plant puts foreign objects in the test's namespace, and keep takes every
// object now there that is not virtwork's (a user's RoleBinding, quota,
// custom resource), as foreign objects for holds to find untouched.
func (e *env) plant() invariant.Foreign { e.t.Helper(); return e.foreign(invariant.Plant) }
func (e *env) keep() invariant.Foreign  { e.t.Helper(); return e.foreign(invariant.Keep) }

func (e *env) foreign(take func(context.Context, *kube.Client, string) (invariant.Foreign, error)) invariant.Foreign {
	e.t.Helper()
	f, err := take(context.Background(), e.kc, e.ns)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// holds asserts the Guarantees' invariant (package invariant) at the end of
// a scenario; when says which moment of the test.
func (e *env) holds(when string, f invariant.Foreign) {
	e.t.Helper()
	if err := invariant.Check(context.Background(), e.kc, e.ns, f); err != nil {
		e.t.Fatalf("%s: %v", when, err)
	}
}

// check is holds after a round of a race.
func (e *env) check(round int, f invariant.Foreign) {
	e.t.Helper()
	e.holds(fmt.Sprintf("round %d", round), f)
}

// ours drops the objects invariant.Plant put there (named foreign-*).
func ours(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, "foreign-") {
			out = append(out, n)
		}
	}
	return out
}

// waitNamespaceGone waits until the namespace is deleted (the simulator
// plays the namespace controller), so that what is checked is what stays.
func (e *env) waitNamespaceGone(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there 30s after its deletion: %v", e.ns, err)
		}
	}
}

// The checker finds what the scenarios guard against, of any kind the API
// server serves (a custom resource too): an annotated object no inventory
// records, a foreign object claimed, a user's object deleted.
func TestInvariantCatchesViolations(t *testing.T) {
	e := newEnv(t)
	registerWidgetCRD(e)
	e.create(rolesGVR, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules: []\n")
	f := e.plant()
	e.applyOK(set(t, 1, "cpu"), apply.Options{NoWait: true})
	e.holds("after a plain apply", f)

	owner := e.ns + ".ghost"
	e.create(widgetsGVR, "apiVersion: test.virtwork.io/v1\nkind: Widget\nmetadata: {name: stray, annotations: {config.k8s.io/owning-inventory: "+owner+"}}\n")
	patch := []byte(`{"metadata":{"annotations":{"config.k8s.io/owning-inventory":"` + owner + `"}}}`)
	if _, err := e.kc.Dynamic.Resource(cmGVR).Namespace(e.ns).Patch(context.Background(), "foreign-config", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.kc.Dynamic.Resource(rolesGVR).Namespace(e.ns).Delete(context.Background(), "reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := invariant.Check(context.Background(), e.kc, e.ns, f)
	for _, want := range []string{
		`Widget.test.virtwork.io/stray carries owner "` + owner + `" but no inventory records it (orphan)`,
		`foreign ConfigMap/foreign-config was claimed by "` + owner + `"`,
		`foreign Role/reader was deleted`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the checker does not report %q: %v", want, err)
		}
	}
}
