package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/diff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CheckDir compares dir with what WriteDir would write there for objs,
// writing nothing. It returns a unified diff from dir's files to the
// rendered ones (files added, removed and changed; "" when dir holds
// exactly the render), for CI to fail on a render that is out of date.
func CheckDir(dir string, objs []*unstructured.Unstructured) (string, error) {
	files, err := encodeFiles(objs)
	if err != nil {
		return "", err
	}
	want := make(map[string][]byte, len(files))
	names := make([]string, 0, len(files))
	for _, f := range files {
		want[f.name] = f.data
		names = append(names, f.name)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A wrong path, or a render never committed: either way a
		// diff adding every file would bury the cause.
		return "", fmt.Errorf("--check -o %s: no such directory: give the committed render (write it with virtwork render -o %s)", dir, dir)
	case err != nil:
		return "", fmt.Errorf("--check -o %s: %w", dir, err)
	}
	var notes []string
	for _, e := range entries {
		if _, ok := want[e.Name()]; ok {
			continue
		}
		if !e.Type().IsRegular() {
			notes = append(notes, fmt.Sprintf("Only in %s: %s (not a regular file; render -o refuses a directory holding it)\n", dir, e.Name()))
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	var out strings.Builder
	for _, name := range names {
		path := filepath.Join(dir, name)
		have, err := os.ReadFile(path)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("--check %s: %w", dir, err)
		}
		rendered, inRender := want[name]
		text, err := unified(path, have, exists, rendered, inRender)
		if err != nil {
			return "", err
		}
		out.WriteString(text)
	}
	for _, n := range notes {
		out.WriteString(n)
	}
	return out.String(), nil
}

// CheckFile compares the YAML stream in path with Encode's output for objs
// and returns a unified diff ("" when they are the same). A path that does
// not exist is an error, as for CheckDir.
func CheckFile(path string, objs []*unstructured.Unstructured) (string, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return "", fmt.Errorf("--check %s: is a directory: compare a rendered directory with -o %s --check", path, path)
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--check %s: no such file: give the committed stream (write it with virtwork render > %s)", path, path)
	case err != nil:
		return "", fmt.Errorf("--check %s: %w", path, err)
	}
	defer f.Close()
	return CheckStream(path, f, objs)
}

// CheckStream is CheckFile for a stream read from r (--check - reads
// stdin), named name in the diff.
func CheckStream(name string, r io.Reader, objs []*unstructured.Unstructured) (string, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, objs); err != nil {
		return "", err
	}
	have, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("--check %s: %w", name, err)
	}
	return unified(name, have, true, buf.Bytes(), true)
}

// unified diffs the committed content of path (if it exists) against the
// rendered one (if rendered); a side that does not exist is /dev/null,
// as in git diff. It uses the anchored diff of Go's own tools (through
// go-internal), which takes linear time on a render's many repeated lines
// where difflib's takes seconds per thousand VMs.
func unified(path string, have []byte, exists bool, want []byte, rendered bool) (string, error) {
	if exists == rendered && bytes.Equal(have, want) {
		return "", nil
	}
	from, to := path, path
	if !exists {
		from = "/dev/null"
	}
	if !rendered {
		to = "/dev/null"
	}
	return string(diff.Diff(from, have, to, want)), nil
}
