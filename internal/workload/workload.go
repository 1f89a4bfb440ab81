// Package workload loads workload definitions written in CUE (the built-in
// ones embedded from cue/ and any from a user's --workload-dir), evaluates
// them against the schema and returns them as plain Go values.
//
// It knows nothing about Kubernetes objects: render turns these values into
// VirtualMachines, Secrets and Services.
package workload

import "cuelang.org/go/cue"

// Workload is one evaluated workload definition.
type Workload struct {
	// Name is a DNS-1123 label, unique among all loaded workloads.
	Name        string
	Description string
	// Roles in a fixed order (sorted by name). A single-role workload has
	// exactly one role; render adds the virtwork/role label only when a
	// workload has more than one.
	Roles []Role
	// Services in a fixed order (sorted by name).
	Services []Service
	// File is where the definition came from: "builtin/cpu.cue" or a path
	// below --workload-dir.
	File string
	// Source is the CUE text of the definition, for `workloads show`.
	Source string
}

// Role is one kind of VM within a workload (e.g. the iperf3 server).
type Role struct {
	Name string
	// VMCount is the workload's own default number of VMs of this role.
	VMCount int
	// CPUCores and Memory are the workload's own defaults; zero/empty means
	// "use the configured default".
	CPUCores int
	Memory   string
	Packages []string
	Files    []File
	Units    []Unit
	// Commands run once by cloud-init (runcmd) before the units are started.
	Commands  []string
	DataDisks []DataDisk
	// Metrics are the figures the role's VMs report (sorted by name).
	Metrics []Metric
	// Agent is what virtwork adds to every role (the schema's
	// #GuestAgent): the same for all roles.
	Agent GuestAgent
	// VM is the role's VM overlay (the role's vm field), unchecked; it
	// does not exist when the role has none. render checks and merges it
	// (see internal/vmshape).
	VM cue.Value
	// DataVolume and Service are the role's overlays of its data disks'
	// DataVolumes and of the Services that select it, like VM.
	DataVolume, Service cue.Value
}

// GuestAgent is virtwork's part of every VM: virtwork-run, which runs a
// tool and records its figures, and the exporter serving them on port
// 9100, with its unit. cloud-init writes the files before the role's and
// starts the units after the role's.
type GuestAgent struct {
	Files []File `json:"files"`
	Units []Unit `json:"units"`
}

// Metric is a Prometheus metric a role writes to
// /var/lib/virtwork/metrics/<workload>.prom; every sample also carries the
// labels workload, role and vm.
type Metric struct {
	Name   string
	Type   string // gauge or counter
	Help   string
	Labels []string
}

// File is written into the guest by cloud-init (write_files).
type File struct {
	Path        string
	Content     string
	Permissions string // octal, e.g. "0644"
}

// Unit is a systemd unit written to /etc/systemd/system/<Name> and enabled.
type Unit struct {
	Name    string // e.g. "virtwork-cpu.service"
	Content string
}

// DataDisk is an extra blank disk. render attaches it as a DataVolume
// template and a virtio disk of the same name whose serial is the name, so
// the guest sees it as /dev/disk/by-id/virtio-<Name>.
type DataDisk struct {
	Name      string
	MountPath string
	// Size is the workload's own default; empty means the configured
	// disk size.
	Size string
}

// Service is a ClusterIP Service that selects the VMs of one role.
type Service struct {
	Name  string
	Role  string
	Ports []Port
	// Headless Services have no cluster IP; the role's VMs get their own
	// DNS names under it (<vm>.<service>.<namespace>.svc.cluster.local).
	Headless bool
}

// Port of a Service; TargetPort equals Port.
type Port struct {
	Name     string
	Port     int
	Protocol string // TCP or UDP
}

// Input is what a workload definition may depend on from the configuration.
type Input struct {
	Namespace string
	// GuestOS names the guest OS profile (internal/guestos); empty means
	// the default. The workloads see it as input.guest.
	GuestOS string
	// Params set workload parameters (a workload's params), in order.
	Params []Param
}

// Param sets the parameter Key of workload Workload to Value, which is
// read as the parameter's type (int, bool or string).
type Param struct {
	Workload, Key, Value string
	// Source names where it was set, for errors ("--param").
	Source string
}
