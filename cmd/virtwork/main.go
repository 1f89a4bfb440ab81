// Command virtwork renders, applies and removes load-generating VMs on
// KubeVirt clusters. Each command file only wires flags to library calls.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/virtwork/virtwork/internal/kube"
)

// cli is the command tree.
type cli struct {
	Verbose      bool   `name:"verbose" short:"v" help:"Log to stderr where each setting came from, every API request and retry, and timings (secrets masked)."`
	OutputFormat string `name:"output-format" enum:"text,json" default:"text" placeholder:"FORMAT" help:"json: reports and errors ({\"error\": ..., \"exitCode\": N}) as JSON on stdout; as -o json, and for render, whose -o is a directory."`

	Render    renderCmd    `cmd:"" help:"Render VMs, Services, cloud-init Secrets and the Namespace as YAML."`
	Workloads workloadsCmd `cmd:"" help:"List the workloads, or show one's CUE definition and settings."`
	Apply     applyCmd     `cmd:"" help:"Apply a manifest set to the cluster and wait until the VMs are ready."`
	Status    statusCmd    `cmd:"" help:"Show the applied objects and their live status."`
	Results   resultsCmd   `cmd:"" help:"Show the load the workloads achieve: figures from each VM's exporter, or from Prometheus."`
	Diff      diffCmd      `cmd:"" help:"Show what apply would change (server-side dry run)."`
	Destroy   destroyCmd   `cmd:"" help:"Delete everything an apply created (its inventory), and nothing else."`
	Version   versionCmd   `cmd:"" help:"Print virtwork's version."`
	History   historyCmd   `cmd:"" help:"List, show and prune the recorded apply and destroy runs."`

	Completion completionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
}

// AfterApply starts the verbose log once the flags are known, before any
// command (or flags struct, see kubeFlags) needs it.
func (c *cli) AfterApply(e *env) error {
	if c.Verbose {
		e.verbose = newVerboseLog(e.stderr)
		// What client-go reports itself (watch errors it retries,
		// throttling) joins the log instead of being discarded.
		klog.SetLogger(funcr.New(func(prefix, args string) {
			e.verbose.logf("client", "%s", strings.TrimSpace(prefix+" "+args))
		}, funcr.Options{}))
	}
	return nil
}

// env is what a command may touch of the process; tests substitute it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	// prog is how the user called virtwork: "virtwork", or "kubectl
	// virtwork" for the kubectl plugin.
	prog string
	// json: errors (and reports) go to stdout as JSON too.
	json bool
	// verbose is the -v log; nil without -v.
	verbose *verboseLog
}

const description = `virtwork puts realistic, repeatable load on KubeVirt clusters.

Workloads (cpu, memory, disk, database, network) are CUE definitions; 'virtwork render'
turns configuration plus CUE into a deterministic manifest set that you can commit to Git.

Settings come from flags, then VIRTWORK_* environment variables, then a YAML file
(--config), then defaults. Run 'virtwork <command> --help' for a command's flags.`

// run executes virtwork with args and returns the process exit status.
func run(args []string, e env) int {
	if e.prog == "" {
		e.prog = "virtwork"
	}
	// client-go logs through klog (e.g. discovery failures) on top of the
	// error virtwork reports; keep stderr to virtwork's own one line.
	klog.SetLogger(logr.Discard())
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name(e.prog),
		kong.Description(strings.ReplaceAll(description, "'virtwork ", "'"+e.prog+" ")),
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
	if len(args) > 0 && args[0] == completeCommand {
		return complete(parser, args[1:], &e)
	}
	ctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help, --version
		return exitCode
	}
	if err != nil {
		var pe *kong.ParseError
		hint := fmt.Sprintf("run '%s --help'", e.prog)
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			hint = fmt.Sprintf("run '%s %s --help'", e.prog, pe.Context.Selected().Path())
		}
		e.json = jsonInArgs(args)
		return e.fail(2, fmt.Errorf("%v (%s)", err, hint))
	}
	e.json = jsonOutput(ctx, c.OutputFormat == "json")
	start := time.Now()
	err = ctx.Run()
	e.verbose.timed(ctx.Command()+" (total)", start)
	if err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			if ex.err == nil { // the command's output said why
				return ex.code
			}
			return e.fail(ex.code, ex.err)
		}
		return e.fail(1, err)
	}
	return 0
}

// fail reports err on stderr and, with JSON output, as one JSON object on
// stdout, so a pipeline reading stdout learns why too; it returns code.
func (e *env) fail(code int, err error) int {
	fmt.Fprintf(e.stderr, "virtwork: %v\n", err)
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false) // keep "<id>" readable
		_ = enc.Encode(struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exitCode"`
		}{err.Error(), code})
	}
	return code
}

// jsonOutput makes --output-format and the commands' own -o agree: either
// one set to json sets the other, so that a command's report and its
// errors come out as JSON whichever was given.
func jsonOutput(ctx *kong.Context, global bool) bool {
	for _, f := range ctx.Flags() {
		if f.Name != "output" || !slices.Contains(f.EnumSlice(), "json") || f.Target.Kind() != reflect.String {
			continue
		}
		if global {
			f.Target.SetString("json")
		}
		return f.Target.String() == "json"
	}
	return global
}

// jsonInArgs tells whether JSON output was asked for when the arguments
// did not parse (so kong holds no values).
func jsonInArgs(args []string) bool {
	command := ""
	for i, a := range args {
		next := ""
		if i+1 < len(args) {
			next = args[i+1]
		}
		switch {
		case a == "--output-format=json", a == "--output-format" && next == "json":
			return true
		case command == "render": // its -o is a directory
		case a == "-ojson", a == "--output=json", (a == "-o" || a == "--output") && next == "json":
			return true
		case command == "" && !strings.HasPrefix(a, "-"):
			command = a
		}
	}
	return false
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
	os.Exit(run(pluginArgs(os.Args), env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv, prog: progName(os.Args[0])}))
}

// pluginArgs are the arguments to run: kubectl runs kubectl_complete-virtwork
// with the words to complete, which is 'virtwork __complete WORDS...'.
func pluginArgs(argv []string) []string {
	if filepath.Base(argv[0]) == "kubectl_complete-virtwork" {
		return append([]string{completeCommand}, argv[1:]...)
	}
	return argv[1:]
}

// progName is how usage and hints name the command: kubectl runs a plugin
// as kubectl-virtwork, and the user typed 'kubectl virtwork'.
func progName(argv0 string) string {
	if strings.HasPrefix(filepath.Base(argv0), "kubectl") {
		return "kubectl virtwork"
	}
	return "virtwork"
}
