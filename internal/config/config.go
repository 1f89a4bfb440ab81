// Package config resolves virtwork's settings from defaults, a YAML config
// file, VIRTWORK_* environment variables and command-line flags (in rising
// priority) and validates them.
package config

import (
	"cuelang.org/go/cue/ast"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxVMs is the most VMs one render (and so one instance) may hold. It
// bounds render's memory (about 300 MiB at 25,000 VMs) and matches what one
// inventory can record in the default namespace (inventory.MaxEntryBytes;
// apply checks the exact size, which depends on the names).
const MaxVMs = 25_000

// Defaults for settings whose resolution render finishes (see Config).
const (
	DefaultNamespace          = "virtwork"
	DefaultCPUCores           = 2
	DefaultMemory             = "2Gi"
	DefaultDiskSize           = "10Gi"
	DefaultContainerDiskImage = "quay.io/containerdisks/fedora:41"
)

// Config is the effective configuration of a render.
type Config struct {
	Namespace string
	// Workloads names the enabled workloads; empty means all that are
	// loaded and not disabled per workload.
	Workloads []string
	// VMCount, CPUCores, Memory and DiskSize are zero when the user set
	// them nowhere. render resolves each VM's value as: per-workload
	// setting > global setting > the workload's own default in CUE >
	// the Default* constants below.
	VMCount            int
	CPUCores           int
	Memory             resource.Quantity
	DiskSize           resource.Quantity
	StorageClass       string
	ContainerDiskImage string
	SSHUser            string
	// SSHPassword is never printed, logged or stored; cloud-init gets only
	// a SHA-512 crypt hash of it.
	SSHPassword string
	// SSHKeys are validated OpenSSH public keys in authorized_keys form.
	SSHKeys     []string
	WorkloadDir string
	// ServiceMonitor: render a ServiceMonitor for the VMs' exporters.
	ServiceMonitor bool
	// GuestOS names the guest OS profile (internal/guestos); never empty
	// after Load. An unset ContainerDiskImage becomes its image.
	GuestOS string
	// Params set workload parameters (a workload's params in CUE), in the
	// order given.
	Params []Param
	// Instancetype and Preference name KubeVirt (cluster) instancetypes
	// and preferences for every VM; with an instancetype the VMs set no
	// CPU or memory of their own.
	Instancetype string
	Preference   string
	// NodeSelector is the VMs' spec.template.spec.nodeSelector.
	NodeSelector map[string]string
	// DedicatedCPU pins each vCPU to a host CPU (dedicatedCpuPlacement).
	DedicatedCPU bool
	// Overlays are the config file's vm:, dataVolume: and service:
	// overlays for every workload (see Overlays).
	Overlays
	// PerWorkload holds settings from the config file's workloads: map.
	// A global setting given by flag or environment variable overrides
	// the same per-workload setting (flags > env > file); one given in
	// the file does not.
	PerWorkload map[string]WorkloadSettings
	// HistoryDB and NoHistory are the config file's historyDb and
	// noHistory keys; the history flags and variables override them.
	HistoryDB string
	NoHistory bool
	// Origins says where each setting came from (for -v); secrets masked.
	Origins []Origin
}

// WorkloadSettings override the global settings for one workload; nil
// fields are unset.
// Overlays are a config file's shaping overlays, as CUE syntax that keeps
// their file positions (nil when unset); render checks them: VM for the
// VirtualMachines, DataVolume for each data disk's DataVolume, Service for
// the workloads' Services.
type Overlays struct {
	VM, DataVolume, Service ast.Expr
}

type WorkloadSettings struct {
	Enabled  *bool
	VMCount  *int
	CPUCores *int
	Memory   *resource.Quantity
	DiskSize *resource.Quantity
	// Overlays are the file's workloads.<name>.vm, .dataVolume and
	// .service overlays.
	Overlays
	// Source says where in the config file the entry is ("c.yaml:7"),
	// for errors about it.
	Source string
}

// Param sets one parameter of one workload.
type Param struct {
	Workload, Key, Value string
	// Source says where it was set ("--param", "VIRTWORK_PARAMS",
	// "c.yaml:7: workloads.database.params.scale"), for errors.
	Source string
}
