// Package kube opens virtwork's connection to a Kubernetes API server: the
// usual kubeconfig/context/namespace resolution of cli-runtime (in-cluster
// config when run in a pod), raised client rate limits, retries of transient
// failures, and one-line explanations of the errors users hit.
package kube

import (
	"fmt"
	"net/http"
	"os"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// Client-side rate limits. client-go's 5 QPS / burst 10 make a thousand VMs
// crawl; virtwork's own requests are few kinds of small objects, and the API
// server's priority and fairness protects it, so the defaults are high.
// Measured with apply's bench (-bench.qps), 1,000 VMs on the 2-core local
// cluster: --qps 20 applied in 48 s, 100 in 8.1 s, 500 in 2.6 s and 2000
// in 2.6 s (the API server's limit).
const (
	DefaultQPS   = 500
	DefaultBurst = 1000
)

// Options select the cluster, as kubectl's flags of the same names do.
type Options struct {
	Kubeconfig string // --kubeconfig; "" uses $KUBECONFIG, ~/.kube/config or in-cluster config
	Context    string // --context
	Namespace  string // -n/--namespace; "" uses the context's namespace
	QPS        float32
	Burst      int
	// Retry configures retries of transient failures; the zero value
	// uses DefaultRetry.
	Retry RetryPolicy
	// Logf, if set, gets a line per request and per retry (virtwork -v).
	Logf Logf
}

// Client is one connection to an API server, shared by every request of a
// command.
type Client struct {
	Flags    *genericclioptions.ConfigFlags
	Factory  cmdutil.Factory
	Config   *rest.Config
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	Mapper   meta.RESTMapper
	// Namespace is -n, else the kubeconfig context's namespace, else "".
	Namespace string
	// NamespaceExplicit says whether Namespace came from -n or the context
	// (true) rather than being empty.
	NamespaceExplicit bool
	// Retries counts transient failures retried and given up on.
	Retries *RetryStats
}

// New builds a Client. It does not contact the server: the first request
// does (see ServerVersion).
func New(opts Options) (*Client, error) {
	if opts.QPS == 0 {
		opts.QPS = DefaultQPS
	}
	if opts.Burst == 0 {
		opts.Burst = DefaultBurst
	}
	if opts.QPS < 0 || opts.Burst < 0 {
		return nil, fmt.Errorf("invalid --qps %v / --burst %d: must be positive", opts.QPS, opts.Burst)
	}
	policy := opts.Retry.withDefaults()
	stats := &RetryStats{}

	flags := genericclioptions.NewConfigFlags(true).
		WithDiscoveryBurst(300).WithDiscoveryQPS(50)
	flags.KubeConfig = &opts.Kubeconfig
	flags.Context = &opts.Context
	flags.Namespace = &opts.Namespace
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.QPS = opts.QPS
		c.Burst = opts.Burst
		c.UserAgent = "virtwork"
		// API warnings (deprecations) would repeat for each of a
		// thousand VMs: print each once.
		c.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
		c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			if opts.Logf != nil {
				// Below the retries, so that every attempt is logged.
				rt = &logTransport{next: rt, logf: opts.Logf}
			}
			return &retryTransport{next: rt, policy: policy, stats: stats, logf: opts.Logf}
		})
		return c
	}

	ns, explicit, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, explainConfig(err)
	}
	config, err := flags.ToRESTConfig()
	if err != nil {
		return nil, explainConfig(err)
	}
	f := cmdutil.NewFactory(flags)
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating dynamic client: %w", err)
	}
	// The metadata client lists every kind the server serves (destroy's
	// check that a namespace holds nothing else), deprecated ones too
	// (v1 Endpoints): their deprecation warnings say nothing to the user.
	mdConfig := rest.CopyConfig(config)
	mdConfig.WarningHandler = rest.NoWarnings{}
	md, err := metadata.NewForConfig(mdConfig)
	if err != nil {
		return nil, fmt.Errorf("creating metadata client: %w", err)
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return nil, explainConfig(err)
	}
	// Without -n and without a namespace in the context, clientcmd says
	// "default" but not explicit.
	if !explicit && opts.Namespace == "" {
		_, ctxNS := contextNamespace(flags)
		explicit = ctxNS
	}
	return &Client{
		Flags: flags, Factory: f, Config: config, Dynamic: dyn, Metadata: md, Mapper: mapper,
		Namespace: ns, NamespaceExplicit: explicit || opts.Namespace != "", Retries: stats,
	}, nil
}

// contextNamespace reports the current context's namespace, if it sets one.
func contextNamespace(flags *genericclioptions.ConfigFlags) (string, bool) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", false
	}
	name := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		name = *flags.Context
	}
	if c, ok := raw.Contexts[name]; ok && c.Namespace != "" {
		return c.Namespace, true
	}
	return "", false
}

// ContextName is the kubeconfig context in use ("" in-cluster).
func (c *Client) ContextName() string {
	raw, err := c.Flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	if c.Flags.Context != nil && *c.Flags.Context != "" {
		return *c.Flags.Context
	}
	return raw.CurrentContext
}

// Host is the API server's URL.
func (c *Client) Host() string { return c.Config.Host }

// explainConfig words kubeconfig loading errors.
func explainConfig(err error) error {
	return fmt.Errorf("loading kubeconfig: %w (check --kubeconfig, $KUBECONFIG and --context)", err)
}

// ServerVersion asks the API server for its version: a cheap way to check
// that it is reachable and the credentials work, with errors explained.
func (c *Client) ServerVersion() (string, error) {
	dc, err := c.Factory.ToDiscoveryClient()
	if err != nil {
		return "", Explain(err, c.Host())
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", Explain(fmt.Errorf("asking the API server for its version: %w", err), c.Host())
	}
	return v.GitVersion, nil
}
