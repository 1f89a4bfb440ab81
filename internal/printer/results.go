package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/virtwork/virtwork/results"
)

// ResultsEvent prints r as one more line of apply's -o json event stream
// (apply --wait-for results), after the summary:
// {"time": ..., "type": "results", "results": <the report as 'results -o json' prints it>}.
func ResultsEvent(w io.Writer, r *results.Report) error {
	b, err := json.Marshal(struct {
		Time    time.Time       `json:"time"`
		Type    string          `json:"type"`
		Results *results.Report `json:"results"`
	}{r.At, "results", r})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Results prints a results report: per workload role a header line, a
// table of figures and the VMs that do not report; or JSON.
func Results(w io.Writer, r *results.Report, format Format) error {
	if format == JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	source := "read directly from each VM's exporter"
	if r.Source == "prometheus" {
		source = "from Prometheus, figures averaged over " + r.Since
	}
	fmt.Fprintf(w, "instance %q in namespace %s, %s at %s\n", r.Name, r.Namespace, source, r.At.UTC().Format(time.TimeOnly))
	for _, g := range r.Groups {
		name := g.Workload
		if g.Role != "" {
			name += "/" + g.Role
		}
		line := fmt.Sprintf("\n%s: %d of %d VMs reporting", name, g.Reporting, g.Expected)
		if g.GuestOnly {
			line += " (exporter answers; this role writes no workload figures)"
		}
		if g.NewestAgeSeconds != nil {
			line += fmt.Sprintf(", newest figures %s old", seconds(*g.NewestAgeSeconds))
		}
		fmt.Fprintln(w, line)
		if len(g.Figures) > 0 {
			// Numbers align right; the names, padded to one width, left.
			width := len("FIGURE")
			for _, f := range g.Figures {
				width = max(width, len(f.Key()))
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			// (Right alignment pads every cell, the first too, by two.)
			fmt.Fprintf(tw, "%-*s\tSUM\tMIN\tMEDIAN\tMAX\tVMS\t\n", width, "FIGURE")
			for _, f := range g.Figures {
				sum := "-"
				if f.Sum != nil {
					sum = human(f.Name, *f.Sum)
				}
				fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%d\t\n", width, f.Key(), sum,
					human(f.Name, f.Min), human(f.Name, f.Median), human(f.Name, f.Max), f.VMs)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		for _, p := range g.Problems {
			fmt.Fprintf(w, "  %s %s: %s\n", p.VM, strings.ToUpper(string(p.Status)), p.Reason)
		}
	}
	c := r.Counts()
	var parts []string
	for _, s := range []results.Status{results.Reporting, results.Failing, results.Stale, results.Missing} {
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
		}
	}
	_, err := fmt.Fprintf(w, "\nVMs: %s\n", strings.Join(parts, ", "))
	return err
}

// human formats v with an SI prefix, or as a duration for a metric in
// seconds.
func human(name string, v float64) string {
	if strings.HasSuffix(name, "_seconds") {
		return seconds(v)
	}
	a := math.Abs(v)
	for _, p := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= p.f {
			return trim(v/p.f) + p.s
		}
	}
	return trim(v)
}

func seconds(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0s"
	case a < 1e-3:
		return trim(v*1e6) + "µs"
	case a < 1:
		return trim(v*1e3) + "ms"
	case a < 120:
		return trim(v) + "s"
	}
	return (time.Duration(v) * time.Second).String()
}

// trim prints 3 significant digits without trailing zeros.
func trim(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	if strings.ContainsAny(s, "e") {
		return fmt.Sprintf("%.0f", v)
	}
	return s
}
