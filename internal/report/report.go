// Package report writes recorded runs as one self-contained HTML page:
// settings, the per-phase table, plots (SVG, drawn by internal/svgplot),
// the VMs that did not become ready and the workload figures recorded. The page loads nothing: no
// scripts, no fonts, no network.
package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/svgplot"
	"github.com/virtwork/virtwork/inventory/history"
)

// Write writes the report of runs (with their VMs, as history.DB.Get
// returns them) to w; several runs are overlaid in the plots.
func Write(w io.Writer, runs []*history.Run) error {
	if len(runs) == 0 {
		return fmt.Errorf("report: no runs")
	}
	d := page{Generated: time.Now().UTC().Format(time.RFC3339)}
	for i, r := range runs {
		d.Runs = append(d.Runs, runView(r, svgplot.Palette[i%len(svgplot.Palette)]))
	}
	d.Plots = plots(runs)
	return pageTemplate.Execute(w, d)
}

type page struct {
	Generated string
	Runs      []runSection
	Plots     []template.HTML
}

type runSection struct {
	Run      *history.Run
	Color    string
	Settings [][2]string
	Phases   []event.PhaseStats
	NotReady []history.VM
	More     int
	// Results are the workload figures recorded for the run, written.
	Results []resultRow
}

type resultRow struct{ Workload, Metric, Value string }

// listedNotReady bounds the failure table of a run.
const listedNotReady = 50

func runView(r *history.Run, color string) runSection {
	s := runSection{Run: r, Color: color, Phases: r.Phases}
	add := func(k, v string) {
		if v != "" {
			s.Settings = append(s.Settings, [2]string{k, v})
		}
	}
	add("outcome", string(r.Outcome)+withError(r.Error))
	add("started", r.Start.UTC().Format(time.RFC3339)+", took "+r.Duration.String())
	add("cluster", strings.TrimSpace(r.KubeContext+" "+r.Server))
	add("instance", r.Namespace+"/"+r.Name)
	add("virtwork", r.Version)
	add("objects from", strings.TrimSpace(r.Source+" "+r.Digest))
	add("waited for", r.WaitFor)
	add("VMs", fmt.Sprintf("%d, %d ready", r.VMCount, r.ReadyCount))
	for _, wl := range r.Workloads {
		name := wl.Workload
		if wl.Role != "" {
			name += "/" + wl.Role
		}
		v := fmt.Sprintf("%d VMs, %d cores, %s", wl.VMs, wl.CPUCores, wl.Memory)
		if len(wl.Disks) > 0 {
			v += ", disks " + strings.Join(wl.Disks, ",")
		}
		add("workload "+name, v)
	}
	if c := r.Config; c != nil {
		add("container disk image", c.ContainerDiskImage)
		add("storage class", c.StorageClass)
	}
	for _, res := range r.Results {
		name := res.Workload
		if res.Role != "" {
			name += "/" + res.Role
		}
		s.Results = append(s.Results, resultRow{name, res.Metric, history.FormatValue(res.Value, res.Unit)})
	}
	for _, v := range r.VMs {
		if v.Status == event.VMReady {
			continue
		}
		if len(s.NotReady) == listedNotReady {
			s.More++
			continue
		}
		s.NotReady = append(s.NotReady, v)
	}
	return s
}

func withError(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

// plotWidth fits two plots side by side on a laptop screen.
const plotWidth = 540

// plotPhases are the steps drawn in the CDF plot, the ones that tell where
// the time went.
var plotPhases = []string{event.PhaseDataVolumes, event.PhaseVMICreated, event.PhaseScheduled, event.PhaseRunning, event.PhaseReady, event.PhaseAgentConnected}

// plots: per run a CDF of the time to each phase; with several runs, the
// time to Ready of all of them in one CDF; and the VMs ready over time.
func plots(runs []*history.Run) []template.HTML {
	var out []template.HTML
	for _, r := range runs {
		c := svgplot.Chart{Title: "Time from VM start to each phase, run " + r.ID, XLabel: "seconds since the VM started (cluster clock)",
			YLabel: "fraction of VMs", YMax: 1, Width: plotWidth}
		for i, p := range plotPhases {
			if pts := cdf(r, p); len(pts) > 0 {
				c.Series = append(c.Series, svgplot.Series{Name: p, Points: pts, Step: true, Color: svgplot.Palette[i]})
			}
		}
		if len(c.Series) > 0 {
			out = append(out, template.HTML(c.SVG()))
		}
	}
	if len(runs) > 1 {
		c := svgplot.Chart{Title: "Time to Ready, runs overlaid", XLabel: "seconds since the VM started (cluster clock)",
			YLabel: "fraction of VMs", YMax: 1, Width: plotWidth}
		for i, r := range runs {
			if pts := cdf(r, event.PhaseReady); len(pts) > 0 {
				c.Series = append(c.Series, svgplot.Series{Name: r.ID, Points: pts, Step: true, Color: svgplot.Palette[i%len(svgplot.Palette)], Dashed: i > 0})
			}
		}
		if len(c.Series) > 0 {
			out = append(out, template.HTML(c.SVG()))
		}
	}
	c := svgplot.Chart{Title: "VMs ready over time", XLabel: "seconds since the run's first VM started (cluster clock)", YLabel: "VMs ready", Width: plotWidth}
	for i, r := range runs {
		if pts := readyOverTime(r); len(pts) > 0 {
			c.Series = append(c.Series, svgplot.Series{Name: r.ID, Points: pts, Step: true, Color: svgplot.Palette[i%len(svgplot.Palette)], Dashed: i > 0})
		}
	}
	if len(c.Series) > 0 {
		out = append(out, template.HTML(c.SVG()))
	}
	return out
}

// cdf is the empirical distribution of the time to phase over the run's
// measured VMs: at x, the fraction of them that had reached it. VMs that
// never did keep it below 1.
func cdf(r *history.Run, phase string) []svgplot.Point {
	var xs []float64
	n := 0
	for _, v := range r.VMs {
		if !v.Measured {
			continue
		}
		n++
		if d, ok := v.Phases[phase]; ok {
			xs = append(xs, time.Duration(d).Seconds())
		}
	}
	if len(xs) == 0 {
		return nil
	}
	if phase == event.PhaseDataVolumes {
		n = len(xs) // VMs without data disks have no DataVolumes to wait for
	}
	slices.Sort(xs)
	pts := []svgplot.Point{{X: 0, Y: 0}}
	for i, x := range xs {
		pts = append(pts, svgplot.Point{X: x, Y: float64(i+1) / float64(n)})
	}
	return pts
}

// readyOverTime counts the measured VMs Ready at each moment, from the
// first VM's start, all by the cluster's clock.
func readyOverTime(r *history.Run) []svgplot.Point {
	var first time.Time
	var at []time.Time
	for _, v := range r.VMs {
		if !v.Measured || v.Started.IsZero() {
			continue
		}
		if first.IsZero() || v.Started.Before(first) {
			first = v.Started
		}
		if d, ok := v.Phases[event.PhaseReady]; ok {
			at = append(at, v.Started.Add(time.Duration(d)))
		}
	}
	if len(at) == 0 {
		return nil
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	pts := []svgplot.Point{{X: 0, Y: 0}}
	for i, t := range at {
		pts = append(pts, svgplot.Point{X: t.Sub(first).Seconds(), Y: float64(i + 1)})
	}
	return pts
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>virtwork report{{range .Runs}} {{.Run.ID}}{{end}}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
.swatch { margin-right: 6px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots svg { border: 1px solid #eee; }
.note { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1>virtwork report</h1>
<p class="note">Generated {{.Generated}}. Phase times run from each VM's start (its creationTimestamp) to the step, all read from the cluster's own timestamps (whole seconds).</p>
{{range .Runs}}
<h2><span class="swatch" style="color: {{.Color}}">&#9632;</span>Run {{.Run.ID}}</h2>
<table>
{{range .Settings}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{if .Phases}}<table>
<tr><th>phase</th><th>VMs</th><th>min</th><th>P50</th><th>P90</th><th>P95</th><th>P99</th><th>max</th><th>mean</th><th>missing</th></tr>
{{range .Phases}}<tr><td>{{.Phase}}</td><td class="n">{{.Count}}</td><td class="n">{{.Min}}</td><td class="n">{{.P50}}</td><td class="n">{{.P90}}</td><td class="n">{{.P95}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td><td class="n">{{.Mean}}</td><td class="n">{{.Missing}}</td></tr>
{{end}}</table>{{else}}<p>No phase figures: this run started no VMs it waited for.</p>{{end}}
{{if .NotReady}}<h3>VMs not ready</h3>
<table>
<tr><th>VM</th><th>workload</th><th>status</th><th>message</th></tr>
{{range .NotReady}}<tr><td>{{.Name}}</td><td>{{.Workload}}</td><td>{{.Status}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{if .More}}<p class="note">... and {{.More}} more ('virtwork history show {{.Run.ID}}' lists them all).</p>{{end}}
{{else}}<p>Every VM became ready.</p>{{end}}
{{if .Results}}<h3>Workload figures</h3>
<table>
<tr><th>workload</th><th>figure</th><th>value</th></tr>
{{range .Results}}<tr><td>{{.Workload}}</td><td>{{.Metric}}</td><td class="n">{{.Value}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<h2>Plots</h2>
<div class="plots">
{{range .Plots}}{{.}}
{{end}}</div>
</body>
</html>
`))
