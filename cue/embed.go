// Package cue embeds virtwork's CUE schema and built-in workload
// definitions (package virtwork in CUE), and the guest programs the schema
// puts into every VM. Importers alias it, e.g. virtworkcue, to keep it
// apart from cuelang.org/go/cue.
package cue

import "embed"

// FS holds schema.cue, one file per built-in workload, and the guest
// programs (Python 3, standard library only).
//
//go:embed *.cue *.py
var FS embed.FS

// Builtins names the built-in workloads in the order virtwork lists them;
// each is defined in <name>.cue.
var Builtins = []string{"cpu", "memory", "disk", "database", "network"}

// GuestPrograms maps the fields of the schema's _guestPrograms to the
// files in FS that fill them: the runner that records a tool's figures
// and the exporter that serves them on port 9100.
var GuestPrograms = map[string]string{
	"runner":   "virtwork-run.py",
	"exporter": "virtwork-exporter.py",
}

// Gen holds CUE definitions of the KubeVirt, CDI and Kubernetes core API
// types, generated from their Go packages by `make cue-gen` (cue get go),
// laid out as cue.mod/gen/<import path>. They are loaded to check a
// VM overlay (see internal/vmshape) and to type the object templates.
//
//go:embed gen
var Gen embed.FS

// Templates holds the Kubernetes objects virtwork renders (the Namespace,
// the cloud-init Secrets, the Services and the VirtualMachines), typed by
// the definitions in Gen (see internal/templates).
//
//go:embed templates
var Templates embed.FS
