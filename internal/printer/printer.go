// Package printer shows the apply engine's events to people and machines:
// live progress and a summary table on a terminal, timestamped plain lines
// in logs, or one JSON event per line (-o json).
package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/virtwork/virtwork/apply/event"
)

// Format selects how events are shown.
type Format string

const (
	// Auto is Progress on a terminal, else Plain.
	Auto     Format = ""
	Progress Format = "progress"
	Plain    Format = "plain"
	JSON     Format = "json"
)

// ParseFormat validates an -o value ("" or "text" mean Auto).
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "text", "auto":
		return Auto, nil
	case "json":
		return JSON, nil
	case "plain":
		return Plain, nil
	}
	return "", fmt.Errorf("invalid -o %q: use text or json", s)
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Summary selects the closing summary of an apply.
type Summary string

const (
	// SummaryAuto is SummaryVMs for up to SmallRun VMs, else SummaryGroups.
	SummaryAuto Summary = "auto"
	// SummaryGroups: per workload and role, the phase table, then only the
	// VMs that failed and the slowest few.
	SummaryGroups Summary = "groups"
	// SummaryVMs: a row per VM, then the phase table.
	SummaryVMs Summary = "vms"
)

// SmallRun is the most VMs SummaryAuto lists one by one.
const SmallRun = 10

// Listed bounds the failed and slowest VMs a grouped summary names.
const (
	listedFailed  = 20
	listedSlowest = 5
)

// Options tune the printer.
type Options struct {
	Summary Summary
	// Quiet (plain output): no line per object or status change, only
	// failures, skips and the summary.
	Quiet bool
	// ProgressEvery (plain output): also a progress line this often;
	// implies Quiet.
	ProgressEvery time.Duration
}

// Printer renders events to w. Use Handle as the engine's event.Sink and
// call Close when the run is over.
type Printer struct {
	w      io.Writer
	format Format
	opts   Options
	now    func() time.Time

	mu       sync.Mutex
	init     *event.Init
	start    time.Time
	done     int // objects with a result
	failed   int
	ready    map[string]bool // VMs seen Current
	line     bool            // a progress line is on screen
	dirty    bool
	stop     chan struct{}
	stopped  chan struct{}
	closeOne sync.Once
}

// New returns a Printer; format Auto picks Progress when w is a terminal.
func New(w io.Writer, format Format) *Printer { return NewWith(w, format, Options{}) }

// NewWith is New with options.
func NewWith(w io.Writer, format Format, opts Options) *Printer {
	if format == Auto {
		format = Plain
		if IsTerminal(w) {
			format = Progress
		}
	}
	if opts.Summary == "" {
		opts.Summary = SummaryAuto
	}
	if opts.ProgressEvery > 0 {
		opts.Quiet = true
	}
	p := &Printer{w: w, format: format, opts: opts, now: time.Now, ready: map[string]bool{}}
	switch {
	case format == Progress:
		// Redraw at most ten times a second: thousands of events
		// must not mean thousands of redraws.
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.every(100*time.Millisecond, p.redraw)
	case format == Plain && opts.ProgressEvery > 0:
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.every(opts.ProgressEvery, p.progressLine)
	}
	return p
}

// Handle shows one event.
func (p *Printer) Handle(e event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count(e)
	switch p.format {
	case JSON:
		b, err := json.Marshal(e)
		if err == nil {
			fmt.Fprintf(p.w, "%s\n", b)
		}
	case Plain:
		// The summary's own line closes the table below; once is enough.
		if s := describe(e); s != "" && e.Summary == nil && (!p.opts.Quiet || e.Init != nil || alarming(e)) {
			fmt.Fprintf(p.w, "%s %s\n", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), s)
		}
		if e.Summary != nil {
			WriteSummary(p.w, e.Summary, p.opts.Summary)
		}
	case Progress:
		// Failures and skips show as they happen; the rest is the
		// progress line.
		if alarming(e) {
			p.clearLine()
			fmt.Fprintln(p.w, describe(e))
		}
		p.dirty = true
		if e.Summary != nil {
			p.clearLine()
			WriteSummary(p.w, e.Summary, p.opts.Summary)
			p.dirty = false
		}
	}
}

// progressLine writes a progress line (plain output).
func (p *Printer) progressLine() {
	if p.init != nil {
		fmt.Fprintf(p.w, "%s progress: %s\n", p.now().UTC().Format("2006-01-02T15:04:05.000Z"), p.progress())
	}
}

// alarming events are shown even in quiet output: failures and skips.
func alarming(e event.Event) bool {
	return e.Object != nil && (e.Object.Result == event.Failed || e.Object.Result == event.Skipped) ||
		e.Status != nil && e.Status.Status == event.StatusFailed
}

// Close stops the progress display.
func (p *Printer) Close() {
	p.closeOne.Do(func() {
		if p.stop != nil {
			close(p.stop)
			<-p.stopped
		}
		p.mu.Lock()
		p.clearLine()
		p.mu.Unlock()
	})
}

func (p *Printer) count(e event.Event) {
	switch {
	case e.Init != nil:
		p.init, p.start = e.Init, e.Time
	case e.Object != nil:
		p.done++
		if e.Object.Result == event.Failed {
			p.failed++
		}
	case e.Status != nil && e.Status.Ref.Kind == "VirtualMachine":
		key := e.Status.Ref.String()
		if e.Status.Status == event.StatusCurrent {
			p.ready[key] = true
		} else {
			delete(p.ready, key)
		}
		if e.Status.Status == event.StatusFailed {
			p.failed++
		}
	}
}

// every calls fn, holding the lock, every d until Close.
func (p *Printer) every(d time.Duration, fn func()) {
	defer close(p.stopped)
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.mu.Lock()
			fn()
			p.mu.Unlock()
		}
	}
}

func (p *Printer) redraw() {
	if p.dirty || p.line {
		p.drawLine()
	}
}

// drawLine rewrites the progress line in place.
func (p *Printer) drawLine() {
	if p.init == nil {
		return
	}
	io.WriteString(p.w, "\r\033[K"+p.progress())
	p.line, p.dirty = true, false
}

// progress is the one-line state of the run.
func (p *Printer) progress() string {
	var b strings.Builder
	verb := "applied"
	if p.init.Command == event.CommandDestroy {
		verb = "deleted"
	}
	if p.init.Command == event.CommandStatus { // status --wait applies nothing
		fmt.Fprintf(&b, "VMs ready %d/%d", len(p.ready), p.init.VMs)
	} else {
		fmt.Fprintf(&b, "%s %d/%d", verb, min(p.done, p.init.Objects+p.init.Prune), p.init.Objects+p.init.Prune)
	}
	if p.init.Command == event.CommandApply && p.init.VMs > 0 && p.init.Wait {
		fmt.Fprintf(&b, "  VMs ready %d/%d", len(p.ready), p.init.VMs)
	}
	if p.failed > 0 {
		fmt.Fprintf(&b, "  failed %d", p.failed)
	}
	fmt.Fprintf(&b, "  %s", p.now().Sub(p.start).Round(time.Second))
	return b.String()
}

func (p *Printer) clearLine() {
	if p.line {
		io.WriteString(p.w, "\r\033[K")
		p.line = false
	}
}

// describe is one event as one line of text ("" for none).
func describe(e event.Event) string {
	switch {
	case e.Init != nil:
		i := e.Init
		dry := ""
		if i.DryRun {
			dry = " (server dry run)"
		}
		s := fmt.Sprintf("%s%s: instance %q in namespace %s: %d objects, %d VMs", i.Command, dry, i.Name, i.Namespace, i.Objects, i.VMs)
		if i.Prune > 0 {
			s += fmt.Sprintf(", %d to prune", i.Prune)
		}
		return s
	case e.Object != nil:
		o := e.Object
		s := fmt.Sprintf("%s %s", o.Ref, o.Result)
		if o.Reason != "" {
			s += ": " + o.Reason
		}
		return s
	case e.Status != nil:
		st := e.Status
		s := fmt.Sprintf("%s %s", st.Ref, st.Status)
		if st.Message != "" {
			s += ": " + st.Message
		}
		return s
	case e.Summary != nil:
		return summaryLine(e.Summary)
	}
	return ""
}

func summaryLine(s *event.Summary) string {
	var counts []string
	for _, r := range []event.Result{event.Created, event.Configured, event.Unchanged, event.Pruned, event.Deleted, event.Skipped, event.Failed} {
		if n := s.Counts[r]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, r))
		}
	}
	line := fmt.Sprintf("%s %s in %s", s.Command, s.Outcome, s.Duration)
	if s.DryRun {
		line = fmt.Sprintf("%s (server dry run) %s in %s", s.Command, s.Outcome, s.Duration)
	}
	if len(counts) > 0 {
		line += ": " + strings.Join(counts, ", ")
	}
	if len(s.VMs) > 0 {
		ready := 0
		for _, v := range s.VMs {
			if v.Status == event.VMReady {
				ready++
			}
		}
		line += fmt.Sprintf("; %d/%d VMs ready", ready, len(s.VMs))
	}
	if s.Error != "" {
		line += "; error: " + s.Error
	}
	return line
}

// WriteSummary prints the end of a run: for few VMs (or mode SummaryVMs)
// a row per VM, else a row per workload and role with only the failed and
// slowest VMs named; then the phase table, the problems and the totals.
func WriteSummary(w io.Writer, s *event.Summary, mode Summary) {
	if len(s.VMs) > 0 {
		if mode == SummaryVMs || mode != SummaryGroups && len(s.VMs) <= SmallRun {
			vmTable(w, s.VMs)
		} else {
			groupTable(w, s.VMs)
			notReady(w, s.VMs)
			slowest(w, s.VMs)
		}
		if q := latency(s.VMs); q != "" {
			fmt.Fprintln(w, q)
		}
		if len(s.Phases) > 0 {
			fmt.Fprintln(w)
			PhaseTable(w, s.Phases)
		}
	}
	if len(s.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for i, pr := range s.Problems {
			if mode != SummaryVMs && i == listedFailed && len(s.Problems) > listedFailed+1 {
				fmt.Fprintf(w, "  ... and %d more (--summary vms lists them all)\n", len(s.Problems)-i)
				break
			}
			fmt.Fprintf(w, "  %s %s: %s\n", pr.Ref, pr.Result, pr.Reason)
		}
	}
	fmt.Fprintln(w, summaryLine(s))
}

func vmTable(w io.Writer, vms []event.VM) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tWORKLOAD\tROLE\tSTATUS\tTIME TO READY\tMESSAGE")
	for _, v := range vms {
		ttr := "-"
		if v.Status == event.VMReady && v.TimeToReady > 0 {
			ttr = v.TimeToReady.String()
		}
		msg := v.Message
		if v.Status == event.VMReady {
			msg = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, dash(v.Workload), dash(v.Role), v.Status, ttr, msg)
	}
	tw.Flush()
}

// groupTable is a row per workload and role: VMs, ready, failed, and the
// time to Ready of its measured VMs (from the cluster's timestamps).
func groupTable(w io.Writer, vms []event.VM) {
	type group struct {
		workload, role     string
		vms, ready, failed int
		toReady            []time.Duration
	}
	var groups []*group
	index := map[[2]string]*group{}
	for _, v := range vms {
		k := [2]string{v.Workload, v.Role}
		g := index[k]
		if g == nil {
			g = &group{workload: v.Workload, role: v.Role}
			index[k] = g
			groups = append(groups, g)
		}
		g.vms++
		switch v.Status {
		case event.VMReady:
			g.ready++
		case event.VMFailed:
			g.failed++
		}
		if d, ok := v.Phases[event.PhaseReady]; ok && v.Measured {
			g.toReady = append(g.toReady, time.Duration(d))
		}
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return strings.Compare(a.workload+"\x00"+a.role, b.workload+"\x00"+b.role)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tROLE\tVMS\tREADY\tFAILED\tREADY P50\tP95\tMAX")
	for _, g := range groups {
		p50, p95, mx := "-", "-", "-"
		if st := event.NewStats(g.toReady); st != nil {
			p50, p95, mx = st.P50.String(), st.P95.String(), st.Max.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", dash(g.workload), dash(g.role), g.vms, g.ready, g.failed, p50, p95, mx)
	}
	tw.Flush()
}

// notReady names the VMs that did not become ready, up to listedFailed.
func notReady(w io.Writer, vms []event.VM) {
	var bad []event.VM
	for _, v := range vms {
		if v.Status != event.VMReady {
			bad = append(bad, v)
		}
	}
	if len(bad) == 0 {
		return
	}
	fmt.Fprintf(w, "not ready (%d):\n", len(bad))
	for i, v := range bad {
		if i == listedFailed {
			fmt.Fprintf(w, "  ... and %d more (--summary vms lists every VM)\n", len(bad)-i)
			break
		}
		where := ""
		if p, d, ok := v.Last(); ok {
			where = fmt.Sprintf(" (last step %s at %s)", p, event.Seconds(d))
		}
		fmt.Fprintf(w, "  %s %s%s: %s\n", v.Name, v.Status, where, v.Message)
	}
}

// slowest names the measured VMs that took longest to Ready, and the step
// that held each of them up most.
func slowest(w io.Writer, vms []event.VM) {
	var ready []event.VM
	for _, v := range vms {
		if _, ok := v.Phases[event.PhaseReady]; ok && v.Measured {
			ready = append(ready, v)
		}
	}
	if len(ready) <= listedSlowest {
		return
	}
	slices.SortStableFunc(ready, func(a, b event.VM) int {
		return cmpDesc(a.Phases[event.PhaseReady], b.Phases[event.PhaseReady])
	})
	fmt.Fprintf(w, "slowest to Ready:\n")
	for _, v := range ready[:listedSlowest] {
		phase, gap := v.Holdup()
		fmt.Fprintf(w, "  %s %s, longest step %s (+%s)\n", v.Name, v.Phases[event.PhaseReady], phase, event.Seconds(gap))
	}
}

func cmpDesc(a, b event.Seconds) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// PhaseTable prints per-phase figures: the time from the VMs' start to
// each lifecycle step, by the cluster's clock.
func PhaseTable(w io.Writer, phases []event.PhaseStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE (from VM start)\tVMS\tMIN\tP50\tP90\tP95\tP99\tMAX\tMEAN\tMISSING")
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", p.Phase, p.Count, p.Min, p.P50, p.P90, p.P95, p.P99, p.Max, p.Mean, p.Missing)
	}
	tw.Flush()
}

// latency summarises time to Ready as this machine saw it, from the apply
// call (the phase table has the cluster's view).
func latency(vms []event.VM) string {
	var d []time.Duration
	for _, v := range vms {
		if v.Status == event.VMReady && v.TimeToReady > 0 {
			d = append(d, time.Duration(v.TimeToReady))
		}
	}
	st := event.NewStats(d)
	if st == nil {
		return ""
	}
	return fmt.Sprintf("time to ready from the apply call: min %s, p50 %s, p90 %s, p95 %s, p99 %s, max %s",
		st.Min, st.P50, st.P90, st.P95, st.P99, st.Max)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Status prints a status report: a table, or JSON.
func Status(w io.Writer, r *event.StatusReport, format Format) error {
	if format == JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, b := range r.BadEntries {
		fmt.Fprintf(w, "warning: %s\n", b)
	}
	if !r.Exists && len(r.Objects) == 0 {
		_, err := fmt.Fprintf(w, "no instance %q in namespace %s (nothing applied)\n", r.Name, r.Namespace)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tWORKLOAD\tROLE\tSTATUS\tMESSAGE")
	for _, o := range r.Objects {
		msg := o.Message
		if o.Owner != "" {
			msg = "owned by inventory " + o.Owner
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Ref.Kind, o.Ref.Name, dash(o.Workload), dash(o.Role), o.Status, msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := r.Counts()
	var parts []string
	for _, k := range []string{event.StatusCurrent, event.StatusInProgress, event.StatusFailed, event.StatusTerminating, event.StatusNotFound, event.StatusUnknown} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	_, err := fmt.Fprintf(w, "instance %q in namespace %s: %d objects: %s\n", r.Name, r.Namespace, len(r.Objects), strings.Join(parts, ", "))
	return err
}
