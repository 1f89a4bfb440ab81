package history

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/virtwork/virtwork/apply/event"
)

// Resolve finds a run by id (or a unique prefix of it), or by "last" (the
// newest apply that was not a dry run) and "last~N" (the one N before it),
// with its details.
func (db *DB) Resolve(ref string) (*Run, error) {
	if ref != "last" && !strings.HasPrefix(ref, "last~") {
		return db.Get(ref)
	}
	back := 0
	if n, ok := strings.CutPrefix(ref, "last~"); ok {
		var err error
		if back, err = strconv.Atoi(n); err != nil || back < 0 {
			return nil, fmt.Errorf("run %q: want last, last~N (N = 1, 2, ...) or a run id", ref)
		}
	}
	runs, err := db.List(Filter{})
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.Command != "apply" || r.DryRun {
			continue
		}
		if back == 0 {
			return db.Get(r.ID)
		}
		back--
	}
	return nil, fmt.Errorf("%w %q: %s holds fewer apply runs ('virtwork history' lists them)", ErrNotFound, ref, db.path)
}

// Comparison sets two runs side by side: their settings and their
// per-phase figures, with the change from A to B.
type Comparison struct {
	A        RunRef        `json:"a"`
	B        RunRef        `json:"b"`
	Settings []SettingPair `json:"settings"`
	Phases   []PhaseChange `json:"phases"`
	// Regressions are the figures that got slower than the limits passed
	// to Check allow.
	Regressions []Regression `json:"regressions,omitempty"`
}

// RunRef names a compared run.
type RunRef struct {
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	Outcome Outcome   `json:"outcome"`
	VMs     int       `json:"vms"`
	Ready   int       `json:"ready"`
}

// SettingPair is one setting of both runs.
type SettingPair struct {
	Name    string `json:"name"`
	A       string `json:"a"`
	B       string `json:"b"`
	Differs bool   `json:"differs,omitempty"`
}

// PhaseChange is one lifecycle step in both runs (nil where a run has no
// figures for it) and the change of each figure in percent of A's.
type PhaseChange struct {
	Phase  string             `json:"phase"`
	A      *Stats             `json:"a,omitempty"`
	B      *Stats             `json:"b,omitempty"`
	Change map[string]float64 `json:"changePercent,omitempty"`
}

// Regression is a figure that got slower by more than its limit.
type Regression struct {
	Phase  string  `json:"phase"`
	Figure string  `json:"figure"`
	A      Seconds `json:"a"`
	B      Seconds `json:"b"`
	// Change is in percent of A; absent when A was 0.
	Change  float64 `json:"changePercent,omitempty"`
	Limit   float64 `json:"limitPercent"`
	Message string  `json:"message"`
}

// Figures compared per phase, in table order.
var Figures = []string{"p50", "p90", "p95", "p99", "max", "mean"}

// Compare sets runs a and b side by side.
func Compare(a, b *Run) *Comparison {
	c := &Comparison{A: refOf(a), B: refOf(b)}
	sa, sb := settingsOf(a), settingsOf(b)
	for _, kv := range sa {
		c.Settings = append(c.Settings, SettingPair{Name: kv[0], A: kv[1]})
	}
	for _, kv := range sb {
		found := false
		for i := range c.Settings {
			if c.Settings[i].Name == kv[0] {
				c.Settings[i].B, found = kv[1], true
			}
		}
		if !found {
			c.Settings = append(c.Settings, SettingPair{Name: kv[0], B: kv[1]})
		}
	}
	for i := range c.Settings {
		s := &c.Settings[i]
		s.Differs = s.A != s.B
		s.A, s.B = dashIfEmpty(s.A), dashIfEmpty(s.B)
	}
	pa, pb := phaseMap(a), phaseMap(b)
	for _, p := range event.Phases {
		ch := PhaseChange{Phase: p, A: pa[p], B: pb[p]}
		if ch.A == nil && ch.B == nil {
			continue
		}
		if ch.A != nil && ch.B != nil {
			ch.Change = map[string]float64{}
			for _, f := range Figures {
				va, _ := ch.A.Get(f)
				vb, _ := ch.B.Get(f)
				if pct, ok := percent(va, vb); ok {
					ch.Change[f] = pct
				}
			}
		}
		c.Phases = append(c.Phases, ch)
	}
	return c
}

// MinRegression is the slow-down Check always lets pass: the cluster's
// timestamps have whole seconds, so a step can move by a second without
// anything having changed.
const MinRegression = time.Second

// Limits are the allowed slow-downs in percent, per figure (p50, p90, p95,
// p99, max, mean).
type Limits map[string]float64

// ParseLimits reads --fail-if-slower values: "PCT" for every quantile, or
// "FIGURE=PCT" (p50, p90, p95, p99, max, mean), comma-separated or given
// several times.
func ParseLimits(values []string) (Limits, error) {
	l := Limits{}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			fig, pct, hasFig := strings.Cut(part, "=")
			if !hasFig {
				pct, fig = fig, ""
			}
			n, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
			if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
				return nil, fmt.Errorf("--fail-if-slower %q: want a percentage such as 10, or FIGURE=PCT such as p99=20", part)
			}
			if !hasFig {
				for _, q := range event.Quantiles {
					l[q] = n
				}
				continue
			}
			fig = strings.ToLower(fig)
			if _, ok := (Stats{}).Get(fig); !ok || fig == "min" {
				return nil, fmt.Errorf("--fail-if-slower %q: unknown figure %q (want p50, p90, p95, p99, max or mean)", part, fig)
			}
			l[fig] = n
		}
	}
	if len(l) == 0 {
		return nil, errors.New("--fail-if-slower: no limit given")
	}
	return l, nil
}

// Check records in c.Regressions every phase figure that B has slower
// than A by more than its limit (and by more than MinRegression), and
// returns them.
func (c *Comparison) Check(limits Limits) []Regression {
	c.Regressions = nil
	for _, ph := range c.Phases {
		if ph.A == nil || ph.B == nil {
			continue
		}
		for _, f := range Figures {
			limit, ok := limits[f]
			if !ok {
				continue
			}
			va, _ := ph.A.Get(f)
			vb, _ := ph.B.Get(f)
			if time.Duration(vb-va) <= MinRegression {
				continue
			}
			pct, ok := percent(va, vb)
			if ok && pct <= limit {
				continue
			}
			msg := fmt.Sprintf("%s %s: %s -> %s (%+.1f%%, limit %+.1f%%)", ph.Phase, f, va, vb, pct, limit)
			if !ok {
				msg = fmt.Sprintf("%s %s: %s -> %s (limit %+.1f%%)", ph.Phase, f, va, vb, limit)
			}
			c.Regressions = append(c.Regressions, Regression{Phase: ph.Phase, Figure: f, A: va, B: vb, Change: pct, Limit: limit, Message: msg})
		}
	}
	return c.Regressions
}

// percent is the change from a to b in percent of a; false from 0 to
// more (no percentage says that).
func percent(a, b Seconds) (float64, bool) {
	if a == 0 {
		return 0, b == 0
	}
	return (float64(b) - float64(a)) / float64(a) * 100, true
}

func refOf(r *Run) RunRef {
	return RunRef{ID: r.ID, Start: r.Start, Outcome: r.Outcome, VMs: r.VMCount, Ready: r.ReadyCount}
}

func phaseMap(r *Run) map[string]*Stats {
	m := map[string]*Stats{}
	for i := range r.Phases {
		m[r.Phases[i].Phase] = &r.Phases[i].Stats
	}
	return m
}

// settingsOf lists what a run was: where, with which virtwork, which
// objects and resources, in a fixed order.
func settingsOf(r *Run) [][2]string {
	out := [][2]string{
		{"cluster", strings.TrimSpace(r.KubeContext + " " + r.Server)},
		{"namespace/name", r.Namespace + "/" + r.Name},
		{"virtwork", r.Version},
		{"source", r.Source},
		{"digest", r.Digest},
		{"wait for", r.WaitFor},
		{"timeout", r.Timeout.String()},
		{"VMs", strconv.Itoa(r.VMCount)},
	}
	if c := r.Config; c != nil {
		out = append(out,
			[2]string{"container disk image", c.ContainerDiskImage},
			[2]string{"storage class", c.StorageClass})
	}
	for _, w := range r.Workloads {
		name := "workload " + w.Workload
		if w.Role != "" {
			name += "/" + w.Role
		}
		v := fmt.Sprintf("%d VMs, %d cores, %s", w.VMs, w.CPUCores, dashIfEmpty(w.Memory))
		if len(w.Disks) > 0 {
			v += ", disks " + strings.Join(w.Disks, ",")
		}
		out = append(out, [2]string{name, v})
	}
	return out
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
