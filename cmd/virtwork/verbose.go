package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/virtwork/virtwork/internal/config"
)

// verboseLog is what -v prints on stderr: lines stamped with the time
// since the start, a topic (config, cluster, request, timing) and a
// message. A nil *verboseLog logs nothing, so callers need no checks.
type verboseLog struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newVerboseLog(w io.Writer) *verboseLog { return &verboseLog{w: w, start: time.Now()} }

func (l *verboseLog) logf(topic, format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%8.3fs] %-7s %s\n", time.Since(l.start).Seconds(), topic, fmt.Sprintf(format, args...))
}

// requests is the logger internal/kube calls for each request and retry;
// nil without -v.
func (l *verboseLog) requests() func(string, ...any) {
	if l == nil {
		return nil
	}
	return func(format string, args ...any) { l.logf("request", format, args...) }
}

// timed logs how long what took.
func (l *verboseLog) timed(what string, start time.Time) {
	l.logf("timing", "%s: %.1fms", what, float64(time.Since(start))/float64(time.Millisecond))
}

// loadConfig resolves the settings and, with -v, says where each came
// from. Every command loads its configuration through it.
func loadConfig(e *env, flags config.Flags) (*config.Config, error) {
	start := time.Now()
	cfg, err := config.Load(flags, e.getenv)
	if err != nil {
		return nil, err
	}
	for _, o := range cfg.Origins {
		e.verbose.logf("config", "%s", o)
	}
	e.verbose.timed("load configuration", start)
	return cfg, nil
}

// AfterApply hands the -v log to the cluster connection of every command
// that has one (kong calls it after parsing, once cli.AfterApply set it up).
func (k *kubeFlags) AfterApply(e *env) error {
	k.verbose = e.verbose
	return nil
}
