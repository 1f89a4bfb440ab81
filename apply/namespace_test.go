package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/invariant"
)

var (
	roleBindingsGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	rolesGVR        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	quotasGVR       = schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}
	cronJobsGVR     = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	crdsGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	widgetsGVR      = schema.GroupVersionResource{Group: "test.virtwork.io", Version: "v1", Resource: "widgets"}
)

// namespaceObj is the Namespace render puts first in a set.
func namespaceObj(t *testing.T, name string) *unstructured.Unstructured {
	return parse(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+name+", labels: {app.kubernetes.io/managed-by: virtwork}}\n")
}

// create creates a YAML object in the env's namespace.
func (e *env) create(gvr schema.GroupVersionResource, y string) {
	e.t.Helper()
	if _, err := e.kc.Dynamic.Resource(gvr).Namespace(e.ns).Create(context.Background(), parse(e.t, y), metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating %s: %v", gvr.Resource, err)
	}
}

// useNewNamespace points the env at a namespace that does not exist yet,
// for apply to create, and deletes it when the test ends.
func (e *env) useNewNamespace() {
	e.ns += "-v"
	name := e.ns
	e.t.Cleanup(func() {
		err := e.kc.Dynamic.Resource(nsGVR).Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
}

// The reproduction: a team's namespace with a RoleBinding and a
// ResourceQuota; apply into it, then destroy --delete-namespace.
func TestApplyDoesNotTakeOverAnExistingNamespace(t *testing.T) {
	e := newEnv(t) // the namespace exists before the first apply
	e.create(roleBindingsGVR, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: team-a}]
`)
	e.create(quotasGVR, "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: team-quota}\nspec: {hard: {pods: \"100\"}}\n")
	f := e.plant() // and keeps the RoleBinding and the quota

	e.applyOK(append(set(t, 1, "cpu"), namespaceObj(t, e.ns)), apply.Options{})
	ns, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := ns.GetLabels()["app.kubernetes.io/managed-by"]; l != "" {
		t.Errorf("apply labelled a namespace it did not create as managed by %q", l)
	}

	_, _, err = e.destroy(apply.DestroyOptions{DeleteNamespace: true})
	if err == nil || !strings.Contains(err.Error(), "not created by virtwork") {
		t.Errorf("destroy --delete-namespace of a namespace virtwork did not create: err %v, want a refusal", err)
	}
	for _, o := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{{roleBindingsGVR, "team-admins"}, {quotasGVR, "team-quota"}, {vmsGVR, "cpu-1"}} {
		if !e.exists(o.gvr, o.name) {
			t.Errorf("%s %s is gone after the refused destroy", o.gvr.Resource, o.name)
		}
	}
	e.holds("after the refused destroy", f)
}

// registerWidgetCRD serves a namespaced custom kind, test.virtwork.io
// Widget, so that the namespace check must find kinds by discovery.
func registerWidgetCRD(e *env) {
	e.t.Helper()
	crd := parse(e.t, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.virtwork.io}
spec:
  group: test.virtwork.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`)
	_, err := e.kc.Dynamic.Resource(crdsGVR).Create(context.Background(), crd, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	w := parse(e.t, "apiVersion: test.virtwork.io/v1\nkind: Widget\nmetadata: {name: probe}\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.kc.Dynamic.Resource(widgetsGVR).Namespace("default").Create(context.Background(), w, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the Widget CRD is not served: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A namespace virtwork created, to which a user added objects of kinds
// the old check never looked at: a Role, a CronJob, a custom resource.
func TestDestroyDeleteNamespaceRefusesAnythingElse(t *testing.T) {
	e := newEnv(t)
	e.useNewNamespace()
	registerWidgetCRD(e)
	e.applyOK(append(set(t, 1, "cpu"), namespaceObj(t, e.ns)), apply.Options{})

	foreign := []struct {
		gvr     schema.GroupVersionResource
		name, y string
	}{
		{rolesGVR, "Role/reader", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules: []\n"},
		{cronJobsGVR, "CronJob/nightly", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}
`},
		{widgetsGVR, "Widget/precious", "apiVersion: test.virtwork.io/v1\nkind: Widget\nmetadata: {name: precious}\n"},
	}
	for _, f := range foreign {
		e.create(f.gvr, f.y)
	}
	kept := e.keep()
	_, _, err := e.destroy(apply.DestroyOptions{DeleteNamespace: true})
	if err == nil {
		t.Fatal("destroy --delete-namespace deleted a namespace holding a Role, a CronJob and a Widget")
	}
	for _, f := range foreign {
		if !strings.Contains(err.Error(), f.name) {
			t.Errorf("the refusal does not name %s: %v", f.name, err)
		}
		if !e.exists(f.gvr, f.name[strings.Index(f.name, "/")+1:]) {
			t.Errorf("%s is gone", f.name)
		}
	}
	if !e.exists(vmsGVR, "cpu-1") {
		t.Error("the refused destroy deleted the instance's VM")
	}
	e.holds("after the refused destroy", kept)

	// Once they are removed, only what virtwork and Kubernetes put there
	// is left (kube-root-ca.crt, the default ServiceAccount, the VM's
	// VMI): the namespace goes.
	for _, f := range foreign {
		if err := e.kc.Dynamic.Resource(f.gvr).Namespace(e.ns).Delete(context.Background(), f.name[strings.Index(f.name, "/")+1:], metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.create(schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default}\n")
	e.destroyOK(apply.DestroyOptions{DeleteNamespace: true})
	if _, err := e.kc.Dynamic.Resource(nsGVR).Get(context.Background(), e.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
	e.holds("after the destroy", invariant.Foreign{})
}
