package kube

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var fastRetry = RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond}

func client(stats *RetryStats) *http.Client {
	return &http.Client{Transport: &retryTransport{next: http.DefaultTransport, policy: fastRetry, stats: stats}}
}

func TestRetryTransientStatusThenSuccess(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "payload" {
			t.Errorf("attempt %d got body %q, want the request body replayed", calls.Load()+1, body)
		}
		if calls.Add(1) <= 2 {
			w.WriteHeader([]int{http.StatusTooManyRequests, http.StatusServiceUnavailable}[calls.Load()-1])
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	stats := &RetryStats{}
	req, _ := http.NewRequest(http.MethodPatch, srv.URL, bytes.NewReader([]byte("payload")))
	resp, err := client(stats).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || calls.Load() != 3 || stats.Retried.Load() != 2 {
		t.Errorf("status %d after %d calls, %d retries; want 200 after 3 calls, 2 retries", resp.StatusCode, calls.Load(), stats.Retried.Load())
	}
}

func TestRetryGivesUpAndCounts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"bad gateway","code":502}`))
	}))
	defer srv.Close()
	stats := &RetryStats{}
	resp, err := client(stats).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"message":"bad gateway (still failing after 4 attempts)"`) {
		t.Errorf("body %s: want the retries told in the Status message", body)
	}
	if resp.StatusCode != http.StatusBadGateway || calls.Load() != 4 || stats.GaveUp.Load() != 1 {
		t.Errorf("status %d, %d calls, gave up %d; want 502, 4 calls, 1", resp.StatusCode, calls.Load(), stats.GaveUp.Load())
	}
}

func TestNoRetryOnPermanentStatus(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	resp, err := client(&RetryStats{}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if calls.Load() != 1 {
		t.Errorf("403 was tried %d times, want once", calls.Load())
	}
}

// A server that resets the first connection (like a load balancer dropping
// an idle one) is retried; one that always resets is reported.
func TestRetryConnectionReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	resetFirst := func(always bool) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n := conns.Add(1); always || n == 1 {
				buf := make([]byte, 1024)
				_, _ = c.Read(buf)
				c.(*net.TCPConn).SetLinger(0) // RST on close
				c.Close()
				continue
			}
			go func() {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
				c.Close()
			}()
		}
	}
	go resetFirst(false)
	resp, err := client(&RetryStats{}).Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatalf("reset connection not retried: %v", err)
	}
	resp.Body.Close()
	if conns.Load() != 2 {
		t.Errorf("%d connections, want 2", conns.Load())
	}
}

func TestUnreachableIsExplained(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	stats := &RetryStats{}
	_, err := client(stats).Get("http://" + addr)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if stats.Retried.Load() != 0 {
		t.Errorf("connection refused was retried %d times", stats.Retried.Load())
	}
	got := Explain(err, "https://"+addr).Error()
	if !strings.HasPrefix(got, "cannot reach the Kubernetes API server at https://"+addr+": connection refused") || strings.Contains(got, "\n") {
		t.Errorf("Explain = %q", got)
	}
	var u *UnreachableError
	if !errors.As(Explain(err, ""), &u) {
		t.Error("Explain does not return an *UnreachableError")
	}
}
