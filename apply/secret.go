package apply

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var secretGK = schema.GroupKind{Kind: "Secret"}

// lastAppliedAnnotation is where client-side `kubectl apply` keeps a copy
// of the object it applied: for a Secret, its data and stringData in
// plain JSON.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// normalizeSecret returns a Secret with its stringData merged into data
// (base64) and stringData dropped, as the API server stores it; other
// objects are returned as they are. A readable render (stringData) and
// what the server holds (data) are then the same object to server-side
// apply: stringData is write-only, so applying it would never match the
// live object (kubernetes#108008). Flux normalises the same way.
func normalizeSecret(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if u.GroupVersionKind().GroupKind() != secretGK {
		return u, nil
	}
	sd, ok := u.Object["stringData"]
	if !ok {
		return u, nil
	}
	strs, ok := sd.(map[string]any)
	if !ok && sd != nil {
		return nil, fmt.Errorf("Secret %q: stringData is not a map of strings", u.GetName())
	}
	u = u.DeepCopy()
	delete(u.Object, "stringData")
	if len(strs) == 0 {
		return u, nil
	}
	data, _ := u.Object["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range strs {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Secret %q: stringData.%s is not a string", u.GetName(), k)
		}
		// stringData wins over data for the same key, as on the server.
		data[k] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	u.Object["data"] = data
	return u, nil
}

// minSecretLen is the shortest Secret value redacted from messages:
// masking every "a" or "1" would garble them and hide nothing.
const minSecretLen = 4

// secretValues lists the content of Secrets among objs, in every form it
// may take in a message: data values as written (base64) and decoded,
// stringData values, and kubectl's last-applied copy.
func secretValues(objs ...*unstructured.Unstructured) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	for _, u := range objs {
		if u == nil || u.GroupVersionKind().GroupKind() != secretGK {
			continue
		}
		data, _ := u.Object["data"].(map[string]any)
		for _, v := range data {
			if s, ok := v.(string); ok {
				add(s)
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					add(string(b))
				}
			}
		}
		strs, _ := u.Object["stringData"].(map[string]any)
		for _, v := range strs {
			if s, ok := v.(string); ok {
				add(s)
				add(base64.StdEncoding.EncodeToString([]byte(s)))
			}
		}
		add(u.GetAnnotations()[lastAppliedAnnotation])
	}
	return out
}

// redactor masks Secret values in text meant for people (messages,
// errors, events, the history).
type redactor struct{ r *strings.Replacer }

func newRedactor(values []string) redactor {
	if len(values) == 0 {
		return redactor{}
	}
	// Longest first: the replacer tries the pairs in order at each
	// position, so a value containing another is masked whole.
	values = slices.Clone(values)
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
	values = slices.Compact(values)
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, "***")
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) string(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

func (r redactor) error(err error) error {
	if err == nil || r.r == nil {
		return err
	}
	if s := r.r.Replace(err.Error()); s != err.Error() {
		return redactedError{msg: s, err: err}
	}
	return err
}

// redactedError keeps the wrapped error for errors.Is/As (exit statuses)
// but says only the redacted message.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// maskSecretAnnotations replaces, on both sides of a Secret diff, every
// annotation that holds the Secret's content (kubectl's last-applied copy,
// or any value that contains one of its data values) by a mask that still
// shows whether it changed.
func maskSecretAnnotations(from, to *unstructured.Unstructured) {
	values := secretValues(from, to)
	holds := func(k, v string) bool {
		if k == lastAppliedAnnotation {
			return true
		}
		for _, s := range values {
			if strings.Contains(v, s) {
				return true
			}
		}
		return false
	}
	var fa, ta map[string]string
	if from != nil {
		fa = from.GetAnnotations()
	}
	if to != nil {
		ta = to.GetAnnotations()
	}
	masked := func(own, other map[string]string, k, suffix string) string {
		if o, ok := other[k]; ok && o != own[k] {
			return "*** (" + suffix + ")"
		}
		return "***"
	}
	newF, newT := map[string]string{}, map[string]string{}
	for k, v := range fa {
		if holds(k, v) || holds(k, ta[k]) {
			v = masked(fa, ta, k, "before")
		}
		newF[k] = v
	}
	for k, v := range ta {
		if holds(k, v) || holds(k, fa[k]) {
			v = masked(ta, fa, k, "after")
		}
		newT[k] = v
	}
	if len(fa) > 0 {
		from.SetAnnotations(newF)
	}
	if len(ta) > 0 {
		to.SetAnnotations(newT)
	}
}
