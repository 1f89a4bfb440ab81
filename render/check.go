package render

import (
	"errors"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// scheme knows the Go types of every built-in Kubernetes kind plus
// KubeVirt's, CDI's and the Prometheus Operator's (the ServiceMonitor),
// so that Check can decode into them. The operator's API module is the
// ServiceMonitor's own definition (its CRD is generated from these types)
// and needs only apimachinery: checking against it keeps one way of
// checking every object, where validating against the CRD's OpenAPI
// schema would need apiextensions-apiserver's validator for one kind.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		kubevirtv1.AddToScheme,
		cdiv1beta1.AddToScheme,
		monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // programming error: the schemes are static
		}
	}
	return s
}()

// ErrUnknownKind is wrapped by Check's error for a kind outside the
// APIs it knows, so that a caller may choose to let such objects pass.
var ErrUnknownKind = errors.New("kind unknown to virtwork")

// Check strictly decodes obj into the Go type of its kind (k8s.io/api,
// kubevirt.io/api, CDI v1beta1, monitoring.coreos.com/v1): a field the type does not have, or a
// value of the wrong type, is an error naming the object and the field
// path (see strictDecode for why this is not the API machinery's own
// converter).
// A VirtualMachine's dataVolumeTemplates decode into CDI's DataVolumeSpec,
// so they are checked with it. Kinds outside those APIs are an error too,
// since virtwork cannot vouch for them.
func Check(obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	typed, err := scheme.New(gvk)
	if err != nil {
		return fmt.Errorf("%s: %w: %q in apiVersion %q", describe(obj), ErrUnknownKind, gvk.Kind, obj.GetAPIVersion())
	}
	if err := strictDecode(obj.Object, reflect.TypeOf(typed)); err != nil {
		return fmt.Errorf("%s does not match the %s API: %w", describe(obj), gvk.GroupVersion(), err)
	}
	return nil
}

// describe names obj for errors: "VirtualMachine virtwork/cpu-1".
func describe(obj *unstructured.Unstructured) string {
	kind := obj.GetKind()
	if kind == "" {
		kind = "object"
	}
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", kind, ns, obj.GetName())
	}
	return fmt.Sprintf("%s %s", kind, obj.GetName())
}
