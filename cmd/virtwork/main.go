// Command virtwork renders, applies and removes load-generating VMs on
// KubeVirt clusters. Each command file only wires flags to library calls.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"
)

// cli is the command tree. Later commands (apply, destroy, status, diff,
// history) hang off it the same way.
type cli struct {
	Render    renderCmd    `cmd:"" help:"Render VMs, Services, cloud-init Secrets and the Namespace as YAML."`
	Workloads workloadsCmd `cmd:"" help:"List the workloads, or show one's CUE definition and settings."`
	Version   versionCmd   `cmd:"" help:"Print virtwork's version."`
	History   historyCmd   `cmd:"" help:"List, show and prune the recorded apply and destroy runs."`
}

// env is what a command may touch of the process; tests substitute it.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
}

const description = `virtwork puts realistic, repeatable load on KubeVirt clusters.

Workloads (cpu, memory, disk, database, network) are CUE definitions; 'virtwork render'
turns configuration plus CUE into a deterministic manifest set that you can commit to Git.

Settings come from flags, then VIRTWORK_* environment variables, then a YAML file
(--config), then defaults. Run 'virtwork <command> --help' for a command's flags.`

// run executes virtwork with args and returns the process exit status.
func run(args []string, e env) int {
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("virtwork"),
		kong.Description(description),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Bind(&e),
	)
	if err != nil {
		fmt.Fprintf(e.stderr, "virtwork: internal error: %v\n", err)
		return 70
	}
	ctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help, --version
		return exitCode
	}
	if err != nil {
		var pe *kong.ParseError
		hint := "run 'virtwork --help'"
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			hint = fmt.Sprintf("run 'virtwork %s --help'", pe.Context.Selected().Path())
		}
		fmt.Fprintf(e.stderr, "virtwork: %v (%s)\n", err, hint)
		return 2
	}
	if err := ctx.Run(); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			if ex.err != nil {
				fmt.Fprintf(e.stderr, "virtwork: %v\n", ex.err)
			}
			return ex.code
		}
		fmt.Fprintf(e.stderr, "virtwork: %v\n", err)
		return 1
	}
	return 0
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func main() {
	os.Exit(run(os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv}))
}
