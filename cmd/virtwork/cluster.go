package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/printer"
	"github.com/virtwork/virtwork/internal/version"
	"github.com/virtwork/virtwork/inventory/history"
	"github.com/virtwork/virtwork/render"
)

// kubeFlags select the cluster, as kubectl's flags of the same names do.
type kubeFlags struct {
	Kubeconfig string  `name:"kubeconfig" placeholder:"FILE" help:"Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster config)."`
	Context    string  `name:"context" placeholder:"NAME" help:"Kubeconfig context to use (default: the current context)."`
	QPS        float32 `name:"qps" default:"${qps}" help:"Client-side limit of API requests per second (client-go's default of 5 makes thousands of VMs crawl)."`
	Burst      int     `name:"burst" default:"${burst}" help:"Client-side burst of API requests above --qps."`

	verbose *verboseLog // set by AfterApply (see verbose.go)
}

func (k kubeFlags) client(namespace string) (*kube.Client, error) {
	kc, err := kube.New(kube.Options{Kubeconfig: k.Kubeconfig, Context: k.Context, Namespace: namespace, QPS: k.QPS, Burst: k.Burst, Logf: k.verbose.requests()})
	if err == nil {
		k.verbose.logf("cluster", "context %q, API server %s, namespace %s, --qps %v --burst %d", kc.ContextName(), kc.Host(), namespace, k.QPS, k.Burst)
	}
	return kc, err
}

// instanceFlags name one applied instance: its inventory lives in the
// namespace under this name.
type instanceFlags struct {
	Name string `name:"name" default:"virtwork" placeholder:"NAME" help:"Instance name: one inventory per name and namespace, so several sets can live in one namespace."`
}

// sourceFlags choose where a manifest set comes from: the configuration
// (rendered in-process, as 'virtwork render' does), a file, or a
// kustomization.
type sourceFlags struct {
	config.Flags
	File      string `name:"filename" short:"f" placeholder:"FILE" help:"Take a rendered YAML stream from FILE ('-' for stdin), e.g. a render committed to Git, instead of rendering from the configuration."`
	Kustomize string `name:"kustomize" short:"k" placeholder:"DIR" type:"path" help:"Build the kustomization in DIR in-process (e.g. an overlay on a rendered base) instead of rendering from the configuration."`
}

// manifestSet is a manifest set to act on and what it came from.
type manifestSet struct {
	objs      []*unstructured.Unstructured
	namespace string
	// cfg is the configuration the set was rendered from; for -f and -k
	// only its history settings and namespace default matter.
	cfg    *config.Config
	source string // "config", "-f FILE", "-k DIR"
}

// load resolves the manifest set (see checkObjects for -f and -k).
func (s *sourceFlags) load(e *env) (*manifestSet, error) {
	if s.File != "" && s.Kustomize != "" {
		return nil, errors.New("-f and -k both given: choose one source")
	}
	if s.File == "" && s.Kustomize == "" {
		objs, cfg, err := renderFromConfig(s.Flags, e)
		if err != nil {
			return nil, err
		}
		return &manifestSet{objs: objs, namespace: cfg.Namespace, cfg: cfg, source: "config"}, nil
	}
	if configFlagsSet(s.Flags, true) {
		return nil, errors.New("-f and -k take a manifest set as it is: configuration flags other than -n do not apply; drop them")
	}
	// Only -n, the environment and VIRTWORK_CONFIG apply here.
	cfg, err := loadConfig(e, config.Flags{Namespace: s.Namespace})
	if err != nil {
		return nil, err
	}
	set := &manifestSet{cfg: cfg}
	if s.File != "" {
		set.source = "-f " + s.File
		set.objs, err = readFile(s.File, e.stdin)
	} else {
		set.source = "-k " + s.Kustomize
		set.objs, err = manifest.Build(s.Kustomize)
	}
	if err != nil {
		return nil, err
	}
	if err := checkObjects(set.source, set.objs); err != nil {
		return nil, err
	}
	// The namespace: -n or VIRTWORK_NAMESPACE if given, else the one the
	// set was rendered for.
	set.namespace = namespaceOf(set.objs)
	if s.Namespace != nil || hasEnv(e.getenv, config.EnvPrefix+"NAMESPACE") || set.namespace == "" {
		set.namespace = cfg.Namespace
	}
	return set, nil
}

// checkObjects checks a set read from a file or kustomization as strictly
// as render checks its own, so a typo in a committed file is caught before
// the cluster sees it. Kinds render does not know pass unchecked.
func checkObjects(source string, objs []*unstructured.Unstructured) error {
	if len(objs) == 0 {
		return fmt.Errorf("%s holds no objects", source)
	}
	for _, o := range objs {
		if err := render.Check(o); err != nil && !errors.Is(err, render.ErrUnknownKind) {
			return fmt.Errorf("%s: %w", source, err)
		}
	}
	return nil
}

func readFile(path string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	if path == "-" {
		objs, err := manifest.Decode(stdin)
		if err != nil {
			return nil, fmt.Errorf("-f -: %w", err)
		}
		return objs, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	objs, err := manifest.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", path, err)
	}
	return objs, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// namespaceOf returns the namespace a set was rendered for: its Namespace
// object, else the namespace of its first namespaced object.
func namespaceOf(objs []*unstructured.Unstructured) string {
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1" {
			return o.GetName()
		}
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			return ns
		}
	}
	return ""
}

func hasEnv(getenv func(string) (string, bool), name string) bool {
	v, ok := getenv(name)
	return ok && v != ""
}

// configFlagsSet reports whether any configuration flag was given
// (optionally not counting -n).
func configFlagsSet(f config.Flags, exceptNamespace bool) bool {
	return f.Config != nil || (!exceptNamespace && f.Namespace != nil) || f.Workloads != nil || f.VMCount != nil ||
		f.CPUCores != nil || f.Memory != nil || f.DiskSize != nil || f.StorageClass != nil ||
		f.ContainerDiskImage != nil || f.SSHUser != nil || f.SSHPassword != nil ||
		f.SSHKeys != nil || f.SSHKeyFiles != nil || f.WorkloadDir != nil || f.ServiceMonitor != nil
}

// targetFlags name an instance without a manifest set (destroy, status):
// -n, or the namespace of --config / VIRTWORK_* as apply would use it.
type targetFlags struct {
	Config    *string `name:"config" placeholder:"FILE" help:"Config file to take the namespace from (env VIRTWORK_CONFIG)."`
	Namespace *string `name:"namespace" short:"n" placeholder:"NAME" help:"Namespace of the instance (env VIRTWORK_NAMESPACE, key namespace; default virtwork)."`
	instanceFlags
}

// config reads the settings destroy and status use: the namespace and the
// history database.
func (t targetFlags) config(e *env) (*config.Config, error) {
	return loadConfig(e, config.Flags{Config: t.Config, Namespace: t.Namespace})
}

// outputFlags choose how progress and the summary are shown.
type outputFlags struct {
	Output        string        `name:"output" short:"o" enum:"text,json" default:"text" help:"text: live progress on a terminal, timestamped lines otherwise; json: one JSON event per line."`
	Summary       string        `name:"summary" enum:"auto,groups,vms" default:"auto" help:"The closing summary: vms: a row per VM; groups: a row per workload and role, then only the failed and the slowest VMs; auto: vms up to 10 VMs, else groups. Both end with the per-phase latency table."`
	Quiet         bool          `name:"quiet" short:"q" help:"Without a terminal: no line per object or status change, only failures, skips and the summary (for CI logs)."`
	ProgressEvery time.Duration `name:"progress-every" placeholder:"DURATION" help:"Without a terminal: a progress line this often (e.g. 30s) instead of a line per change; implies --quiet."`
}

func (o outputFlags) printer(w io.Writer) *printer.Printer {
	f, _ := printer.ParseFormat(o.Output) // kong's enum already checked it
	return printer.NewWith(w, f, printer.Options{Summary: printer.Summary(o.Summary), Quiet: o.Quiet, ProgressEvery: o.ProgressEvery})
}

func (o outputFlags) check() error {
	if o.ProgressEvery < 0 {
		return fmt.Errorf("--progress-every %s: want a positive duration such as 30s", o.ProgressEvery)
	}
	return nil
}

// signalContext is cancelled on the first SIGINT or SIGTERM, so the engine
// stops waiting and leaves an inventory to recover from; a second signal
// kills the process the usual way.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		cancel() // restores default handling: the next signal ends the process
	}()
	return ctx, cancel
}

// runRecorded runs an apply or destroy with the printer and the history
// recorder as event sinks, and turns the result into an exit status.
func runRecorded(e *env, db *history.DB, meta history.Meta, out outputFlags,
	do func(ctx context.Context, sink event.Sink) (*event.Summary, error)) error {
	if err := out.check(); err != nil {
		return err
	}
	meta.User = history.CurrentUser()
	meta.Version = version.String()
	rec, err := history.Start(db, meta)
	if err != nil {
		return err
	}

	ctx, cancel := signalContext()
	defer cancel()
	p := out.printer(e.stdout)
	summary, runErr := do(ctx, event.Serialized(event.Tee(p.Handle, rec.Sink())))
	p.Close()
	// Finish may wait for another virtwork process's lock on the history
	// database; say why the command has not returned yet.
	slow := time.AfterFunc(2*time.Second, func() {
		fmt.Fprintln(e.stderr, "virtwork: waiting for the history database (another virtwork process holds it)...")
	})
	_, herr := rec.Finish(runErr)
	slow.Stop()
	if herr != nil {
		fmt.Fprintf(e.stderr, "virtwork: warning: this run was not recorded in the history: %v\n", herr)
	}
	code := apply.ExitCode(summary, runErr)
	if code == 0 {
		return nil
	}
	if code == apply.ExitInterrupted {
		runErr = nil // the summary said so already
	}
	return exitError{code: code, err: runErr}
}
