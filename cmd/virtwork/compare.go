package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/report"
	"github.com/virtwork/virtwork/inventory/history"
)

type historyCompareCmd struct {
	historyDBFlag
	A            string   `arg:"" help:"The run to compare against: an id (or unique prefix), last, or last~N (N apply runs before the last; failed ones count)."`
	B            string   `arg:"" help:"The run to compare, as A."`
	FailIfSlower []string `name:"fail-if-slower" placeholder:"PCT|FIGURE=PCT" help:"Exit 3 when a phase figure of B is slower than A's by more than PCT percent (and by more than 1s, the resolution of the cluster's timestamps), when fewer of B's VMs reached a phase of A (or more missed it), or when A succeeded and B did not. PCT alone applies to p50, p90, p95 and p99; FIGURE=PCT to one of p50, p90, p95, p99, max, mean. Repeatable, or comma-separated: --fail-if-slower p50=10,p99=25."`
	FailIfWorse  *float64 `name:"fail-if-worse" placeholder:"PCT" help:"Exit 3 when a workload figure recorded for B ('virtwork results', apply --wait-for results) is worse than A's by more than PCT percent: lower for rates (ops/s, IOPS, bytes/s, bits/s, TPS), higher for latencies, retransmits and failures; also when B lacks a figure A has, or A succeeded and B did not."`
	Output       string   `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (historyCompareCmd) Help() string {
	return `Sets two recorded runs side by side: their settings (marking what differed),
then per lifecycle phase (VMI created, Pending ... Running, Ready) the figures of
both and the change in percent, then the workload figures recorded for each run
('virtwork results' or apply --wait-for results while its VMs ran; the newest
such look) and their change. With --fail-if-slower or --fail-if-worse it exits 3
when B got worse than allowed, so a pipeline can gate on a regression. A run that
failed, or measured fewer VMs, never passes the gate: "last" is the newest apply
even when it failed.

Examples:
  virtwork history compare last~1 last
  virtwork history compare 01jf3k 01jf9z -o json
  virtwork history compare last~1 last --fail-if-slower 20          # any quantile +20%
  virtwork history compare last~1 last --fail-if-slower p50=10,p99=25
  virtwork history compare last~1 last --fail-if-worse 5            # ops/s -5%, latency +5%`
}

func (c *historyCompareCmd) Run(e *env) error {
	gate := history.Gate{Worse: c.FailIfWorse}
	if len(c.FailIfSlower) > 0 {
		var err error
		if gate.Slower, err = history.ParseLimits(c.FailIfSlower); err != nil {
			return err
		}
	}
	if w := c.FailIfWorse; w != nil && (*w < 0 || math.IsNaN(*w) || math.IsInf(*w, 0)) {
		return fmt.Errorf("--fail-if-worse %v: want a percentage of 0 or more, such as 5", *w)
	}
	db, path, err := c.open(e)
	if err != nil {
		return err
	}
	if db == nil {
		return fmt.Errorf("no runs to compare: no runs recorded yet (%s does not exist)", path)
	}
	a, err := db.Resolve(c.A)
	if err != nil {
		return err
	}
	b, err := db.Resolve(c.B)
	if err != nil {
		return err
	}
	cmp, err := db.Compare(a, b)
	if err != nil {
		return err
	}
	cmp.Check(gate)
	if c.Output == "json" {
		err = writeJSON(e.stdout, cmp)
	} else {
		err = showComparison(e.stdout, cmp)
	}
	if err != nil {
		return err
	}
	if n := len(cmp.Regressions); n > 0 {
		return exitError{code: apply.ExitFailed, err: fmt.Errorf("run %s regressed from run %s (%d findings), first: %s", b.ID, a.ID, n, cmp.Regressions[0].Message)}
	}
	return nil
}

func showComparison(w io.Writer, c *history.Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SETTING\tA %s\tB %s\t\n", c.A.ID, c.B.ID)
	fmt.Fprintf(tw, "outcome\t%s, %d/%d ready\t%s, %d/%d ready\t\n", c.A.Outcome, c.A.Ready, c.A.VMs, c.B.Outcome, c.B.Ready, c.B.VMs)
	for _, s := range c.Settings {
		mark := ""
		if s.Differs {
			mark = "differs"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.A, s.B, mark)
	}
	if len(c.Phases) == 0 {
		fmt.Fprintln(tw, "\nNo phase figures in either run (nothing was started and waited for).")
	} else {
		fmt.Fprintln(tw, "\nPHASE (from VM start)\tFIGURE\tA\tB\tCHANGE")
		for _, p := range c.Phases {
			fmt.Fprintf(tw, "%s\tVMs\t%s\t%s\t\n", p.Phase, phaseCount(p.A), phaseCount(p.B))
			for _, f := range history.Figures {
				va, vb, change := "-", "-", "-"
				if p.A != nil {
					s, _ := p.A.Get(f)
					va = s.String()
				}
				if p.B != nil {
					s, _ := p.B.Get(f)
					vb = s.String()
				}
				if pct, ok := p.Change[f]; ok {
					change = fmt.Sprintf("%+.1f%%", pct)
				}
				fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\n", f, va, vb, change)
			}
		}
	}
	showResultChanges(tw, c)
	if len(c.Regressions) > 0 {
		fmt.Fprintln(tw, "\nREGRESSIONS (exit 3)")
		for _, r := range c.Regressions {
			fmt.Fprintf(tw, "%s\n", r.Message)
		}
	}
	return tw.Flush()
}

// phaseCount is how many VMs reached a phase, and how many missed it.
func phaseCount(p *history.PhaseStats) string {
	switch {
	case p == nil:
		return "-"
	case p.Missing > 0:
		return fmt.Sprintf("%d (%d missing)", p.Count, p.Missing)
	}
	return fmt.Sprint(p.Count)
}

// showResultChanges prints the workload figures of both runs.
func showResultChanges(w io.Writer, c *history.Comparison) {
	if c.A.Results == nil && c.B.Results == nil {
		fmt.Fprintln(w, "\nNo workload figures recorded for either run ('virtwork results' or apply --wait-for results records them).")
		return
	}
	look := func(r *history.ResultsRef) string {
		if r == nil {
			return "none recorded"
		}
		return fmt.Sprintf("%s at %s, %s", r.ID, r.At.Local().Format(time.TimeOnly), r.Outcome)
	}
	fmt.Fprintf(w, "\nRESULTS of A: %s; of B: %s\n", look(c.A.Results), look(c.B.Results))
	fmt.Fprintln(w, "WORKLOAD\tFIGURE\tA\tB\tCHANGE")
	last := ""
	for _, r := range c.Results {
		name := r.Name()
		if name == last {
			name = ""
		}
		last = r.Name()
		va, vb, change := "-", "-", "-"
		if r.A != nil {
			va = history.FormatValue(*r.A, r.Unit)
		}
		if r.B != nil {
			vb = history.FormatValue(*r.B, r.Unit)
		}
		if r.Change != nil {
			change = fmt.Sprintf("%+.1f%%", *r.Change)
			if r.Better != "" {
				change += " (" + r.Better + " is better)"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, r.Metric, va, vb, change)
	}
}

type historyReportCmd struct {
	historyDBFlag
	IDs    []string `arg:"" name:"id" help:"Runs to report on: ids (or unique prefixes), last or last~N; several are overlaid in the plots."`
	Output string   `name:"output" short:"o" required:"" placeholder:"FILE" help:"The HTML file to write ('-' for stdout)."`
}

func (historyReportCmd) Help() string {
	return `Writes one self-contained HTML file (no scripts, fonts or network): per run the
settings, the per-phase table, the VMs that did not become ready and the
workload figures recorded for it (as history compare finds them); a CDF plot
of the time from VM start to each phase; the VMs ready over time; with several
runs, their times to Ready overlaid.

Examples:
  virtwork history report last -o report.html
  virtwork history report last~1 last -o compare.html`
}

func (c *historyReportCmd) Run(e *env) error {
	db, path, err := c.open(e)
	if err != nil {
		return err
	}
	if db == nil {
		return fmt.Errorf("nothing to report: no runs recorded yet (%s does not exist)", path)
	}
	var runs []*history.Run
	for _, id := range c.IDs {
		r, err := db.Resolve(id)
		if err != nil {
			return err
		}
		if err := db.WithResults(r); err != nil {
			return err
		}
		runs = append(runs, r)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, runs); err != nil {
		return err
	}
	if c.Output == "-" {
		_, err = e.stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(c.Output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("-o %s: %w", c.Output, unwrapPath(err))
	}
	fmt.Fprintf(e.stdout, "Wrote %s (%d runs, %d KB).\n", c.Output, len(runs), (buf.Len()+1023)/1024)
	return nil
}
