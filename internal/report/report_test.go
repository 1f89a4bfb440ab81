package report

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/svgplot"
	"github.com/virtwork/virtwork/internal/testenv"
	"github.com/virtwork/virtwork/inventory/history"
)

// fakeRun is a run of n VMs whose boots take boot plus up to jitter, one
// of them failed.
func fakeRun(id string, n int, boot, jitter time.Duration) *history.Run {
	t0 := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	r := &history.Run{ID: id, Command: "apply", Start: t0, Outcome: history.Failed, Namespace: "perf", Name: "virtwork",
		Workloads: []history.Workload{{Workload: "cpu", VMs: n, CPUCores: 2, Memory: "2Gi"}}}
	for i := range n {
		ready := boot + time.Duration(i)*jitter/time.Duration(n)
		s := func(d time.Duration) event.Seconds { return event.Seconds(d.Round(time.Second)) }
		v := history.VM{Name: fmt.Sprintf("cpu-%d", i+1), Workload: "cpu", Status: event.VMReady, Measured: true,
			Started: t0.Add(time.Duration(i) * 100 * time.Millisecond),
			Phases: map[string]event.Seconds{event.PhaseVMICreated: 0, event.PhasePending: 0, event.PhaseScheduling: s(ready / 10),
				event.PhaseScheduled: s(ready * 4 / 10), event.PhaseRunning: s(ready - 2*time.Second), event.PhaseReady: s(ready)}}
		if i == n-1 {
			v.Status, v.Message = event.VMFailed, "ErrImagePull: <no such image>"
			delete(v.Phases, event.PhaseRunning)
			delete(v.Phases, event.PhaseReady)
		}
		r.VMs = append(r.VMs, v)
	}
	r.VMCount, r.ReadyCount = n, n-1
	vms := make([]event.VM, n)
	for i, v := range r.VMs {
		vms[i] = event.VM{Phases: v.Phases, Measured: v.Measured}
	}
	r.Phases = event.PhaseSummary(vms)
	return r
}

func write(t *testing.T, runs ...*history.Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, runs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReportIsSelfContained parses the page and checks that it loads
// nothing (no scripts, stylesheets, images or fonts from elsewhere), has
// a plot per run plus the overlays, and escapes what runs hold.
func TestReportIsSelfContained(t *testing.T) {
	withResults := fakeRun("01bbb", 40, 30*time.Second, 10*time.Second)
	withResults.Results = []history.Result{{Workload: "database", Role: "client", Metric: "virtwork_pgbench_transactions_per_second", Unit: "1/s", Value: 512.25}}
	page := write(t, fakeRun("01aaa", 40, 20*time.Second, 10*time.Second), withResults)
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var polylinePoints []int
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			count[n.Data]++
			switch n.Data {
			case "script", "link", "img", "iframe", "object", "embed":
				t.Errorf("the page has a <%s>", n.Data)
			}
			for _, a := range n.Attr {
				v := strings.ToLower(a.Val)
				if (a.Key == "src" || a.Key == "href") || strings.Contains(v, "url(") || strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s %s=%q> refers to or runs something", n.Data, a.Key, a.Val)
				}
				if n.Data == "polyline" && a.Key == "points" {
					polylinePoints = append(polylinePoints, len(strings.Fields(a.Val)))
				}
			}
		}
		if n.Type == html.TextNode && n.Parent != nil && n.Parent.Data == "style" &&
			(strings.Contains(n.Data, "url(") || strings.Contains(n.Data, "@import") || strings.Contains(n.Data, "@font-face")) {
			t.Errorf("the stylesheet loads something: %s", n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	// A CDF per run, Ready of both overlaid, VMs ready over time.
	if count["svg"] != 4 {
		t.Errorf("%d plots, want 4", count["svg"])
	}
	// Per run four phases in its CDF (VMICreated, Scheduled, Running,
	// Ready), two in the overlay, two in the ready-over-time plot.
	if len(polylinePoints) != 2*4+2+2 {
		t.Errorf("%d lines, want %d", len(polylinePoints), 2*4+2+2)
	}
	for _, n := range polylinePoints {
		if n < 20 {
			t.Errorf("a line with only %d points", n)
		}
	}
	if !bytes.Contains(page, []byte("ErrImagePull: &lt;no such image&gt;")) {
		t.Error("the failure's message is missing or not escaped")
	}
	for _, want := range []string{"<td>Ready</td>", "<td>Scheduled</td>", "Run 01aaa", "Run 01bbb", "VMs not ready",
		"<td>database/client</td><td>virtwork_pgbench_transactions_per_second</td><td class=\"n\">512.2 1/s</td>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestReportValidates runs the page through HTML Tidy: no errors, and no
// warnings but those about inline SVG, which Tidy does not know.
func TestReportValidates(t *testing.T) {
	tidy, err := exec.LookPath("tidy")
	if err != nil {
		testenv.Missing(t, "tidy not installed (.ci/apt-packages installs it)")
	}
	cmd := exec.Command(tidy, "-q", "-e", "--show-warnings", "yes", "-")
	cmd.Stdin = bytes.NewReader(write(t, fakeRun("01aaa", 10, 5*time.Second, 5*time.Second)))
	out, err := cmd.CombinedOutput()
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" || strings.Contains(l, "<svg>") || strings.Contains(l, "<polyline>") || strings.Contains(l, "<line>") ||
			strings.Contains(l, "<rect>") || strings.Contains(l, "<text>") || strings.Contains(l, "<title>") {
			continue
		}
		bad = append(bad, l)
	}
	if len(bad) > 0 {
		t.Errorf("tidy (%v):\n%s", err, strings.Join(bad, "\n"))
	}
}

// TestReportInABrowser renders the page in headless Chromium and checks
// the screenshot as a person would look at it: not blank, and the plots'
// lines are drawn in their colours.
func TestReportInABrowser(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		testenv.Missing(t, "chromium not installed (.ci/apt-packages installs it)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, write(t, fakeRun("01aaa", 40, 20*time.Second, 10*time.Second), fakeRun("01bbb", 40, 30*time.Second, 10*time.Second)), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	// Nothing leaves the machine: background services off, and any
	// request that is still made goes to a closed port on loopback.
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-pings", "--disable-extensions",
		"--disable-default-apps", "--dns-prefetch-disable", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
		"--window-size=1200,3200", "--screenshot=" + shot, "file://" + page}
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...)
	}
	cmd := exec.Command(chromium, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	nonWhite := 0
	colored := map[string]int{}
	rows := map[string][2]int{} // first and last row a colour shows in
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
				nonWhite++
			}
			for _, c := range svgplot.Palette[:5] {
				if near(r>>8, g>>8, bl>>8, c) {
					colored[c]++
					rr, ok := rows[c]
					if !ok {
						rr[0] = y
					}
					rr[1] = y
					rows[c] = rr
				}
			}
		}
	}
	total := b.Dx() * b.Dy()
	if frac := float64(nonWhite) / float64(total); frac < 0.02 {
		t.Errorf("the screenshot is nearly blank: %.2f%% not white", 100*frac)
	}
	// Each plotted phase's colour draws a line: at least a few hundred
	// pixels, spread over more than one plot's height for the colours
	// the runs share across plots.
	for _, c := range svgplot.Palette[:5] {
		if colored[c] < 300 {
			t.Errorf("colour %s: %d pixels, want a drawn line (≥ 300)", c, colored[c])
		}
	}
	if rr := rows[svgplot.Palette[0]]; rr[1]-rr[0] < 600 {
		t.Errorf("colour %s spans rows %d..%d: not in several plots", svgplot.Palette[0], rr[0], rr[1])
	}
	if testing.Verbose() {
		t.Logf("screenshot %dx%d, %.1f%% not white, line pixels %v", b.Dx(), b.Dy(), 100*float64(nonWhite)/float64(total), colored)
	}
}

// near reports whether an 8-bit colour is within a small distance of a
// "#rrggbb" colour (anti-aliasing blends the edges).
func near(r, g, b uint32, hex string) bool {
	var cr, cg, cb uint32
	fmt.Sscanf(hex, "#%02x%02x%02x", &cr, &cg, &cb)
	d := math.Abs(float64(r)-float64(cr)) + math.Abs(float64(g)-float64(cg)) + math.Abs(float64(b)-float64(cb))
	return d < 30
}
