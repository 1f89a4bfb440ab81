package render

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

type inner struct {
	Shared string `json:"shared"`
	Deep   int32  `json:"deep"`
}

type outer struct {
	inner  `json:",inline"`
	Shared int               `json:"shared"` // shadows inner.Shared
	Size   resource.Quantity `json:"size"`
	Raw    []byte            `json:"raw"`
	Small  uint8             `json:"small"`
	Any    any               `json:"any"`
	List   []*inner          `json:"list"`
	hidden string
}

func TestStrictDecode(t *testing.T) {
	typ := reflect.TypeFor[outer]()
	ok := map[string]any{
		"shared": int64(1), "deep": int64(-5), "size": "2Gi", "raw": "eA==", "small": int64(255),
		"any": map[string]any{"x": []any{true}}, "list": []any{map[string]any{"deep": 3.0}, nil},
	}
	if err := strictDecode(ok, typ); err != nil {
		t.Fatalf("valid value: %v", err)
	}
	bad := []struct {
		field string
		value any
		want  string
	}{
		{"shared", "one", "shared: got a string, want an integer"}, // the outer field wins
		{"Shared", int64(1), `unknown field "Shared"`},             // names are case-sensitive
		{"hidden", "x", `unknown field "hidden"`},
		{"size", "lots", "size: quantities must match"},
		{"raw", "not base64!", "raw: not base64"},
		{"small", int64(256), "small: 256 is out of range for uint8"},
		{"deep", 1.5, "deep: got a number, want an integer"},
		{"list", []any{map[string]any{"deeper": int64(1)}}, `unknown field "list[0].deeper"`},
		{"list", map[string]any{}, "list: got an object, want a list"},
	}
	for _, b := range bad {
		v := map[string]any{}
		for k, x := range ok {
			v[k] = x
		}
		v[b.field] = b.value
		err := strictDecode(v, typ)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s = %#v: got %v, want an error containing %q", b.field, b.value, err, b.want)
		}
	}
}
