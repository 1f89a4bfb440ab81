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

// Printer renders events to w. Use Handle as the engine's event.Sink and
// call Close when the run is over.
type Printer struct {
	w      io.Writer
	format Format
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
func New(w io.Writer, format Format) *Printer {
	if format == Auto {
		format = Plain
		if IsTerminal(w) {
			format = Progress
		}
	}
	p := &Printer{w: w, format: format, now: time.Now, ready: map[string]bool{}}
	if format == Progress {
		// Redraw at most ten times a second: thousands of events
		// must not mean thousands of redraws.
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.redrawLoop()
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
		if s := describe(e); s != "" && e.Summary == nil {
			fmt.Fprintf(p.w, "%s %s\n", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), s)
		}
		if e.Summary != nil {
			writeSummary(p.w, e.Summary)
		}
	case Progress:
		// Failures and skips show as they happen; the rest is the
		// progress line.
		if e.Object != nil && (e.Object.Result == event.Failed || e.Object.Result == event.Skipped) ||
			e.Status != nil && e.Status.Status == event.StatusFailed {
			p.clearLine()
			fmt.Fprintln(p.w, describe(e))
		}
		p.dirty = true
		if e.Summary != nil {
			p.clearLine()
			writeSummary(p.w, e.Summary)
			p.dirty = false
		}
	}
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

func (p *Printer) redrawLoop() {
	defer close(p.stopped)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.mu.Lock()
			if p.dirty || p.line {
				p.drawLine()
			}
			p.mu.Unlock()
		}
	}
}

// drawLine rewrites the progress line in place.
func (p *Printer) drawLine() {
	if p.init == nil {
		return
	}
	var b strings.Builder
	b.WriteString("\r\033[K")
	verb := "applied"
	if p.init.Command == event.CommandDestroy {
		verb = "deleted"
	}
	fmt.Fprintf(&b, "%s %d/%d", verb, min(p.done, p.init.Objects+p.init.Prune), p.init.Objects+p.init.Prune)
	if p.init.Command == event.CommandApply && p.init.VMs > 0 && p.init.Wait {
		fmt.Fprintf(&b, "  VMs ready %d/%d", len(p.ready), p.init.VMs)
	}
	if p.failed > 0 {
		fmt.Fprintf(&b, "  failed %d", p.failed)
	}
	fmt.Fprintf(&b, "  %s", p.now().Sub(p.start).Round(time.Second))
	io.WriteString(p.w, b.String())
	p.line, p.dirty = true, false
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

// writeSummary prints the per-VM table, the problems and the totals.
func writeSummary(w io.Writer, s *event.Summary) {
	if len(s.VMs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VM\tWORKLOAD\tROLE\tSTATUS\tTIME TO READY\tMESSAGE")
		for _, v := range s.VMs {
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
		if q := latency(s.VMs); q != "" {
			fmt.Fprintln(w, q)
		}
	}
	if len(s.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, pr := range s.Problems {
			fmt.Fprintf(w, "  %s %s: %s\n", pr.Ref, pr.Result, pr.Reason)
		}
	}
	fmt.Fprintln(w, summaryLine(s))
}

// latency summarises time to Ready.
func latency(vms []event.VM) string {
	var d []time.Duration
	for _, v := range vms {
		if v.Status == event.VMReady && v.TimeToReady > 0 {
			d = append(d, time.Duration(v.TimeToReady))
		}
	}
	if len(d) == 0 {
		return ""
	}
	slices.Sort(d)
	// The quantiles the run history reports too.
	q := func(p float64) string { return event.Seconds(event.Quantile(d, p)).String() }
	return fmt.Sprintf("time to ready: min %s, p50 %s, p90 %s, p99 %s, max %s",
		event.Seconds(d[0]), q(0.5), q(0.9), q(0.99), event.Seconds(d[len(d)-1]))
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
