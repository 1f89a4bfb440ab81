package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secretObj(annotations map[string]any, data, stringData map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": "ns"},
	}}
	if annotations != nil {
		u.Object["metadata"].(map[string]any)["annotations"] = annotations
	}
	if data != nil {
		u.Object["data"] = data
	}
	if stringData != nil {
		u.Object["stringData"] = stringData
	}
	return u
}

func TestNormalizeSecretMergesStringDataIntoData(t *testing.T) {
	in := secretObj(nil, map[string]any{"a": "b2xk", "keep": "a2VlcA=="}, map[string]any{"a": "new", "b": "#cloud-config\n"})
	out, err := normalizeSecret(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "bmV3", "keep": "a2VlcA==", "b": "I2Nsb3VkLWNvbmZpZwo="}
	if got := out.Object["data"]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("data = %v, want %v", got, want)
	}
	if _, ok := out.Object["stringData"]; ok {
		t.Error("stringData left in place")
	}
	if _, ok := in.Object["stringData"]; !ok {
		t.Error("the input was changed")
	}
	if _, err := normalizeSecret(secretObj(nil, nil, map[string]any{"n": int64(1)})); err == nil {
		t.Error("a number in stringData was accepted")
	}
}

// An annotation other than kubectl's that copies a value is masked too, and
// a changed one says so.
func TestMaskSecretAnnotations(t *testing.T) {
	from := secretObj(map[string]any{"other.example/copy": "x=topsecretvalue", "plain": "visible"},
		map[string]any{"k": "dG9wc2VjcmV0dmFsdWU="}, nil)
	to := secretObj(map[string]any{"other.example/copy": "x=newsecretvalue", "plain": "visible"},
		map[string]any{"k": "bmV3c2VjcmV0dmFsdWU="}, nil)
	maskSecretAnnotations(from, to)
	if got := from.GetAnnotations()["other.example/copy"]; got != "*** (before)" {
		t.Errorf("from annotation = %q", got)
	}
	if got := to.GetAnnotations()["other.example/copy"]; got != "*** (after)" {
		t.Errorf("to annotation = %q", got)
	}
	if got := to.GetAnnotations()["plain"]; got != "visible" {
		t.Errorf("an unrelated annotation was masked: %q", got)
	}
}

func TestRedactorKeepsErrorIdentity(t *testing.T) {
	sentinel := errors.New("base")
	r := newRedactor(secretValues(secretObj(nil, map[string]any{"k": "c2VjcmV0LXZhbHVl"}, nil)))
	err := r.error(fmt.Errorf("invalid value %q: %w", "secret-value", sentinel))
	if strings.Contains(err.Error(), "secret-value") || !errors.Is(err, sentinel) {
		t.Errorf("redacted error = %v (is sentinel: %v)", err, errors.Is(err, sentinel))
	}
}
