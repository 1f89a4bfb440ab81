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

// Comparison sets two runs side by side: their settings, their
// per-phase figures and the workload figures recorded for them, with the
// change from A to B.
type Comparison struct {
	A        RunRef        `json:"a"`
	B        RunRef        `json:"b"`
	Settings []SettingPair `json:"settings"`
	Phases   []PhaseChange `json:"phases"`
	// Results are the workloads' figures of both runs (see ResultsOf);
	// empty when neither has any recorded.
	Results []ResultChange `json:"results,omitempty"`
	// Regressions are what Check found worse in B.
	Regressions []Regression `json:"regressions,omitempty"`
}

// RunRef names a compared run.
type RunRef struct {
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	Outcome Outcome   `json:"outcome"`
	Error   string    `json:"error,omitempty"`
	VMs     int       `json:"vms"`
	Ready   int       `json:"ready"`
	// Results is the run of command "results" whose figures are compared.
	Results *ResultsRef `json:"results,omitempty"`
}

// ResultsRef names the results run of a compared run.
type ResultsRef struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Outcome Outcome   `json:"outcome"`
	Error   string    `json:"error,omitempty"`
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
	A      *PhaseStats        `json:"a,omitempty"`
	B      *PhaseStats        `json:"b,omitempty"`
	Change map[string]float64 `json:"changePercent,omitempty"`
}

// ResultChange is one workload figure in both runs (nil where a run has
// none) and its change in percent of A's.
type ResultChange struct {
	Workload string   `json:"workload"`
	Role     string   `json:"role,omitempty"`
	Metric   string   `json:"metric"`
	Unit     string   `json:"unit,omitempty"`
	A        *float64 `json:"a,omitempty"`
	B        *float64 `json:"b,omitempty"`
	Change   *float64 `json:"changePercent,omitempty"`
	// Better is "higher" or "lower": which way the figure improves (see
	// BetterOf); "" when that is not known, and then no gate checks it.
	Better string `json:"better,omitempty"`
}

// Regression is something B did worse than A by more than Check allows.
type Regression struct {
	// Reason: "outcome" (B did not succeed), "count" (fewer of B's VMs
	// reached a phase, or more missed it), "slower" (a phase figure over
	// its limit), "results" (B has no figures for a workload figure of A,
	// or its results run failed), "worse" (a workload
	// figure over its limit).
	Reason   string `json:"reason"`
	Phase    string `json:"phase,omitempty"`
	Workload string `json:"workload,omitempty"` // workload[/role], for results
	// Figure is the phase figure (p50 ... mean, count), the workload
	// metric, or "outcome".
	Figure string `json:"figure"`
	// A and B are the figure's values: Seconds for phase figures, a
	// number of VMs for count, the Outcome for outcome, the workload
	// figure in Unit.
	A    any    `json:"a,omitempty"`
	B    any    `json:"b,omitempty"`
	Unit string `json:"unit,omitempty"`
	// Change is in percent of A; absent when A was 0.
	Change  float64 `json:"changePercent,omitempty"`
	Limit   float64 `json:"limitPercent,omitempty"`
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
	c.A.Error, c.B.Error = a.Error, b.Error
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

// Gate says what Check lets pass.
type Gate struct {
	// Slower limits the phase figures (--fail-if-slower); nil: they are
	// not checked.
	Slower Limits
	// Worse limits the workload figures whose better direction is known
	// (--fail-if-worse), in percent; nil: they are not checked.
	Worse *float64
}

// Check records in c.Regressions, and returns, what B did worse than A
// beyond g: with any limit set, B not succeeding (whatever A did: a
// failed run never passes a gate); with Slower, a phase of A that fewer
// of B's VMs reached (or more missed, or B has no figures for), and
// every phase figure of B slower than A's by more than its limit (and by
// more than MinRegression); with Worse, B's results run failing, a
// workload figure of A that B lacks, and every figure that got worse by
// more than Worse percent. Figures absent from B are never taken as
// fast: a run that failed before measuring anything is a regression,
// not a pass.
func (c *Comparison) Check(g Gate) []Regression {
	c.Regressions = nil
	if g.Slower == nil && g.Worse == nil {
		return nil
	}
	add := func(r Regression) { c.Regressions = append(c.Regressions, r) }
	if c.B.Outcome != Succeeded {
		add(Regression{Reason: "outcome", Figure: "outcome", A: c.A.Outcome, B: c.B.Outcome,
			Message: fmt.Sprintf("outcome: %s -> %s%s", c.A.Outcome, c.B.Outcome, parenthesized(c.B.Error))})
	}
	if g.Slower != nil {
		c.checkPhases(g.Slower, add)
	}
	if g.Worse != nil {
		c.checkResults(*g.Worse, add)
	}
	return c.Regressions
}

func (c *Comparison) checkPhases(limits Limits, add func(Regression)) {
	for _, ph := range c.Phases {
		if ph.A == nil {
			continue // a step only B has (more waited for) is no regression
		}
		if ph.B == nil {
			add(Regression{Reason: "count", Phase: ph.Phase, Figure: "count", A: ph.A.Count, B: 0, Unit: "VMs",
				Message: fmt.Sprintf("%s count: %d -> 0 VMs (B has no figures for it)", ph.Phase, ph.A.Count)})
			continue
		}
		if ph.B.Count < ph.A.Count || ph.B.Missing > ph.A.Missing {
			add(Regression{Reason: "count", Phase: ph.Phase, Figure: "count", A: ph.A.Count, B: ph.B.Count, Unit: "VMs",
				Message: fmt.Sprintf("%s count: %d -> %d VMs (missing %d -> %d)", ph.Phase, ph.A.Count, ph.B.Count, ph.A.Missing, ph.B.Missing)})
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
			add(Regression{Reason: "slower", Phase: ph.Phase, Figure: f, A: va, B: vb, Unit: "s", Change: pct, Limit: limit, Message: msg})
		}
	}
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
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

func phaseMap(r *Run) map[string]*PhaseStats {
	m := map[string]*PhaseStats{}
	for i := range r.Phases {
		m[r.Phases[i].Phase] = &r.Phases[i]
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
