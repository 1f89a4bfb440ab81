package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Origin says where one effective setting came from, for 'virtwork -v'.
type Origin struct {
	Setting string // the config-file key, e.g. cpuCores or workloads.cpu.vmCount
	Value   string // as resolved; a password is never shown, keys only counted
	From    string // --flag, VIRTWORK_VAR, file:line, or default
}

func (o Origin) String() string { return fmt.Sprintf("%s=%s (%s)", o.Setting, o.Value, o.From) }

// origins lists every setting of c with its source, in the order of the
// settings table, then the config file's per-workload settings.
func (r *raw) origins(c *Config) []Origin {
	from := func(field string) string {
		src := r.source[field]
		if src == "" {
			return "default"
		}
		return place(src)
	}
	orDefault := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	count := func(n int, def string) string {
		if n == 0 {
			return def
		}
		return strconv.Itoa(n)
	}
	quantity := func(set bool, v, def string) string {
		if !set {
			return def
		}
		return v
	}
	password := "none"
	if c.SSHPassword != "" {
		password = "(set, masked)"
	}
	out := []Origin{
		{"namespace", c.Namespace, from("Namespace")},
		{"workloads", orDefault(strings.Join(c.Workloads, ","), "all"), from("Workloads")},
		{"vmCount", count(c.VMCount, "each workload's own"), from("VMCount")},
		{"cpuCores", count(c.CPUCores, strconv.Itoa(DefaultCPUCores)), from("CPUCores")},
		{"memory", quantity(!c.Memory.IsZero(), c.Memory.String(), DefaultMemory), from("Memory")},
		{"diskSize", quantity(!c.DiskSize.IsZero(), c.DiskSize.String(), DefaultDiskSize), from("DiskSize")},
		{"storageClass", orDefault(c.StorageClass, "the cluster's default"), from("StorageClass")},
		{"containerDiskImage", c.ContainerDiskImage, from("ContainerDiskImage")},
		{"sshUser", orDefault(c.SSHUser, "none"), from("SSHUser")},
		{"sshPassword", password, from("SSHPassword")},
		{"sshKeys", fmt.Sprintf("%d (merged from every source)", len(c.SSHKeys)), listSources(r.SSHKeys, r.SSHKeyFiles)},
		{"workloadDir", orDefault(c.WorkloadDir, "none"), from("WorkloadDir")},
		{"instancetype", orDefault(c.Instancetype, "none"), from("Instancetype")},
		{"preference", orDefault(c.Preference, "none"), from("Preference")},
		{"nodeSelector", orDefault(strings.Join(r.NodeSelector, ","), "none"), from("NodeSelector")},
		{"dedicatedCpu", strconv.FormatBool(c.DedicatedCPU), from("DedicatedCPU")},
	}
	for _, name := range slices.Sorted(maps.Keys(r.perWorkload)) {
		fw := r.perWorkload[name]
		for _, key := range workloadKeys {
			if v := fw.values[key]; v != nil {
				value := *v
				if field := overriddenBy(key); field != "" && !r.fromFile(field) && r.source[field] != "" {
					value += " (overridden by " + r.source[field] + ")"
				}
				out = append(out, Origin{"workloads." + name + "." + key, value, place(fw.source[key])})
			}
		}
	}
	if r.historyDB != nil {
		out = append(out, Origin{"historyDb", c.HistoryDB, "config file"})
	}
	if r.noHistory != nil {
		out = append(out, Origin{"noHistory", strconv.FormatBool(c.NoHistory), place(r.source["noHistory"])})
	}
	return out
}

// overriddenBy names the global setting that a flag or variable uses to
// override a per-workload key of the file.
func overriddenBy(key string) string {
	switch key {
	case "vmCount":
		return "VMCount"
	case "cpuCores":
		return "CPUCores"
	case "memory":
		return "Memory"
	case "diskSize":
		return "DiskSize"
	}
	return ""
}

// place shortens a file source ("c.yaml:3: cpuCores") to "c.yaml:3";
// flags and variables are returned as they are.
func place(src string) string {
	if isFileSource(src) {
		if i := strings.LastIndex(src, ": "); i > 0 {
			return src[:i]
		}
	}
	return src
}

// listSources names where the SSH keys and key files came from.
func listSources(lists ...[]sourced) string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if p := place(s.from); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return "none given"
	}
	return strings.Join(out, ", ")
}
