// Package cue embeds virtwork's CUE schema and built-in workload
// definitions (package virtwork in CUE). Importers alias it, e.g.
// virtworkcue, to keep it apart from cuelang.org/go/cue.
package cue

import "embed"

// FS holds schema.cue and one file per built-in workload.
//
//go:embed *.cue
var FS embed.FS

// Builtins names the built-in workloads in the order virtwork lists them;
// each is defined in <name>.cue.
var Builtins = []string{"cpu", "memory", "disk", "database", "network"}
