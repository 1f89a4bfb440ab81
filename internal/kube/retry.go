package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// RetryPolicy says how transient failures are retried: 429 Too Many
// Requests and 5xx answers, and connections reset or closed under a request
// (a load balancer in front of the API server dropping an idle connection).
// A server that cannot be reached at all (connection refused, unknown host,
// timeout) is not retried: waiting would not help, and the user should hear
// at once.
type RetryPolicy struct {
	Attempts int           // total tries per request, first one included
	Base     time.Duration // first backoff, doubled each retry
	Max      time.Duration // longest backoff
}

// DefaultRetry retries for about 6 s in all.
var DefaultRetry = RetryPolicy{Attempts: 6, Base: 200 * time.Millisecond, Max: 5 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts == 0 {
		p = DefaultRetry
	}
	if p.Base == 0 {
		p.Base = DefaultRetry.Base
	}
	if p.Max == 0 {
		p.Max = DefaultRetry.Max
	}
	return p
}

// RetryStats counts retries, for reports.
type RetryStats struct {
	Retried atomic.Int64 // retries made
	GaveUp  atomic.Int64 // requests that still failed after the last attempt
}

// retryTransport retries transient failures below client-go, so that every
// client (dynamic, discovery, informers) gets it.
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
	stats  *RetryStats
	logf   Logf // nil: no log
}

// GaveUpError is returned when a request still failed transiently after the
// last attempt.
type GaveUpError struct {
	Method, URL string
	Attempts    int
	Last        string // the last failure: an HTTP status or a network error
	Err         error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("%s %s: still failing after %d attempts: %s", e.Method, e.URL, e.Attempts, e.Last)
}

func (e *GaveUpError) Unwrap() error { return e.Err }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A request body can be replayed only if client-go left a way to.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := t.next.RoundTrip(req)
		transient, wait, last := t.classify(resp, err, attempt)
		if !transient || !replayable {
			return resp, err
		}
		if attempt >= t.policy.Attempts {
			t.stats.GaveUp.Add(1)
			if t.logf != nil {
				t.logf("giving up on %s %s after %d attempts (%s)", req.Method, requestPath(req), attempt, last)
			}
			if resp != nil {
				// Let client-go turn the answer into its usual
				// StatusError, with the retries told in its message.
				return noteGaveUp(resp, attempt), nil
			}
			return nil, &GaveUpError{Method: req.Method, URL: req.URL.Redacted(), Attempts: attempt, Last: last, Err: err}
		}
		if resp != nil {
			// Drain so that the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		t.stats.Retried.Add(1)
		if t.logf != nil {
			t.logf("retrying %s %s in %s (%s; attempt %d of %d)", req.Method, requestPath(req), ms(wait), last, attempt+1, t.policy.Attempts)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// noteGaveUp appends "(still failing after N attempts)" to the message of
// an API Status in resp's body, so that the error users see says that
// virtwork retried.
func noteGaveUp(resp *http.Response, attempts int) *http.Response {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err == nil {
		var status map[string]any
		if json.Unmarshal(body, &status) == nil && status["kind"] == "Status" {
			msg, _ := status["message"].(string)
			status["message"] = fmt.Sprintf("%s (still failing after %d attempts)", msg, attempts)
			if b, err := json.Marshal(status); err == nil {
				body = b
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp
}

// classify says whether a result is transient, how long to wait before the
// next attempt, and how to name the failure.
func (t *retryTransport) classify(resp *http.Response, err error, attempt int) (bool, time.Duration, string) {
	backoff := t.policy.Base << (attempt - 1)
	if backoff > t.policy.Max || backoff <= 0 {
		backoff = t.policy.Max
	}
	// Jitter spreads the retries of many workers.
	backoff = backoff/2 + rand.N(backoff/2+1)
	if err != nil {
		if isTransientNetError(err) {
			return true, backoff, err.Error()
		}
		return false, 0, ""
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return false, 0, ""
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs >= 0 {
			if d := time.Duration(secs) * time.Second; d < t.policy.Max {
				backoff = max(d, backoff)
			}
		}
	}
	return true, backoff, resp.Status
}

// isTransientNetError: the connection broke under a request. Refused
// connections, DNS failures and timeouts are not transient here.
func isTransientNetError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNABORTED)
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
