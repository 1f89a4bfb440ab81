// Command virtwork renders, applies and removes load-generating VMs on
// KubeVirt clusters. Each command file only wires flags to library calls.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/virtwork/virtwork/internal/kube"
)

// cli is the command tree.
type cli struct {
	Render    renderCmd    `cmd:"" help:"Render VMs, Services, cloud-init Secrets and the Namespace as YAML."`
	Workloads workloadsCmd `cmd:"" help:"List the workloads, or show one's CUE definition and settings."`
	Apply     applyCmd     `cmd:"" help:"Apply a manifest set to the cluster and wait until the VMs are ready."`
	Status    statusCmd    `cmd:"" help:"Show the applied objects and their live status."`
	Diff      diffCmd      `cmd:"" help:"Show what apply would change (server-side dry run)."`
	Destroy   destroyCmd   `cmd:"" help:"Delete everything an apply created (its inventory), and nothing else."`
	Version   versionCmd   `cmd:"" help:"Print virtwork's version."`
	History   historyCmd   `cmd:"" help:"List, show and prune the recorded apply and destroy runs."`
}

// env is what a command may touch of the process; tests substitute it.
type env struct {
	stdin          io.Reader
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
	// client-go logs through klog (e.g. discovery failures) on top of the
	// error virtwork reports; keep stderr to virtwork's own one line.
	klog.SetLogger(logr.Discard())
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("virtwork"),
		kong.Description(description),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Bind(&e),
		kong.Vars{"qps": fmt.Sprint(kube.DefaultQPS), "burst": fmt.Sprint(kube.DefaultBurst)},
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
	os.Exit(run(os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv}))
}
