package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
)

type workloadsCmd struct {
	List workloadsListCmd `cmd:"" default:"withargs" help:"List the workloads (the default)."`
	Show workloadsShowCmd `cmd:"" help:"Show a workload's CUE definition and the VMs (with their DataVolumes) and Services it renders with the current settings."`
}

type workloadsListCmd struct {
	formatFlag
	WorkloadDir *string `name:"workload-dir" placeholder:"DIR" help:"Directory of extra workload .cue files (env VIRTWORK_WORKLOAD_DIR)."`
}

func (c *workloadsListCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Flags{WorkloadDir: c.WorkloadDir})
	if err != nil {
		return err
	}
	wls, err := loadWorkloads(cfg, e.getenv)
	if err != nil {
		return err
	}
	if c.json() {
		type role struct {
			Name    string `json:"name"`
			VMCount int    `json:"vmCount"`
		}
		type row struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			File        string `json:"file"`
			Roles       []role `json:"roles"`
		}
		rows := []row{}
		for _, w := range wls {
			r := row{Name: w.Name, Description: w.Description, File: w.File}
			for _, ro := range w.Roles {
				r.Roles = append(r.Roles, role{ro.Name, ro.VMCount})
			}
			rows = append(rows, r)
		}
		return writeJSON(e.stdout, rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLES\tVMS\tFILE\tDESCRIPTION")
	for _, w := range wls {
		var roles []string
		vms := 0
		for _, r := range w.Roles {
			roles = append(roles, r.Name)
			vms += r.VMCount
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", w.Name, strings.Join(roles, ","), vms, w.File, w.Description)
	}
	return tw.Flush()
}

type workloadsShowCmd struct {
	config.Flags
	formatFlag
	Name string `arg:"" help:"Workload to show."`
}

func (c *workloadsShowCmd) Run(e *env) error {
	c.Flags.Workloads = []string{c.Name}
	cfg, err := loadConfig(e, c.Flags)
	if err != nil {
		return err
	}
	wls, err := loadWorkloads(cfg, e.getenv)
	if err != nil {
		return err
	}
	w, err := workload.Lookup(wls, c.Name)
	if err != nil {
		return err
	}
	objs, err := render.Render(cfg, wls)
	if err != nil {
		return err
	}
	if c.json() {
		// cpuCores and memory are left out when an instancetype sizes the VM.
		type role struct {
			Role      string `json:"role"`
			VMs       int    `json:"vms"`
			CPU       string `json:"cpuCores,omitempty"`
			Memory    string `json:"memory,omitempty"`
			DataDisks string `json:"dataDisks"`
			FirstVM   string `json:"firstVM"`
		}
		roles := []role{}
		for _, r := range summarize(objs, w.Roles[0].Name) {
			roles = append(roles, role{r.role, r.count, r.cpu, r.memory, r.disks, r.first})
		}
		return writeJSON(e.stdout, map[string]any{
			"name": w.Name, "description": w.Description, "file": w.File, "source": w.Source,
			"namespace": cfg.Namespace, "guestOs": cfg.GuestOS, "rendered": roles, "vms": firstVMs(objs, w),
			"services": services(objs, w),
		})
	}
	fmt.Fprintf(e.stdout, "# %s (%s)\n# %s\n\n%s\n", w.Name, w.File, w.Description, strings.TrimRight(w.Source, "\n"))
	fmt.Fprintf(e.stdout, "\n# Rendered with the current settings (namespace %s, guest OS %s):\n", cfg.Namespace, cfg.GuestOS)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "# ROLE\tVMS\tCPU\tMEMORY\tDATA DISKS\tFIRST VM")
	for _, r := range summarize(objs, w.Roles[0].Name) {
		fmt.Fprintf(tw, "# %s\t%d\t%s\t%s\t%s\t%s\n", r.role, r.count, orDash(r.cpu), orDash(r.memory), r.disks, r.first)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The user data shows what the guest OS changes: package names,
	// paths, service setup.
	for _, o := range objs {
		if o.GetKind() != "Secret" {
			continue
		}
		userData, found, _ := unstructured.NestedString(o.Object, "stringData", render.UserDataKey)
		if !found {
			data, _, _ := unstructured.NestedString(o.Object, "data", render.UserDataKey)
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return fmt.Errorf("workloads show: user data of %s: %w", o.GetName(), err)
			}
			userData = string(b)
		}
		fmt.Fprintf(e.stdout, "\n# cloud-init user data (Secret %s):\n%s", o.GetName(), userData)
	}
	if err := printMetrics(e, w); err != nil {
		return err
	}
	for i, r := range summarize(objs, w.Roles[0].Name) {
		out, err := yaml.Marshal(firstVMs(objs, w)[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n# VirtualMachine %s (role %s):\n%s", r.first, r.role, out)
	}
	for _, svc := range services(objs, w) {
		out, err := yaml.Marshal(svc)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n# Service %s:\n%s", svc["metadata"].(map[string]any)["name"], out)
	}
	return nil
}

// services returns w's Services as rendered (every service overlay
// applied).
func services(objs []*unstructured.Unstructured, w workload.Workload) []map[string]any {
	out := []map[string]any{}
	for _, o := range objs {
		if o.GetKind() == "Service" && o.GetLabels()[render.LabelComponent] == w.Name {
			out = append(out, o.Object)
		}
	}
	return out
}

// firstVMs returns the first VM of each role of w, in summarize's order:
// the merged VM (every vm and dataVolume overlay and shaping flag applied); the others
// of the role differ only in their names.
func firstVMs(objs []*unstructured.Unstructured, w workload.Workload) []map[string]any {
	out := []map[string]any{}
	for _, r := range summarize(objs, w.Roles[0].Name) {
		for _, o := range objs {
			if o.GetKind() == "VirtualMachine" && o.GetName() == r.first {
				out = append(out, o.Object)
			}
		}
	}
	return out
}

// printMetrics lists the figures each role declares; the guest writes
// them to /var/lib/virtwork/metrics/<workload>.prom and the exporter
// serves them on port 9100.
func printMetrics(e *env, w workload.Workload) error {
	fmt.Fprintf(e.stdout, "\n# Metrics (each also labelled workload, role, vm; served on :9100/metrics):\n")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "# ROLE\tMETRIC\tTYPE\tLABELS\tHELP")
	for _, r := range w.Roles {
		if len(r.Metrics) == 0 {
			fmt.Fprintf(tw, "# %s\t-\t\t\t(guest figures only)\n", r.Name)
		}
		for _, m := range r.Metrics {
			labels := strings.Join(m.Labels, ",")
			if labels == "" {
				labels = "-"
			}
			fmt.Fprintf(tw, "# %s\t%s\t%s\t%s\t%s\n", r.Name, m.Name, m.Type, labels, m.Help)
		}
	}
	return tw.Flush()
}

type roleSummary struct {
	role, cpu, memory, disks, first string
	count                           int
}

// summarize groups rendered VMs by role (onlyRole names the role of a
// single-role workload), reading their settings back from
// the objects so that what is shown is what render produced.
func summarize(objs []*unstructured.Unstructured, onlyRole string) []roleSummary {
	var out []roleSummary
	idx := map[string]int{}
	for _, o := range objs {
		if o.GetKind() != "VirtualMachine" {
			continue
		}
		role := o.GetLabels()[render.LabelRole]
		if role == "" { // single-role workloads carry no role label
			role = onlyRole
		}
		i, ok := idx[role]
		if !ok {
			cpu, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "template", "spec", "domain", "cpu", "cores")
			mem, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "domain", "memory", "guest")
			if mem == "" {
				mem, _, _ = unstructured.NestedString(o.Object, "spec", "template", "spec", "domain", "resources", "requests", "memory")
			}
			dvts, _, _ := unstructured.NestedSlice(o.Object, "spec", "dataVolumeTemplates")
			var disks []string
			for _, d := range dvts {
				size, _, _ := unstructured.NestedString(d.(map[string]any), "spec", "storage", "resources", "requests", "storage")
				name, _, _ := unstructured.NestedString(d.(map[string]any), "metadata", "name")
				disks = append(disks, fmt.Sprintf("%s=%s", strings.TrimPrefix(name, o.GetName()+"-"), size))
			}
			if len(disks) == 0 {
				disks = []string{"-"}
			}
			cores := "" // sized by an instancetype
			if cpu != nil {
				cores = fmt.Sprint(cpu)
			}
			out = append(out, roleSummary{role: role, cpu: cores, memory: mem, disks: strings.Join(disks, ","), first: o.GetName()})
			i = len(out) - 1
			idx[role] = i
		}
		out[i].count++
	}
	return out
}
