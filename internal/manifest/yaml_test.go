package manifest

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	yamlv3 "gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"
)

func emit(t testing.TB, v any) string {
	t.Helper()
	e := &emitter{}
	if err := e.value(v, 0, 0); err != nil {
		t.Fatalf("emit %#v: %v", v, err)
	}
	return string(e.buf)
}

func TestEmitterLayout(t *testing.T) {
	v := map[string]any{
		"kind": "VirtualMachine",
		"spec": map[string]any{
			"running": nil,
			"list": []any{
				map[string]any{"name": "a", "disk": map[string]any{"bus": "virtio"}},
				"x",
				[]any{"n1", map[string]any{"k": int64(1)}},
				map[string]any{},
				[]any{},
			},
			"empty": map[string]any{},
			"none":  []any{},
			"num":   3.5,
			"yes":   true,
		},
		"apiVersion": "kubevirt.io/v1",
	}
	want := `apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  empty: {}
  list:
  - disk:
      bus: virtio
    name: a
  - x
  - - n1
    - k: 1
  - {}
  - []
  none: []
  num: 3.5
  running: null
  "yes": true
`
	if got := emit(t, v); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// Multi-line strings are literal blocks a reviewer reads as they are;
// what a block cannot hold exactly stays double-quoted.
func TestEmitterBlocks(t *testing.T) {
	v := map[string]any{
		"userdata": "#cloud-config\nruncmd:\n  - [echo, hi]\n\n# end\n",
		"script":   "set -eu\necho x",
		"list":     []any{"a\nb\n", map[string]any{"k": "c\nd\n"}},
		"trailing": "a \nb\n",
		"kept":     "a\n\n",
		"indented": "  a\nb\n",
	}
	want := `indented: "  a\nb\n"
kept: "a\n\n"
list:
- |
  a
  b
- k: |
    c
    d
script: |-
  set -eu
  echo x
trailing: "a \nb\n"
userdata: |
  #cloud-config
  runcmd:
    - [echo, hi]

  # end
`
	if got := emit(t, v); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	roundTrip(t, v)
}

func TestPlainOK(t *testing.T) {
	plain := []string{
		"virtwork", "cpu-1", "2Gi", "10Gi", "500m", "100Mi", "kubevirt.io/v1", "app.kubernetes.io/name",
		"/mnt/data", "quay.io/containerdisks/fedora:41", "a b", "ALL=(ALL)"[:4], "x@y", "Always", "12h",
	}
	quoted := []string{
		"", "yes", "Yes", "NO", "on", "Off", "y", "N", "true", "False", "null", "Null", "~",
		"0644", "1e3", "1E3", "0x1F", "0o17", "0b101", "1_000", "1.5", "-1", "+1", ".inf", "-.Inf", ".NaN",
		"1:20", "2024-01-02", "2001-12-14t21:59:43.10-05:00", "a: b", "a:", "- a", "-", "#", "a #b", "? x",
		" lead", "trail ", "a  b", "two\nlines", "tab\there", "é", "'q'", `"q"`, "{a}", "[a]", "&a", "*a", "!t",
		"|", ">", "%x", "@x", "`x", ",x", "<<", "=", "a\u2028b",
	}
	for _, s := range plain {
		if !plainOK(s) {
			t.Errorf("plainOK(%q) = false, want true", s)
		}
	}
	for _, s := range quoted {
		if plainOK(s) {
			t.Errorf("plainOK(%q) = true, want false", s)
		}
	}
}

// trickyStrings seed both fuzz targets: YAML 1.1 and 1.2 booleans, nulls
// and numbers, indicators, white space, control characters, line breaks
// and unicode.
var trickyStrings = []string{
	"", "yes", "no", "on", "off", "y", "n", "Y", "NO", "true", "False", "null", "NULL", "~",
	"0x1F", "0o17", "0b11", "0777", "1e3", "-1e-3", "1_000", "1:20", "190:20:30", ".inf", "-.inf", ".nan",
	"+12", "0.", "1.", "2024-01-02", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
	": ", "a: b", "- ", "-", "--- ", "---", "...", "#", "a #b", "a#b", "? ", "?", "|", ">", "!", "&a", "*a", "%YAML",
	"'", "\"", "\\", "`", "@", ",", "[", "]", "{", "}", "<<", "=",
	" lead", "trail ", " ", "\t", "a\tb", "line\nbreak", "\n", "\r\n", "trail\n", "\n\nx\n\n",
	"\x00", "\x01\x1f\x7f", "\u0085", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ufffd", "\U0001F600", "é", "日本",
	"10Gi", "2Gi", "500m", "quay.io/containerdisks/fedora:41", "http://x:80/p?q=1#f", "a::b", "a: ", "x:",
	// Multi-line text, which may become a literal block.
	"#cloud-config\npackages:\n  - fio\n", "a\nb", "a\n\n  b\n", "a\n\tb\n", "a\n#c\n", "x\n---\n...\n",
	"a\n- b\n: c\n", "a \nb", "a\n \n", "a\n\n", "a\n\n\n", "a\r\nb\n", "é\n日本\n", "|\n", "- x\n  y\n",
}

func FuzzRoundTripString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\ufffd")
		}
		roundTrip(t, map[string]any{s: s, "list": []any{s, map[string]any{s: []any{s}}}})
	})
}

func FuzzRoundTripValue(f *testing.F) {
	f.Add([]byte{6, 3, 4, 0, 7, 2, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f})
	f.Add([]byte{7, 4, 6, 2, 4, 9, 4, 10, 7, 0, 6, 0, 1, 1, 5, 3, 'a', ':', ' '})
	for i := range trickyStrings {
		f.Add([]byte{6, 2, 4, byte(i), 4, byte(i + 1), 4, byte(i + 2), 7, 1, 4, byte(i + 3)})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		v := g.value(0)
		if _, ok := v.(map[string]any); !ok {
			v = map[string]any{"v": v} // a document is an object
		}
		roundTrip(t, v)
	})
}

// roundTrip encodes v and reads it back with a YAML 1.2 reader (yaml.v3)
// and the YAML 1.1 reader kubectl uses (sigs.k8s.io/yaml); both must give
// v again, compared as JSON values.
func roundTrip(t *testing.T, v any) {
	t.Helper()
	out := emit(t, v)
	want := viaJSON(t, v)

	var v3 any
	if err := yamlv3.Unmarshal([]byte(out), &v3); err != nil {
		t.Fatalf("yaml.v3 cannot read:\n%s\nerror: %v", out, err)
	}
	if got := viaJSON(t, v3); !reflect.DeepEqual(got, want) {
		t.Fatalf("yaml.v3 reads back\n%#v\nwant\n%#v\nfrom\n%s", got, want, out)
	}
	var s any
	if err := sigsyaml.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("sigs.k8s.io/yaml cannot read:\n%s\nerror: %v", out, err)
	}
	if got := viaJSON(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("sigs.k8s.io/yaml reads back\n%#v\nwant\n%#v\nfrom\n%s", got, want, out)
	}
}

// viaJSON normalizes a value to what encoding/json makes of it (numbers
// become float64, maps map[string]any).
func viaJSON(t *testing.T, v any) any {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	var out any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// gen turns fuzz bytes into a JSON-shaped value.
type gen struct {
	data []byte
	pos  int
}

func (g *gen) byte() byte {
	if g.pos >= len(g.data) {
		return 0
	}
	b := g.data[g.pos]
	g.pos++
	return b
}

func (g *gen) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = g.byte()
	}
	return out
}

func (g *gen) value(depth int) any {
	kind := g.byte() % 8
	if depth > 4 && kind >= 6 {
		kind = 4
	}
	switch kind {
	case 0:
		return nil
	case 1:
		return g.byte()%2 == 1
	case 2:
		return int64(binary.LittleEndian.Uint64(g.bytes(8)))
	case 3:
		f := math.Float64frombits(binary.LittleEndian.Uint64(g.bytes(8)))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = -0.5
		}
		return f
	case 4, 5:
		return g.str()
	case 6:
		n := int(g.byte() % 5)
		m := make(map[string]any, n)
		for range n {
			m[g.str()] = g.value(depth + 1)
		}
		return m
	default:
		n := int(g.byte() % 5)
		l := make([]any, 0, n)
		for range n {
			l = append(l, g.value(depth+1))
		}
		return l
	}
}

// str picks a tricky string, or takes raw bytes, or glues two tricky
// strings together.
func (g *gen) str() string {
	b := g.byte()
	switch {
	case b < 128:
		return trickyStrings[int(b)%len(trickyStrings)]
	case b < 192:
		return trickyStrings[int(g.byte())%len(trickyStrings)] + trickyStrings[int(g.byte())%len(trickyStrings)]
	default:
		return strings.ToValidUTF8(string(g.bytes(int(b-192)%16)), "\ufffd")
	}
}

func TestLongKeys(t *testing.T) {
	long := strings.Repeat("k", 1100)
	v := map[string]any{
		long + "1": "scalar",
		long + "2": map[string]any{"a": int64(1)},
		long + "3": []any{"x", map[string]any{long: []any{"y"}}},
		"list":     []any{map[string]any{long: "in a list", "b": true}},
	}
	roundTrip(t, v)
	if out := emit(t, v); !strings.Contains(out, "? "+long+"1\n: scalar\n") {
		t.Errorf("long key not in explicit form:\n%.200s", out)
	}
}
