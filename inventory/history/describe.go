package history

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/names"
)

// ConfigOf is cfg as the history keeps it: the SSH password reduced to
// whether it was set and the keys to their number.
func ConfigOf(cfg *config.Config) *Config {
	if cfg == nil {
		return nil
	}
	c := &Config{
		Namespace:          cfg.Namespace,
		Workloads:          cfg.Workloads,
		VMCount:            cfg.VMCount,
		CPUCores:           cfg.CPUCores,
		Memory:             quantity(&cfg.Memory),
		DiskSize:           quantity(&cfg.DiskSize),
		StorageClass:       cfg.StorageClass,
		GuestOS:            cfg.GuestOS,
		ContainerDiskImage: cfg.ContainerDiskImage,
		WorkloadDir:        cfg.WorkloadDir,
		SSHUser:            cfg.SSHUser,
		SSHPasswordSet:     cfg.SSHPassword != "",
		SSHKeys:            len(cfg.SSHKeys),
	}
	for _, p := range cfg.Params {
		c.Params = append(c.Params, p.Workload+"."+p.Key+"="+p.Value)
	}
	for name, w := range cfg.PerWorkload {
		if c.PerWorkload == nil {
			c.PerWorkload = map[string]WorkloadConfig{}
		}
		c.PerWorkload[name] = WorkloadConfig{Enabled: w.Enabled, VMCount: w.VMCount, CPUCores: w.CPUCores,
			Memory: quantity(w.Memory), DiskSize: quantity(w.DiskSize)}
	}
	return c
}

func quantity(q *resource.Quantity) string {
	if q == nil || q.IsZero() {
		return ""
	}
	return q.String()
}

// WorkloadsOf reads the VM count and resources per workload role from the
// rendered VMs, so the record says what was applied whatever the source
// (configuration, -f file or kustomization).
func WorkloadsOf(objs []*unstructured.Unstructured) []Workload {
	var out []Workload
	idx := map[[2]string]int{}
	for _, o := range objs {
		if o.GetKind() != "VirtualMachine" {
			continue
		}
		key := [2]string{o.GetLabels()[names.LabelComponent], o.GetLabels()[names.LabelRole]}
		i, ok := idx[key]
		if !ok {
			w := Workload{Workload: key[0], Role: key[1]}
			if w.Workload == "" {
				w.Workload = "-"
			}
			dom := []string{"spec", "template", "spec", "domain"}
			if cores, ok, _ := unstructured.NestedInt64(o.Object, append(dom, "cpu", "cores")...); ok {
				w.CPUCores = int(cores)
			}
			w.Memory, _, _ = unstructured.NestedString(o.Object, append(dom, "memory", "guest")...)
			if w.Memory == "" {
				w.Memory, _, _ = unstructured.NestedString(o.Object, append(dom, "resources", "requests", "memory")...)
			}
			dvts, _, _ := unstructured.NestedSlice(o.Object, "spec", "dataVolumeTemplates")
			for _, d := range dvts {
				m, _ := d.(map[string]any)
				size, _, _ := unstructured.NestedString(m, "spec", "storage", "resources", "requests", "storage")
				name, _, _ := unstructured.NestedString(m, "metadata", "name")
				w.Disks = append(w.Disks, strings.TrimPrefix(name, o.GetName()+"-")+"="+size)
			}
			out = append(out, w)
			i = len(out) - 1
			idx[key] = i
		}
		out[i].VMs++
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Workload != out[j].Workload {
			return out[i].Workload < out[j].Workload
		}
		return out[i].Role < out[j].Role
	})
	return out
}

// Digest is "sha256:<hex>" of the set as `virtwork render` prints it, so
// equal sets have equal digests whatever their source.
func Digest(objs []*unstructured.Unstructured) (string, error) {
	h := sha256.New()
	if err := manifest.Encode(h, objs); err != nil {
		return "", fmt.Errorf("digest of the rendered set: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// CurrentUser is the local user name for the record ("" when unknown).
func CurrentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
