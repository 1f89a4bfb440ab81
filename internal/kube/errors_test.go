package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestExplainMissingKubeVirt(t *testing.T) {
	err := fmt.Errorf("mapping: %w", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachine"}})
	got := Explain(err, "https://x").Error()
	if !strings.HasPrefix(got, "KubeVirt is not installed (no virtualmachines.kubevirt.io)") {
		t.Errorf("Explain = %q", got)
	}
	if got := NotInstalled(schema.GroupKind{Group: "cdi.kubevirt.io", Kind: "DataVolume"}); !strings.Contains(got, "no datavolumes.cdi.kubevirt.io") {
		t.Errorf("NotInstalled(DataVolume) = %q", got)
	}
}

func TestExplainForbidden(t *testing.T) {
	err := apierrors.NewForbidden(schema.GroupResource{Group: "kubevirt.io", Resource: "virtualmachines"}, "vm-1",
		errors.New(`User "system:serviceaccount:a:runner" cannot patch resource "virtualmachines" in API group "kubevirt.io" in the namespace "b"`))
	got := Explain(fmt.Errorf("applying: %w", err), "https://x").Error()
	if !strings.HasPrefix(got, "permission denied: ") || !strings.Contains(got, `cannot patch resource "virtualmachines"`) || !strings.Contains(got, "Role") {
		t.Errorf("Explain = %q", got)
	}
}

func TestExplainLeavesOtherErrorsAlone(t *testing.T) {
	err := apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "s", nil)
	if got := Explain(err, ""); got != err {
		t.Errorf("Explain changed %v into %v", err, got)
	}
}

func TestQuotaIsNotPermissionDenied(t *testing.T) {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New("exceeded quota: compute, requested: cpu=2"))
	if IsPermissionDenied(err) || strings.HasPrefix(Explain(err, "").Error(), "permission denied") {
		t.Errorf("a quota error is called a permission problem: %v", Explain(err, ""))
	}
}
