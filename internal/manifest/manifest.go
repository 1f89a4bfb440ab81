// Package manifest reads and writes manifest sets: a multi-document YAML
// stream, a directory that is a kustomize base (one file per object plus
// kustomization.yaml), and the in-process build of a kustomization.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Encode writes objs to w as a YAML stream, documents separated by
// "---". The same objects always give the same bytes.
func Encode(w io.Writer, objs []*unstructured.Unstructured) error {
	e := &emitter{buf: make([]byte, 0, 64<<10)}
	for i, o := range objs {
		if i > 0 {
			e.buf = append(e.buf, "---\n"...)
		}
		if err := e.value(o.Object, 0, 0); err != nil {
			return fmt.Errorf("encoding %s: %w", describe(o), err)
		}
		// Flush in chunks: the whole stream of 10,000 VMs need not sit
		// in memory twice.
		if len(e.buf) >= 32<<10 || i == len(objs)-1 {
			if _, err := w.Write(e.buf); err != nil {
				return fmt.Errorf("writing manifests: %w", err)
			}
			e.buf = e.buf[:0]
		}
	}
	return nil
}

// Marshal returns one object as a YAML document.
func Marshal(obj *unstructured.Unstructured) ([]byte, error) {
	e := &emitter{buf: make([]byte, 0, 4<<10)}
	if err := e.value(obj.Object, 0, 0); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", describe(obj), err)
	}
	return e.buf, nil
}

// Decode reads a stream of YAML documents (separated by "---") or of
// JSON objects into objects. Empty documents are skipped; a List's items
// are returned in its place. Errors name the document by its position
// (from 1).
func Decode(r io.Reader) ([]*unstructured.Unstructured, error) {
	br := bufio.NewReader(r)
	if isJSON(br) {
		return decodeJSON(br)
	}
	var objs []*unstructured.Unstructured
	for doc, err := range documents(br) {
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		j, err := yaml.YAMLToJSON(doc.data)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d (line %d): %w", doc.index, doc.line, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // empty or comments only
		}
		objs, err = appendObject(objs, j)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d (line %d): %w", doc.index, doc.line, err)
		}
	}
	return objs, nil
}

type document struct {
	data  []byte
	index int // from 1, counting empty documents as well
	line  int // of the document's first line
}

// documents splits a YAML stream at "---" lines. Unlike
// utilyaml.YAMLReader it counts empty documents, so that an index in an
// error is the one a reader counting separators finds. Text before the
// first "---" is a document only if it is not blank.
func documents(r *bufio.Reader) func(yield func(document, error) bool) {
	return func(yield func(document, error) bool) {
		var cur bytes.Buffer
		index, line, start := 1, 0, 1
		first := true
		emit := func() bool {
			if first {
				first = false
				if len(bytes.TrimSpace(cur.Bytes())) == 0 {
					return true // nothing before the first separator
				}
			}
			ok := yield(document{data: bytes.Clone(cur.Bytes()), index: index, line: start}, nil)
			index++
			cur.Reset()
			return ok
		}
		for {
			l, err := r.ReadBytes('\n')
			if len(l) > 0 {
				line++
				if isSeparator(l) {
					if !emit() {
						return
					}
					start = line + 1
				} else {
					cur.Write(l)
				}
			}
			if errors.Is(err, io.EOF) {
				emit()
				return
			}
			if err != nil {
				yield(document{}, err)
				return
			}
		}
	}
}

// isSeparator: "---" alone or followed by white space or a comment.
func isSeparator(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// isJSON reports whether the stream starts with "{" (after white space).
func isJSON(br *bufio.Reader) bool {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil || len(b) < n {
			return false
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
}

func decodeJSON(r io.Reader) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := json.NewDecoder(r)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("JSON document %d: %w", doc, err)
		}
		if objs, err = appendObject(objs, raw); err != nil {
			return nil, fmt.Errorf("JSON document %d: %w", doc, err)
		}
	}
}

// appendObject decodes one JSON object (integers become int64, as the
// API machinery expects) and appends it, or a List's items, to objs.
func appendObject(objs []*unstructured.Unstructured, j []byte) ([]*unstructured.Unstructured, error) {
	if t := bytes.TrimSpace(j); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("not an object (a mapping with apiVersion and kind)")
	}
	o := &unstructured.Unstructured{}
	if err := o.UnmarshalJSON(j); err != nil {
		// The API machinery's message quotes the whole object.
		var tm struct{ APIVersion, Kind string }
		if json.Unmarshal(j, &tm) == nil && (tm.APIVersion == "" || tm.Kind == "") {
			return nil, fmt.Errorf("an object needs both apiVersion and kind")
		}
		return nil, err
	}
	if o.IsList() {
		list, err := o.ToList()
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
		return objs, nil
	}
	if o.GetName() == "" && o.GetGenerateName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", o.GetKind())
	}
	return append(objs, o), nil
}

// describe names obj for errors: "VirtualMachine virtwork/cpu-1".
func describe(obj *unstructured.Unstructured) string {
	var b strings.Builder
	if k := obj.GetKind(); k != "" {
		b.WriteString(k)
	} else {
		b.WriteString("object")
	}
	b.WriteByte(' ')
	if ns := obj.GetNamespace(); ns != "" {
		b.WriteString(ns + "/")
	}
	b.WriteString(obj.GetName())
	return b.String()
}
