// Package version holds virtwork's version, stamped at build time.
package version

import "runtime/debug"

// Version is set with -ldflags "-X github.com/virtwork/virtwork/internal/version.Version=v1.2.3"
// by the Makefile; a plain `go build` or `go install` falls back to the
// module version or VCS revision recorded by the Go toolchain.
var Version = ""

// String returns the version for humans and for the run history.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
