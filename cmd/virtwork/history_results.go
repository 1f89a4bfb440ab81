package main

import (
	"fmt"
	"io"
	"time"

	"github.com/virtwork/virtwork/results/report"
)

// showResults prints the results part of a run (command "results").
func showResults(w io.Writer, r *report.Report) {
	if r == nil {
		return
	}
	source := r.Source
	if r.Since != "" {
		source += ", averaged over " + r.Since
	}
	fmt.Fprintf(w, "\nRESULTS (%s, at %s, exit %d)\tVMS\tSUM\tMIN\tMEDIAN\tMAX\n", source, r.At.Local().Format(time.TimeOnly), r.ExitCode())
	for _, g := range r.Groups {
		name := g.Workload
		if g.Role != "" {
			name += "/" + g.Role
		}
		fmt.Fprintf(w, "%s: %d of %d reporting\t\t\t\t\t\n", name, g.Reporting, g.Expected)
		for _, f := range g.Figures {
			sum := "-"
			if f.Sum != nil {
				sum = fmt.Sprintf("%.4g", *f.Sum)
			}
			fmt.Fprintf(w, "  %s\t%d\t%s\t%.4g\t%.4g\t%.4g\n", f.Key(), f.VMs, sum, f.Min, f.Median, f.Max)
		}
		for _, p := range g.Problems {
			fmt.Fprintf(w, "  %s %s: %s\t\t\t\t\t\n", p.VM, p.Status, p.Reason)
		}
	}
}
