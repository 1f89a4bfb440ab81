package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/printer"
	"github.com/virtwork/virtwork/internal/version"
	"github.com/virtwork/virtwork/inventory"
	"github.com/virtwork/virtwork/inventory/history"
	"github.com/virtwork/virtwork/results"
)

// resultsFlags choose where results come from; apply --wait-for results
// shares them.
type resultsFlags struct {
	VMTimeout           time.Duration `name:"vm-timeout" default:"5s" help:"Direct mode: how long to wait for each VM's exporter."`
	Prometheus          string        `name:"prometheus" placeholder:"URL" env:"VIRTWORK_PROMETHEUS" help:"Query Prometheus's HTTP API at URL (e.g. OpenShift's Thanos querier) instead of reading each VM's exporter through the API server (env VIRTWORK_PROMETHEUS)."`
	Since               time.Duration `name:"since" default:"5m" help:"With --prometheus: average the figures over this window."`
	PrometheusTokenFile string        `name:"prometheus-token-file" placeholder:"FILE" env:"VIRTWORK_PROMETHEUS_TOKEN_FILE" help:"Bearer token for --prometheus (default: the kubeconfig user's token, as 'oc whoami -t' prints it)."`
	PrometheusCAFile    string        `name:"prometheus-ca-file" placeholder:"FILE" env:"VIRTWORK_PROMETHEUS_CA_FILE" help:"CA certificates (PEM) that sign the --prometheus server's certificate (default: the system's)."`
	PrometheusInsecure  bool          `name:"prometheus-insecure-skip-tls-verify" help:"Do not verify the --prometheus server's certificate."`
	PrometheusTenancy   bool          `name:"prometheus-tenancy" help:"Add namespace=<namespace> to every query, as OpenShift's Thanos querier tenancy port (9092) requires."`
	Workers             int           `name:"results-workers" default:"64" hidden:"" help:"Direct mode: VMs read at once."`
}

// looker builds the results Looker for the instance.
func (f resultsFlags) looker(kc *kube.Client, namespace, name string) (*results.Looker, error) {
	l := &results.Looker{Dynamic: kc.Dynamic, Namespace: namespace, Name: name, SourceName: "direct", Host: kc.Host()}
	if f.Prometheus == "" {
		if f.VMTimeout <= 0 {
			return nil, fmt.Errorf("--vm-timeout %s: must be more than 0", f.VMTimeout)
		}
		cs, err := kubernetes.NewForConfig(kc.Config)
		if err != nil {
			return nil, err
		}
		l.Source = &results.Direct{Clientset: cs, Dynamic: kc.Dynamic, Namespace: namespace, Timeout: f.VMTimeout, Workers: f.Workers}
		return l, nil
	}
	if f.Since <= 0 {
		return nil, fmt.Errorf("--since %s: must be more than 0 (e.g. 5m)", f.Since)
	}
	// The kubeconfig's token is the user's cluster credential: it goes
	// to Prometheus only over https or on this machine.
	token := ""
	if results.MaySendClusterToken(f.Prometheus) {
		token = kc.Config.BearerToken
		if kc.Config.BearerTokenFile != "" {
			b, err := os.ReadFile(kc.Config.BearerTokenFile)
			if err != nil {
				return nil, fmt.Errorf("reading the kubeconfig's token file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	if f.PrometheusTokenFile != "" {
		b, err := os.ReadFile(f.PrometheusTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-token-file: %w", unwrapPath(err))
		}
		token = strings.TrimSpace(string(b))
	}
	l.SourceName, l.Since = "prometheus", f.Since.String()
	source := &results.Prometheus{
		URL: f.Prometheus, Namespace: namespace, Since: f.Since, Token: token,
		CAFile: f.PrometheusCAFile, Insecure: f.PrometheusInsecure, Tenancy: f.PrometheusTenancy,
	}
	if err := source.Check(); err != nil {
		return nil, err
	}
	l.Source = source
	return l, nil
}

type resultsCmd struct {
	targetFlags
	kubeFlags
	history.DBFlags
	resultsFlags
	Output string        `name:"output" short:"o" enum:"text,json" default:"text" help:"text: a table per workload; json: the whole report."`
	Watch  bool          `name:"watch" short:"w" help:"Look again every --every until interrupted (Ctrl-C)."`
	Every  time.Duration `name:"every" default:"10s" help:"With --watch: time between looks."`
}

func (c *resultsCmd) Help() string {
	return `Shows the load the workloads achieve: per workload role, how many of the
instance's VMs report figures, each figure summed over them with the per-VM
minimum, median and maximum, and the age of the newest figures. VMs that do not
report are listed with the reason: no answer, figures stale (older than three
of the workload's intervals), or the tool failing (its last run failed).

By default each VM's exporter (port 9100) is read through the API server's proxy
to the VM's virt-launcher pod. With --prometheus the figures come from
Prometheus, averaged over --since. Either way RBAC on the namespace is enough:
get configmaps (the inventory) and list virtualmachines; reading directly also
list virtualmachineinstances, list pods and get pods/proxy.

Examples:
  virtwork results
  virtwork results -n perf --name big -o json
  virtwork results --watch
  virtwork results --prometheus https://thanos-querier.openshift-monitoring.svc:9092 --prometheus-tenancy

Exit status: 0 every VM reports; 3 some tool is failing; 4 some VM is missing
or its figures are stale; 1 the results could not be read. What is shown is
recorded in the history ('virtwork history').`
}

func (c *resultsCmd) Run(e *env) error {
	if c.Watch && c.Every <= 0 {
		return fmt.Errorf("--every %s: must be more than 0", c.Every)
	}
	cfg, err := c.config(e)
	if err != nil {
		return err
	}
	ns := cfg.Namespace
	db, err := c.DBFlags.OpenWithDefault(e.getenv, cfg.HistoryDB, cfg.NoHistory)
	if err != nil {
		return err
	}
	kc, err := c.client(ns)
	if err != nil {
		return err
	}
	looker, err := c.looker(kc, ns, c.Name)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	format, _ := printer.ParseFormat(c.Output)
	var last *results.Report
	for {
		report, err := looker.Look(ctx)
		if err != nil {
			if last != nil && ctx.Err() != nil {
				break // interrupted while watching: keep the last look
			}
			if errors.Is(err, results.ErrNoInstance) {
				return exitError{code: apply.ExitError, err: err}
			}
			return err
		}
		last = report
		if c.Watch && format != printer.JSON && printer.IsTerminal(e.stdout) {
			fmt.Fprint(e.stdout, "\033[H\033[2J") // clear the screen
		}
		if err := printer.Results(e.stdout, report, format); err != nil {
			return err
		}
		if !c.Watch {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.Every):
		}
		if ctx.Err() != nil {
			break
		}
	}
	recordResults(e, db, kc, c.Name, last)
	if code := last.ExitCode(); code != 0 {
		return exitError{code: code}
	}
	return nil
}

// recordResults writes a results look to the history; failing to is a
// warning, as for apply.
func recordResults(e *env, db *history.DB, kc *kube.Client, name string, r *results.Report) {
	if db == nil || r == nil {
		return
	}
	inv, _ := inventory.New(name, r.Namespace)
	meta := history.Meta{
		Command: "results", User: history.CurrentUser(), Version: version.String(),
		KubeContext: kc.ContextName(), Server: kc.Host(), Namespace: r.Namespace, Name: name, InventoryID: inv.ID(),
	}
	if err := db.PutResults(meta, r); err != nil {
		fmt.Fprintf(e.stderr, "virtwork: warning: these results were not recorded in the history: %v\n", err)
	}
}

// waitForFigures looks at the instance's figures until every VM has
// reported its first figures or ctx ends (apply --wait-for results).
func waitForFigures(ctx context.Context, looker *results.Looker, poll time.Duration) (*results.Report, error) {
	for {
		report, err := looker.Look(ctx)
		if err == nil && report.AllReported() {
			return report, nil
		}
		select {
		case <-ctx.Done():
			if report != nil {
				return report, ctx.Err()
			}
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(poll):
		}
	}
}

// waitForResults is the value of apply --wait-for that also waits for the
// first figures.
const waitForResults = "results"

// waitForResults waits, after apply, until every VM reports its first
// figures (or the rest of --timeout is over), prints them and records
// them in the history.
func (c *applyCmd) waitForResults(e *env, db *history.DB, kc *kube.Client, namespace string, left time.Duration) error {
	looker, err := resultsFlags{VMTimeout: results.DefaultTimeout}.looker(kc, namespace, c.Name)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, max(left, time.Second))
	defer wcancel()
	report, err := waitForFigures(wctx, looker, 2*time.Second)
	if report != nil {
		format, _ := printer.ParseFormat(c.Output)
		var perr error
		if format == printer.JSON {
			perr = printer.ResultsEvent(e.stdout, report)
		} else {
			fmt.Fprintln(e.stdout)
			perr = printer.Results(e.stdout, report, format)
		}
		if perr != nil {
			return perr
		}
		recordResults(e, db, kc, c.Name, report)
	}
	switch {
	case ctx.Err() != nil:
		return exitError{code: apply.ExitInterrupted}
	case err != nil && report != nil:
		return exitError{code: apply.ExitTimeout, err: fmt.Errorf("not every VM reported its first figures within --timeout %s (%d missing)", c.Timeout, report.Counts()[results.Missing])}
	case err != nil:
		return exitError{code: apply.ExitTimeout, err: fmt.Errorf("waiting for the first figures: %w", err)}
	}
	return nil
}
