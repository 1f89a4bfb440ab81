package manifest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// emitter writes JSON-shaped values (what unstructured objects hold:
// maps with string keys, lists, strings, int64, float64, bool, nil) as
// block YAML the way kubectl prints it: keys sorted, 2-space indent, a
// list under a key at the key's own indent, list items that are maps
// written as "- key: value".
//
// It exists for speed: sigs.k8s.io/yaml goes through encoding/json and a
// YAML node tree and dominated the time of rendering 10,000 VMs. What
// makes it safe is the scalar rule (see plainOK): a string is written
// bare only when no YAML 1.1 or 1.2 reader can take it for anything but
// that string; everything else is double-quoted with escapes. The fuzz
// test holds both readers (yaml.v3 and sigs.k8s.io/yaml) to that.
type emitter struct {
	buf []byte
	// keys holds one reusable slice per nesting depth for sorting map
	// keys without allocating for every map.
	keys [][]string
}

func (e *emitter) value(v any, indent, depth int) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) > 0 {
			return e.mapping(v, indent, depth, false)
		}
	case []any:
		if len(v) > 0 {
			return e.sequence(v, indent, depth, false)
		}
	}
	if err := e.flow(v); err != nil {
		return err
	}
	e.buf = append(e.buf, '\n')
	return nil
}

// mapping writes m's entries at indent; with inline the first one follows
// on the current line (after "- ").
func (e *emitter) mapping(m map[string]any, indent, depth int, inline bool) error {
	for len(e.keys) <= depth {
		e.keys = append(e.keys, nil)
	}
	keys := e.keys[depth][:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.keys[depth] = keys
	for i, k := range keys {
		if i > 0 || !inline {
			e.indent(indent)
		}
		start := len(e.buf)
		e.str(k)
		// YAML limits an implicit key to 1024 characters (counted here,
		// more strictly, in bytes); a longer one needs the explicit form
		// "? key" NL ": value", whose value is indented like a list item.
		explicit := len(e.buf)-start > maxImplicitKey
		valueIndent := indent
		if explicit {
			key := slices.Clone(e.buf[start:])
			e.buf = append(append(append(e.buf[:start], '?', ' '), key...), '\n')
			e.indent(indent)
			valueIndent = indent + 2
		}
		e.buf = append(e.buf, ':')
		switch v := m[k].(type) {
		case map[string]any:
			if len(v) > 0 {
				e.buf = append(e.buf, '\n')
				if err := e.mapping(v, valueIndent+2, depth+1, false); err != nil {
					return err
				}
				continue
			}
		case []any:
			if len(v) > 0 {
				e.buf = append(e.buf, '\n')
				if err := e.sequence(v, valueIndent, depth+1, false); err != nil {
					return err
				}
				continue
			}
		}
		e.buf = append(e.buf, ' ')
		if s, ok := m[k].(string); ok && blockOK(s) {
			e.block(s, valueIndent+2)
			continue
		}
		if err := e.flow(m[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		e.buf = append(e.buf, '\n')
	}
	return nil
}

// sequence writes the items of l at indent, each after "- "; with inline
// the first one follows on the current line.
func (e *emitter) sequence(l []any, indent, depth int, inline bool) error {
	for i, item := range l {
		if i > 0 || !inline {
			e.indent(indent)
		}
		e.buf = append(e.buf, '-', ' ')
		switch v := item.(type) {
		case map[string]any:
			if len(v) > 0 {
				if err := e.mapping(v, indent+2, depth+1, true); err != nil {
					return err
				}
				continue
			}
		case []any:
			if len(v) > 0 {
				if err := e.sequence(v, indent+2, depth+1, true); err != nil {
					return err
				}
				continue
			}
		}
		if s, ok := item.(string); ok && blockOK(s) {
			e.block(s, indent+2)
			continue
		}
		if err := e.flow(item); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		e.buf = append(e.buf, '\n')
	}
	return nil
}

// maxImplicitKey is the longest key written in the usual "key: value"
// form; YAML allows 1024 characters up to the ":".
const maxImplicitKey = 1000

func (e *emitter) indent(n int) {
	for range n {
		e.buf = append(e.buf, ' ')
	}
}

// flow writes a scalar or an empty collection on the current line.
func (e *emitter) flow(v any) error {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.str(v)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%v is not a JSON number", v)
		}
		// Shortest form that reads back as the same float64; a whole
		// number may come out as an int ("3"), which JSON does not
		// distinguish either.
		e.buf = strconv.AppendFloat(e.buf, v, 'g', -1, 64)
	case map[string]any:
		if len(v) > 0 {
			return fmt.Errorf("non-empty map in flow position") // unreachable by construction
		}
		e.buf = append(e.buf, '{', '}')
	case []any:
		if len(v) > 0 {
			return fmt.Errorf("non-empty list in flow position") // unreachable by construction
		}
		e.buf = append(e.buf, '[', ']')
	default:
		return fmt.Errorf("cannot encode a %T as YAML: objects hold only JSON types", v)
	}
	return nil
}

// block writes s, which blockOK accepted, as a literal block scalar
// ("|" or "|-") with its lines at indent, ending the line: multi-line
// text (cloud-init user data, scripts, unit files) reads in a review as
// it will be in the guest.
func (e *emitter) block(s string, indent int) {
	body, clip := strings.CutSuffix(s, "\n")
	if clip {
		e.buf = append(e.buf, '|', '\n')
	} else {
		e.buf = append(e.buf, '|', '-', '\n')
	}
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" { // empty lines stay empty: no trailing spaces
			e.indent(indent)
			e.buf = append(e.buf, line...)
		}
		e.buf = append(e.buf, '\n')
	}
}

// blockOK reports whether s may be written as a literal block scalar and
// read back by YAML 1.1 and 1.2 readers as the very same string. Like
// plainOK it is deliberately narrow:
//   - s has a line break, and ends in at most one (more would need the
//     "keep" chomping indicator, which readers treat less alike);
//   - its first line is not empty and starts with neither a space nor a
//     tab, so the readers detect the indentation from it (no explicit
//     indentation indicator is needed);
//   - no line ends in a space or tab, and no line is white space only:
//     readers differ on trailing white space around chomping;
//   - every character is printable in YAML's sense and no line break
//     other than "\n" (CR, NEL, LS, PS) or byte order mark appears, since
//     a block scalar cannot escape anything.
func blockOK(s string) bool {
	body, _ := strings.CutSuffix(s, "\n")
	if !strings.Contains(body, "\n") && len(body) == len(s) {
		return false // one line: a flow scalar reads as well
	}
	if body == "" || body[0] == ' ' || body[0] == '\t' || body[0] == '\n' || body[len(body)-1] == '\n' {
		return false
	}
	prev := byte('\n')
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\n':
				if prev == ' ' || prev == '\t' {
					return false
				}
			case c == '\t' || c >= 0x20 && c != 0x7f:
			default:
				return false
			}
			prev = c
			continue
		}
		r, size := utf8.DecodeRuneInString(body[i:])
		i += size
		if r == utf8.RuneError && size == 1 || needsEscape(r) {
			return false
		}
		prev = 'x'
	}
	return prev != ' ' && prev != '\t'
}

// str writes s bare when plainOK says so, else double-quoted.
func (e *emitter) str(s string) {
	if plainOK(s) {
		e.buf = append(e.buf, s...)
		return
	}
	e.buf = appendQuoted(e.buf, s)
}

// plainOK reports whether s may be written as a plain (unquoted) scalar
// and read back by YAML 1.1 (sigs.k8s.io/yaml, kubectl) and YAML 1.2
// (yaml.v3) readers as the very same string. It is deliberately narrow:
//   - the first character is an ASCII letter, a digit or "/", so s is no
//     indicator ("-", "?", ":", "&", "*", "!", "|", ">", "'", "\"", "%",
//     "@", "`", "#", ",", "[", "]", "{", "}", "~"), no ".inf"/".nan" and
//     no document marker;
//   - every other character is an ASCII letter, digit or one of
//     "-_./+=@", or a ":" followed by one of those (so never ": " or a
//     trailing ":"), or a single space between two of those, so no
//     comment (" #"), no mapping indicator and no leading or trailing
//     white space; nothing else (quotes, control or non-ASCII
//     characters, line breaks) can appear;
//   - starting with a letter it is none of the words YAML 1.1 reads as
//     booleans or null (y, n, yes, no, on, off, true, false, null, any
//     case): those are the only plain scalars starting with a letter that
//     resolve to something else;
//   - starting with a digit it has no ":" or space (YAML 1.1 base-60
//     numbers, timestamps) and contains a letter that cannot occur in any
//     number (anything but the hex digits a-f and the x, o, b, e of
//     0x/0o/0b prefixes and exponents), so "10Gi" stays bare while
//     "0644", "1e3", "0x1F", "1_000" and "2024-01-02" are quoted.
func plainOK(s string) bool {
	if s == "" {
		return false
	}
	c0 := s[0]
	digitStart := false
	switch {
	case isLetter(c0):
		if reservedWord(s) {
			return false
		}
	case isDigit(c0):
		digitStart = true
	case c0 == '/':
	default:
		return false
	}
	nonNumberLetter := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
			if !isNumberLetter(c) {
				nonNumberLetter = true
			}
		case isDigit(c), c == '-', c == '_', c == '.', c == '/', c == '+', c == '=', c == '@':
		case c == ':' || c == ' ':
			if digitStart || i+1 == len(s) || !isPlainChar(s[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	return !digitStart || nonNumberLetter
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// isPlainChar: the characters that may follow ":" or " " in a plain
// scalar (see plainOK).
func isPlainChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '+' || c == '=' || c == '@'
}

// isNumberLetter: letters that can occur in a YAML 1.1 or 1.2 number.
func isNumberLetter(c byte) bool {
	switch c | 0x20 { // lower case
	case 'a', 'b', 'c', 'd', 'e', 'f', 'o', 'x':
		return true
	}
	return false
}

func reservedWord(s string) bool {
	if len(s) > 5 {
		return false
	}
	var lower [5]byte
	for i := 0; i < len(s); i++ {
		lower[i] = s[i] | 0x20
	}
	switch string(lower[:len(s)]) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return true
	}
	return false
}

// appendQuoted writes s as a YAML double-quoted scalar. Only '"', '\\'
// and characters outside YAML's printable set (or that YAML treats as
// line breaks or a byte order mark: U+0085, U+2028, U+2029, U+FEFF) are
// escaped; everything else is written as is. An invalid UTF-8 byte is
// written as U+FFFD, as encoding/json does.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'x', hexDigit[c>>4], hexDigit[c&0xf])
			default:
				b = append(b, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\uFFFD`...)
		case needsEscape(r):
			if r <= 0xffff {
				b = append(b, '\\', 'u')
				b = appendHex(b, uint32(r), 4)
			} else {
				b = append(b, '\\', 'U')
				b = appendHex(b, uint32(r), 8)
			}
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// needsEscape: a non-ASCII rune outside YAML's printable set, or one YAML
// treats as a line break or byte order mark.
func needsEscape(r rune) bool {
	return r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff || !unicode.IsPrint(r)
}

const hexDigit = "0123456789ABCDEF"

func appendHex(b []byte, v uint32, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hexDigit[(v>>(4*uint(i)))&0xf])
	}
	return b
}
