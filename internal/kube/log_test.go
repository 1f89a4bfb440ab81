package kube

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The verbose log shows every attempt of a request and each retry, and
// nothing of its headers or body.
func TestLogShowsAttemptsAndRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	c := &http.Client{Transport: &retryTransport{
		next: &logTransport{next: http.DefaultTransport, logf: logf}, policy: fastRetry, stats: &RetryStats{}, logf: logf,
	}}
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/api/v1/namespaces/ns/secrets/cpu-cloudinit?fieldManager=virtwork",
		bytes.NewReader([]byte("s3cret-user-data")))
	req.Header.Set("Authorization", "Bearer s3cret-token")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	want := []string{
		`^PATCH /api/v1/namespaces/ns/secrets/cpu-cloudinit\?fieldManager=virtwork 503 Service Unavailable \(\d+\.\dms\)$`,
		`^retrying PATCH /api/v1/namespaces/ns/secrets/cpu-cloudinit\?fieldManager=virtwork in \d+\.\dms \(503 Service Unavailable; attempt 2 of 4\)$`,
		`^PATCH /api/v1/namespaces/ns/secrets/cpu-cloudinit\?fieldManager=virtwork 200 OK \(\d+\.\dms\)$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("log:\n%s\nwant %d lines", strings.Join(lines, "\n"), len(want))
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, lines[i], w)
		}
	}
	if all := strings.Join(lines, "\n"); strings.Contains(all, "s3cret") {
		t.Errorf("the log shows a credential or the request body:\n%s", all)
	}
}
