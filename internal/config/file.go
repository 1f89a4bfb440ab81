package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is a parsed config file: top-level settings plus per-workload ones.
type file struct {
	raw
	perWorkload          map[string]fileWorkload
	historyDB, noHistory *string
	overlays             Overlays
	workloadOverlays     map[string]Overlays
}

// fileWorkload is one entry of the file's workloads: map, values as
// written, with their source for errors.
type fileWorkload struct {
	values map[string]*string // key -> value
	source map[string]string  // key -> "file:line: workloads.cpu.vmCount"
	at     string             // "file:line" of the entry
}

var workloadKeys = []string{"enabled", "vmCount", "cpuCores", "memory", "diskSize", "params", "vm", "dataVolume", "service"}

// readFile parses a config file. Every unknown key is an error naming the
// key and its line.
func readFile(path string) (*file, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config file %s: no such file (check --config or VIRTWORK_CONFIG)", path)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: not valid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document; the config file holds one mapping of settings", path, extra.Line)
	}
	f := &file{raw: raw{source: map[string]string{}}, perWorkload: map[string]fileWorkload{}}
	if len(doc.Content) == 0 { // empty file: nothing set
		return f, nil
	}
	top := doc.Content[0]
	at := func(n *yaml.Node, key string) string { return fmt.Sprintf("%s:%d: %s", path, n.Line, key) }
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: the config file must be a mapping of settings (key: value)", at(top, "top level"))
	}
	known := []string{"workloads", "historyDb", "noHistory", "vm", "dataVolume", "service"}
	for _, s := range settings {
		if s.key != "workloads" && s.field != "Params" {
			known = append(known, s.key)
		}
	}
	slots := f.scalars()
	if err := noDuplicates(top, path, ""); err != nil {
		return nil, err
	}
	if f.overlays, f.workloadOverlays, err = overlays(path, data); err != nil {
		return nil, err
	}
	for i := 0; i < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		s, ok := settingByKey(k.Value)
		switch {
		case k.Value == "historyDb" || k.Value == "noHistory":
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: must be a single value", at(k, k.Value))
			}
			if k.Value == "historyDb" {
				f.historyDB = ptr(v.Value)
			} else {
				f.noHistory = ptr(v.Value)
				f.source["noHistory"] = at(k, k.Value)
			}
			continue
		case overlayKinds[k.Value] != "":
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s: must be a mapping shaped like a %s", at(k, k.Value), overlayKinds[k.Value])
			}
			continue
		case k.Value == "workloads":
			if err := f.readWorkloads(v, path, at); err != nil {
				return nil, err
			}
			continue
		case !ok:
			return nil, unknownKey(fmt.Sprintf("%s:%d:", path, k.Line), k.Value, known)
		}
		src := at(k, k.Value)
		switch s.field {
		case "NodeSelector":
			items, err := stringList(v, src)
			if err != nil {
				return nil, err
			}
			f.NodeSelector = items
			f.source[s.field] = src
		case "SSHKeys", "SSHKeyFiles":
			items, err := stringList(v, src)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if s.field == "SSHKeys" {
					f.SSHKeys = append(f.SSHKeys, sourced{it, src})
				} else {
					f.SSHKeyFiles = append(f.SSHKeyFiles, sourced{it, src})
				}
			}
		default:
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: must be a single value, not a list or mapping", src)
			}
			*slots[s.field] = ptr(v.Value)
			f.source[s.field] = src
		}
	}
	return f, nil
}

func (f *file) readWorkloads(v *yaml.Node, path string, at func(*yaml.Node, string) string) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: must be a mapping of workload name to settings (%s)", at(v, "workloads"), strings.Join(workloadKeys, ", "))
	}
	if err := noDuplicates(v, path, "workloads."); err != nil {
		return err
	}
	for i := 0; i < len(v.Content); i += 2 {
		name, body := v.Content[i], v.Content[i+1]
		if err := ValidateName(name.Value); err != nil {
			return fmt.Errorf("%s: %q is not a valid workload name: %v", at(name, "workloads"), name.Value, err)
		}
		fw := fileWorkload{values: map[string]*string{}, source: map[string]string{}, at: at(name, "")}
		if body.Kind == yaml.ScalarNode && (body.Tag == "!!null" || body.Value == "") {
			f.perWorkload[name.Value] = fw
			continue
		}
		if body.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: must be a mapping of settings (%s)", at(body, "workloads."+name.Value), strings.Join(workloadKeys, ", "))
		}
		if err := noDuplicates(body, path, "workloads."+name.Value+"."); err != nil {
			return err
		}
		for j := 0; j < len(body.Content); j += 2 {
			k, val := body.Content[j], body.Content[j+1]
			if !slices.Contains(workloadKeys, k.Value) {
				return unknownKey(at(k, "workloads."+name.Value+":"), k.Value, workloadKeys)
			}
			src := at(k, "workloads."+name.Value+"."+k.Value)
			if k.Value == "params" {
				if err := f.readParams(name.Value, val, path, at); err != nil {
					return err
				}
				continue
			}
			if kind := overlayKinds[k.Value]; kind != "" {
				if val.Kind != yaml.MappingNode {
					return fmt.Errorf("%s: must be a mapping shaped like a %s", src, kind)
				}
				continue
			}
			if val.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: must be a single value", src)
			}
			fw.values[k.Value] = ptr(val.Value)
			fw.source[k.Value] = src
		}
		f.perWorkload[name.Value] = fw
	}
	return nil
}

// readParams reads workloads.W.params, a mapping of parameter to value.
func (f *file) readParams(w string, v *yaml.Node, path string, at func(*yaml.Node, string) string) error {
	prefix := "workloads." + w + ".params"
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: must be a mapping of parameter to value (see 'virtwork workloads show %s')", at(v, prefix), w)
	}
	if err := noDuplicates(v, path, prefix+"."); err != nil {
		return err
	}
	for i := 0; i < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		src := at(k, prefix+"."+k.Value)
		if val.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: must be a single value", src)
		}
		f.Params = append(f.Params, sourced{w + "." + k.Value + "=" + val.Value, src})
	}
	return nil
}

func settingByKey(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// unknownKey reports a key the file may not hold, with a suggestion when
// the key differs from a known one only in case or separators.
func unknownKey(where, key string, known []string) error {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
	}
	for _, k := range known {
		if norm(k) == norm(key) {
			return fmt.Errorf("%s unknown key %q (did you mean %q?)", where, key, k)
		}
	}
	return fmt.Errorf("%s unknown key %q (known keys: %s)", where, key, strings.Join(known, ", "))
}

func stringList(v *yaml.Node, src string) ([]string, error) {
	switch v.Kind {
	case yaml.SequenceNode:
		out := []string{}
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: list items must be strings", src)
			}
			out = append(out, it.Value)
		}
		return out, nil
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, nil
		}
		return []string{v.Value}, nil
	}
	return nil, fmt.Errorf("%s: must be a list of strings", src)
}

// resolve validates one workload's settings from the file.
func (fw fileWorkload) resolve(name string) (WorkloadSettings, error) {
	ws := WorkloadSettings{Source: strings.TrimSuffix(strings.TrimSpace(fw.at), ":")}
	bad := func(key, why string) error {
		return fmt.Errorf("%s %q: %s", fw.source[key], *fw.values[key], why)
	}
	if v := fw.values["enabled"]; v != nil {
		switch strings.ToLower(*v) {
		case "true":
			ws.Enabled = ptr(true)
		case "false":
			ws.Enabled = ptr(false)
		default:
			return ws, bad("enabled", "must be true or false")
		}
	}
	if v := fw.values["vmCount"]; v != nil {
		n, err := parseCount(v)
		if err != nil {
			return ws, bad("vmCount", err.Error())
		}
		ws.VMCount = &n
	}
	if v := fw.values["cpuCores"]; v != nil {
		n, err := parseCount(v)
		if err != nil {
			return ws, bad("cpuCores", err.Error())
		}
		ws.CPUCores = &n
	}
	quantities := []struct {
		key string
		dst **resourceQuantity
		min resourceQuantity
	}{{"memory", &ws.Memory, minMemory}, {"diskSize", &ws.DiskSize, minDisk}}
	for _, qt := range quantities {
		if v := fw.values[qt.key]; v != nil {
			q, err := parseQuantity(v, qt.min)
			if err != nil {
				return ws, bad(qt.key, err.Error())
			}
			*qt.dst = &q
		}
	}
	return ws, nil
}

// noDuplicates rejects a key given twice in one mapping: YAML forbids it,
// and silently taking the last one hides typos.
func noDuplicates(m *yaml.Node, file, prefix string) error {
	seen := map[string]int{}
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i]
		if line, ok := seen[k.Value]; ok {
			return fmt.Errorf("%s:%d: %s%s given twice (first on line %d)", file, k.Line, prefix, k.Value, line)
		}
		seen[k.Value] = k.Line
	}
	return nil
}
