package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/invariant"
	"github.com/virtwork/virtwork/inventory"
)

// A set whose inventory would not fit in one ConfigMap (etcd's 1.5 MiB
// request limit) is refused before anything changes on the cluster,
// rather than failing at the inventory write once objects exist. Small
// ConfigMaps with long names reach the limit with few objects.
func TestApplyRefusesAnInventoryTooLargeBeforeAnyChange(t *testing.T) {
	e := newEnv(t)
	e.useNewNamespace()
	configMaps := func(n, nameLen int) []*unstructured.Unstructured {
		objs := []*unstructured.Unstructured{namespaceObj(t, e.ns)}
		for i := range n {
			cm := &unstructured.Unstructured{}
			cm.SetAPIVersion("v1")
			cm.SetKind("ConfigMap")
			cm.SetName(fmt.Sprintf("%s-%05d", strings.Repeat("c", nameLen-6), i))
			objs = append(objs, cm)
		}
		return objs
	}
	// Each entry is "<namespace>_<name>__ConfigMap": about 240 bytes here.
	objs := configMaps(6000, 240-len(e.ns)-12)
	s, _, err := e.apply(objs, apply.Options{})
	if err == nil || !strings.Contains(err.Error(), "-n") || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("apply of an oversized set: %v (summary %v), want a refusal saying to split it across namespaces", err, s)
	}
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused apply created the namespace (get: %v)", err)
	}

	// An entry longer than a ConfigMap key may be (253 characters).
	_, _, err = e.apply(configMaps(1, 200), apply.Options{})
	if err == nil || !strings.Contains(err.Error(), "253") || !strings.Contains(err.Error(), "ccccc-00000") {
		t.Errorf("apply of an object whose inventory entry is too long: %v", err)
	}
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused apply created the namespace (get: %v)", err)
	}
	e.holds("after the refused applies", invariant.Foreign{})
}

// The largest inventory CheckFits lets through is one the local cluster
// (etcd with its default 1.5 MiB request limit) accepts, with long and
// short keys alike.
func TestTheLargestInventoryAllowedFits(t *testing.T) {
	e := newEnv(t)
	for _, nameLen := range []int{10, 150} {
		inv, err := inventory.New(fmt.Sprintf("fits-%d", nameLen), e.ns)
		if err != nil {
			t.Fatal(err)
		}
		var ids object.ObjMetadataSet
		size := 0
		for i := 0; ; i++ {
			id := object.ObjMetadata{Namespace: e.ns, Name: fmt.Sprintf("%s-%06d", strings.Repeat("v", nameLen), i),
				GroupKind: schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachine"}}
			if size+len(id.String())+8 > inventory.MaxEntryBytes {
				break
			}
			size += len(id.String()) + 8
			ids = append(ids, id)
		}
		if err := inv.CheckFits(ids); err != nil {
			t.Fatalf("CheckFits of %d entries: %v", len(ids), err)
		}
		if err := inv.CheckFits(append(ids, ids[0])); err == nil {
			t.Errorf("CheckFits let %d entries through", len(ids)+1)
		}
		c := inventory.NewClient(e.kc.Dynamic, inv)
		if _, _, err := c.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := c.Save(context.Background(), ids); err != nil {
			t.Errorf("the cluster refused an inventory of %d entries (%d bytes) that CheckFits allows: %v", len(ids), size, err)
		}
	}
}
