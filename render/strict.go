package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// strictDecode checks that the JSON-shaped value v (what unstructured
// objects hold) decodes into Go type t without unknown fields or values
// of the wrong type, and returns the first problem by sorted path.
//
// Neither runtime.DefaultUnstructuredConverter nor a strict JSON decoder
// does this for KubeVirt: VirtualMachineInstanceSpec (the whole of a VM's
// spec.template.spec), PodNetwork and DHCPOptions have UnmarshalJSON
// methods that decode through a plain json.Unmarshal of an alias type,
// which drops unknown fields silently. So this walks the value along the
// type's JSON fields itself; only types whose JSON form is not their
// fields (Quantity, Time, IntOrString, RawExtension: no named json tags)
// are handed to their UnmarshalJSON.
func strictDecode(v any, t reflect.Type) error {
	return walk(nil, v, t)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// path is the field path to a value, built only when reporting an error.
type path []string

func (p path) String() string {
	var b strings.Builder
	for _, s := range p {
		if !strings.HasPrefix(s, "[") && b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	if b.Len() == 0 {
		return "(root)"
	}
	return b.String()
}

func walk(p path, v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil // null leaves any Go value at its zero value
	}
	if fields := fieldsOf(t); fields != nil && !fields.opaque {
		m, ok := v.(map[string]any)
		if !ok {
			return typeError(p, v, "an object")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fields.byName[k]
			if !ok {
				return fmt.Errorf("unknown field %q", append(p, k).String())
			}
			if err := walk(append(p, k), m[k], f.typ); err != nil {
				return err
			}
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(data); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return typeError(p, v, "an object")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := walk(append(p, k), m[k], t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := v.(string)
			if !ok {
				return typeError(p, v, "a base64 string")
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return fmt.Errorf("%s: not base64: %w", p, err)
			}
			return nil
		}
		l, ok := v.([]any)
		if !ok {
			return typeError(p, v, "a list")
		}
		for i, item := range l {
			if err := walk(append(p, fmt.Sprintf("[%d]", i)), item, t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return typeError(p, v, "a string")
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return typeError(p, v, "a boolean")
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return checkInt(p, v, t)
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, int, float64:
			return nil
		}
		return typeError(p, v, "a number")
	}
	return fmt.Errorf("%s: cannot check Go type %s", p, t)
}

func checkInt(p path, v any, t reflect.Type) error {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case int:
		f = float64(n)
	case float64:
		if n != math.Trunc(n) {
			return typeError(p, v, "an integer")
		}
		f = n
	default:
		return typeError(p, v, "an integer")
	}
	bits := t.Bits()
	var lo, hi float64
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		lo, hi = 0, math.Ldexp(1, bits)-1
	} else {
		lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)-1
	}
	if f < lo || f > hi {
		return fmt.Errorf("%s: %v is out of range for %s", p, v, t)
	}
	return nil
}

func typeError(p path, v any, want string) error {
	var got string
	switch v.(type) {
	case string:
		got = "a string"
	case bool:
		got = "a boolean"
	case int64, int, float64:
		got = "a number"
	case map[string]any:
		got = "an object"
	case []any:
		got = "a list"
	default:
		got = fmt.Sprintf("a %T", v)
	}
	return fmt.Errorf("%s: got %s, want %s", p, got, want)
}

// structFields are the JSON fields of a struct type.
type structFields struct {
	byName map[string]field
	// opaque: the type has its own UnmarshalJSON and no named json
	// fields, so its JSON form is not its fields (Quantity, Time, ...).
	opaque bool
}

type field struct{ typ reflect.Type }

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf returns the JSON fields of struct type t (nil for other
// kinds), following encoding/json: embedded structs without a name are
// inlined, "-" is skipped, the tag name or else the Go name is the key.
func fieldsOf(t reflect.Type) *structFields {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]field{}}
	named := collect(t, sf.byName)
	sf.opaque = reflect.PointerTo(t).Implements(unmarshalerType) && !named
	fieldCache.Store(t, sf)
	return sf
}

// collect adds t's JSON fields to into and reports whether any field has
// a name from a json tag. Fields of embedded structs come second and
// never replace a field of the same name declared directly, as in
// encoding/json, where the shallower field wins.
func collect(t reflect.Type, into map[string]field) bool {
	named := false
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && (name == "" || opts == "inline") && ft.Kind() == reflect.Struct {
			embedded = append(embedded, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		} else {
			named = true
		}
		into[name] = field{typ: f.Type}
	}
	for _, et := range embedded {
		inner := map[string]field{}
		named = collect(et, inner) || named
		for k, f := range inner {
			if _, ok := into[k]; !ok {
				into[k] = f
			}
		}
	}
	return named
}
