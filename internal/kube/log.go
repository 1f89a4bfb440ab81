package kube

import (
	"fmt"
	"net/http"
	"time"
)

// Logf receives one line per API request for 'virtwork -v'.
type Logf func(format string, args ...any)

// logTransport logs each attempt of a request when its answer's headers
// arrive: method, path and query, status and time taken. Bodies and
// headers (credentials, Secret data) are never logged.
type logTransport struct {
	next http.RoundTripper
	logf Logf
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	took := ms(time.Since(start))
	if err != nil {
		t.logf("%s %s: %v (%s)", req.Method, requestPath(req), err, took)
	} else {
		t.logf("%s %s %s (%s)", req.Method, requestPath(req), resp.Status, took)
	}
	return resp, err
}

// requestPath is the URL's path and query: which objects, and what was
// asked (watch, labelSelector, dryRun, fieldManager). The host is said
// once, by the configuration lines.
func requestPath(req *http.Request) string {
	p := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		p += "?" + req.URL.RawQuery
	}
	return p
}

// ms formats a duration in milliseconds, which reads well for API calls
// (0.4ms, 12.0ms, 1530.2ms).
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
