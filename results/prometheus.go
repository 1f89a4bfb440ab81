package results

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus reads the figures from Prometheus's HTTP API (for example
// OpenShift's Thanos querier, scraping the exporters through the
// ServiceMonitor render adds). Figures are averaged over Since; the
// bookkeeping (last success, last run's outcome, interval) is the last
// value in that window.
type Prometheus struct {
	URL       string
	Namespace string
	Since     time.Duration
	// Token is sent as a bearer token when not empty.
	Token string
	// CAFile, if set, holds the CAs that sign Prometheus's certificate;
	// Insecure skips verifying it.
	CAFile   string
	Insecure bool
	// Tenancy adds namespace=<Namespace> to every query, which
	// OpenShift's tenancy port (9092) of the Thanos querier requires.
	Tenancy bool
	Timeout time.Duration
}

// Labels Prometheus adds to what it scrapes (target and replica labels),
// which do not tell figures apart.
var targetLabels = map[string]bool{
	"__name__": true, "namespace": true, "pod": true, "instance": true, "job": true,
	"service": true, "endpoint": true, "container": true, "prometheus": true,
	"prometheus_replica": true, "tenant_id": true,
}

// Read queries Prometheus for the figures of vms, which it finds by the
// exporter's vm label in the namespace.
func (p *Prometheus) Read(ctx context.Context, vms []VM) (map[string]Reading, time.Time, error) {
	client, err := p.client()
	if err != nil {
		return nil, time.Time{}, err
	}
	q := promv1.NewAPI(client)
	now := time.Now()
	window := model.Duration(p.Since).String()
	ns := fmt.Sprintf("namespace=%q", p.Namespace)
	queries := []struct {
		promql  string
		average bool
		rose    bool
	}{
		// The bookkeeping, last values.
		{promql: fmt.Sprintf(`last_over_time({__name__=~"virtwork_workload_.+",%s,workload!=""}[%s])`, ns, window)},
		// The figures, averaged.
		{promql: fmt.Sprintf(`avg_over_time({__name__=~"virtwork_.+",__name__!~"virtwork_(workload|guest|exporter)_.+",%s,workload!=""}[%s])`, ns, window), average: true},
		// Did the failures counter rise?
		{promql: fmt.Sprintf(`increase(virtwork_workload_run_failures_total{%s}[%s]) > 0`, ns, window), rose: true},
		// Did the exporter answer? Its guest figures (label vm only) are
		// all a VM that runs no tool serves (the network server), and
		// all any VM serves before its tool's first run ends.
		{promql: fmt.Sprintf(`last_over_time(virtwork_guest_cpus{%s}[%s])`, ns, window)},
	}
	out := map[string]Reading{}
	for _, query := range queries {
		ctx, cancel := context.WithTimeout(ctx, p.timeout())
		v, _, err := q.Query(ctx, query.promql, now)
		cancel()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("querying Prometheus at %s: %w", redact(p.URL), err)
		}
		vec, ok := v.(model.Vector)
		if !ok {
			return nil, time.Time{}, fmt.Errorf("querying Prometheus at %s: got a %s, want a vector", redact(p.URL), v.Type())
		}
		for _, s := range vec {
			vm := string(s.Metric[labelVM])
			r := out[vm]
			if query.rose {
				r.FailuresRose = true
				out[vm] = r
				continue
			}
			name := string(s.Metric[model.MetricNameLabel])
			labels := map[string]string{}
			for k, v := range s.Metric {
				if !targetLabels[string(k)] {
					labels[string(k)] = string(v)
				}
			}
			r.Samples = append(r.Samples, Sample{Name: name, Labels: labels, Value: float64(s.Value), Counter: strings.HasSuffix(name, "_total")})
			r.Averaged = r.Averaged || query.average
			out[vm] = r
		}
	}
	readings := make(map[string]Reading, len(vms))
	for _, vm := range vms {
		r, ok := out[vm.Name]
		if !ok || len(r.Samples) == 0 {
			r.Err = fmt.Errorf("no figures in Prometheus in the last %s", window)
		}
		readings[vm.Name] = r
	}
	return readings, now, nil
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// MaySendClusterToken reports whether the cluster credentials of the
// kubeconfig may go to the Prometheus at raw: only over https, or to this
// machine. Over plain http to another host the token would cross the
// network readable by anyone on the way; --prometheus-token-file still
// sends a token the user chose on purpose.
func MaySendClusterToken(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check reports bad settings (the URL, the CA file) before anything is
// read, so that bad input fails alone.
func (p *Prometheus) Check() error {
	_, err := p.client()
	return err
}

func (p *Prometheus) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 30 * time.Second
}

func (p *Prometheus) client() (api.Client, error) {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--prometheus %q is not an http:// or https:// URL", redact(p.URL))
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: p.Insecure} //nolint:gosec // only when asked for
	if p.CAFile != "" {
		pem, err := os.ReadFile(p.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--prometheus-ca-file %s: no PEM certificate in it", p.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	rt := &queryRoundTripper{next: base, origin: origin(u), token: p.Token, namespace: p.Namespace, tenancy: p.Tenancy}
	client := &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if p.Token != "" && origin(req.URL) != rt.origin {
			return fmt.Errorf("redirected to %s, not the scheme and host of --prometheus: the token goes to no other (give --prometheus that URL if it is the right one)", req.URL.Redacted())
		}
		return nil
	}}
	return api.NewClient(api.Config{Address: p.URL, Client: client})
}

// origin is a URL's scheme and host (with the port): where a token may go.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// queryRoundTripper adds the bearer token to every request to origin
// (only there: the token may be the user's cluster credential) and, for
// the tenancy port, the namespace parameter.
type queryRoundTripper struct {
	next      http.RoundTripper
	origin    string
	token     string
	namespace string
	tenancy   bool
}

func (q *queryRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if q.token != "" && origin(req.URL) == q.origin {
		req.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.tenancy {
		v := req.URL.Query()
		v.Set("namespace", q.namespace)
		req.URL.RawQuery = v.Encode()
	}
	return q.next.RoundTrip(req)
}
