// Package svgplot draws small line charts (CDFs, counts over time) as
// self-contained SVG: no scripts, no fonts to load, no external references.
//
// It is a few hundred lines on purpose: gonum.org/v1/plot, the well-kept
// Go plotting library, would bring its vector backends, font handling and
// their dependencies into the build for two kinds of chart, and its SVG
// embeds fonts or names ones the viewer may not have.
package svgplot

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Point is one point of a series.
type Point struct{ X, Y float64 }

// Series is one line of a chart. Step draws it as a step function (each
// value holds until the next point), as a CDF or a count is.
type Series struct {
	Name   string
	Points []Point
	Color  string // CSS colour; Palette's by order when empty
	Dashed bool
	Step   bool
}

// Chart is a line chart.
type Chart struct {
	Title, XLabel, YLabel string
	Width, Height         int // pixels; 640 x 360 when zero
	// YMax fixes the top of the y axis (e.g. 1 for a CDF); 0: from the data.
	YMax   float64
	Series []Series
}

// Palette is the colours series get in order: distinguishable, also in
// grey scale print.
var Palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

const (
	left, right, top, bottom = 56, 16, 28, 44
	legendRow                = 16
)

// SVG renders the chart as an <svg> element.
func (c Chart) SVG() string {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 640
	}
	if h == 0 {
		h = 360
	}
	legendRows := (len(c.Series) + 2) / 3
	plotW, plotH := float64(w-left-right), float64(h-top-bottom-legendRows*legendRow)
	xmax, ymax := 0.0, c.YMax
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmax = math.Max(xmax, p.X)
			if c.YMax == 0 {
				ymax = math.Max(ymax, p.Y)
			}
		}
	}
	xticks, xmax := ticks(xmax)
	yticks, ymax := ticks(ymax)
	px := func(x float64) float64 { return left + x/xmax*plotW }
	py := func(y float64) float64 { return top + plotH - y/ymax*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="11">`,
		w, h, w, h, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, left, html.EscapeString(c.Title))
	for _, t := range xticks {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, x, top, x, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, top+plotH+14, num(t))
	}
	for _, t := range yticks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, left, y, left+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, num(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`, left, top, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, left+plotW/2, top+plotH+30, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, top+plotH/2, html.EscapeString(c.YLabel))
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = Palette[i%len(Palette)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for j, p := range s.Points {
			if s.Step && j > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(s.Points[j-1].Y)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`,
				color, dash, strings.Join(pts, " "), html.EscapeString(s.Name))
		}
		lx := float64(12 + (i%3)*((w-24)/3))
		ly := float64(h-legendRows*legendRow+(i/3)*legendRow) - 2
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, lx, ly-4, lx+18, ly-4, color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, lx+22, ly, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// ticks picks about five round tick values from 0 to at least max and
// returns them with the axis end.
func ticks(max float64) ([]float64, float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	end := math.Ceil(max/step-1e-9) * step
	var out []float64
	for v := 0.0; v <= end+step/2; v += step {
		out = append(out, v)
	}
	return out, end
}

func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
