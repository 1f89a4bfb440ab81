package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/report"
	"github.com/virtwork/virtwork/inventory/history"
)

type historyCompareCmd struct {
	historyDBFlag
	A            string   `arg:"" help:"The run to compare against: an id (or unique prefix), last, or last~N (N apply runs before the last)."`
	B            string   `arg:"" help:"The run to compare, as A."`
	FailIfSlower []string `name:"fail-if-slower" placeholder:"PCT|FIGURE=PCT" help:"Exit 3 when a phase figure of B is slower than A's by more than PCT percent (and by more than 1s, the resolution of the cluster's timestamps). PCT alone applies to p50, p90, p95 and p99; FIGURE=PCT to one of p50, p90, p95, p99, max, mean. Repeatable, or comma-separated: --fail-if-slower p50=10,p99=25."`
	Output       string   `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (historyCompareCmd) Help() string {
	return `Sets two recorded runs side by side: their settings (marking what differed),
then per lifecycle phase (VMI created, Pending ... Running, Ready) the figures of
both and the change in percent. With --fail-if-slower it exits 3 when B got slower
than allowed, so a pipeline can gate on a regression.

Examples:
  virtwork history compare last~1 last
  virtwork history compare 01jf3k 01jf9z -o json
  virtwork history compare last~1 last --fail-if-slower 20          # any quantile +20%
  virtwork history compare last~1 last --fail-if-slower p50=10,p99=25`
}

func (c *historyCompareCmd) Run(e *env) error {
	var limits history.Limits
	if len(c.FailIfSlower) > 0 {
		var err error
		if limits, err = history.ParseLimits(c.FailIfSlower); err != nil {
			return err
		}
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
	cmp := history.Compare(a, b)
	if limits != nil {
		cmp.Check(limits)
	}
	if c.Output == "json" {
		err = writeJSON(e.stdout, cmp)
	} else {
		err = showComparison(e.stdout, cmp)
	}
	if err != nil {
		return err
	}
	if n := len(cmp.Regressions); n > 0 {
		return exitError{code: apply.ExitFailed, err: fmt.Errorf("%d figure(s) of run %s slower than allowed, first: %s", n, b.ID, cmp.Regressions[0].Message)}
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
			for i, f := range history.Figures {
				name := ""
				if i == 0 {
					name = p.Phase
				}
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, f, va, vb, change)
			}
		}
	}
	if len(c.Regressions) > 0 {
		fmt.Fprintln(tw, "\nSLOWER THAN ALLOWED")
		for _, r := range c.Regressions {
			fmt.Fprintf(tw, "%s\n", r.Message)
		}
	}
	return tw.Flush()
}

type historyReportCmd struct {
	historyDBFlag
	IDs    []string `arg:"" name:"id" help:"Runs to report on: ids (or unique prefixes), last or last~N; several are overlaid in the plots."`
	Output string   `name:"output" short:"o" required:"" placeholder:"FILE" help:"The HTML file to write ('-' for stdout)."`
}

func (historyReportCmd) Help() string {
	return `Writes one self-contained HTML file (no scripts, fonts or network): per run the
settings, the per-phase table and the VMs that did not become ready; a CDF plot
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
