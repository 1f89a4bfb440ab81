package main

import (
	"fmt"
	"runtime"

	"github.com/virtwork/virtwork/internal/version"
)

type versionCmd struct {
	formatFlag
}

func (c *versionCmd) Run(e *env) error {
	if c.json() {
		return writeJSON(e.stdout, map[string]string{
			"version": version.String(), "os": runtime.GOOS, "arch": runtime.GOARCH, "go": runtime.Version(),
		})
	}
	fmt.Fprintf(e.stdout, "virtwork %s %s/%s %s\n", version.String(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}

// formatFlag is -o for the commands whose report has a JSON form (apply,
// destroy, status and history have their own, with the same values).
type formatFlag struct {
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text, or json: the report as JSON (an error too: {\"error\": MESSAGE, \"exitCode\": N})."`
}

func (f formatFlag) json() bool { return f.Output == "json" }
