// Package guestlab boots the rendered cloud-init of virtwork's workloads
// in real guests under qemu, presented as KubeVirt would (a NoCloud seed,
// data disks with serials, a private network with the Services' names),
// and checks from inside each guest, through qemu-guest-agent, that the
// load runs.
package guestlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options say how to run the lab.
type Options struct {
	// Image is the guest image (EnsureImage).
	Image Image
	// WorkDir receives one directory per guest: seed, disks, console log.
	WorkDir string
	// Slots is how many guests run at once; a workload starts when all
	// of its guests fit.
	Slots int
	// Accel are qemu's accelerator arguments (DetectAccel).
	Accel []string
	// Timeout bounds each workload from its start.
	Timeout time.Duration
	// Log receives progress lines and, on failure, the guests' consoles.
	Log io.Writer
}

// Result is one workload's outcome with the milestones of its guests,
// measured from the start of the guest's qemu.
type Result struct {
	Workload   string
	Err        error
	Milestones map[string]map[string]time.Duration // guest -> milestone -> time
	Guests     []string
}

// Run boots the workloads, at most opts.Slots guests at a time, and
// returns one Result per workload in the order given.
func Run(ctx context.Context, ws []Workload, opts Options) []Result {
	// Slowest first, so the slots stay busy: workloads with data disks
	// (file systems, databases to initialise), then the rest, then those
	// that need several slots at once.
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	rank := func(w Workload) int {
		switch {
		case len(w.Guests) > 1:
			return 2
		case len(w.Guests) == 1 && len(w.Guests[0].Disks) > 0:
			return 0
		}
		return 1
	}
	sort.SliceStable(order, func(a, b int) bool { return rank(ws[order[a]]) < rank(ws[order[b]]) })
	results := make([]Result, len(ws))
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	free := opts.Slots
	var wg sync.WaitGroup
	for _, i := range order {
		w := ws[i]
		need := min(len(w.Guests), opts.Slots)
		mu.Lock()
		for free < need {
			cond.Wait()
		}
		free -= need
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runWorkload(ctx, w, opts)
			mu.Lock()
			free += need
			cond.Broadcast()
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "%s guestlab: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func runWorkload(ctx context.Context, w Workload, opts Options) Result {
	res := Result{Workload: w.Name, Milestones: map[string]map[string]time.Duration{}}
	if len(w.Guests) == 0 {
		res.Err = fmt.Errorf("%s: the render holds no VM of this workload (are its roles' counts 0?)", w.Name)
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var machines []*machine
	defer func() {
		for _, m := range machines {
			m.stop()
		}
	}()
	for _, g := range w.Guests {
		res.Guests = append(res.Guests, g.Name)
		res.Milestones[g.Name] = map[string]time.Duration{}
		m, err := g.start(ctx, opts.Image, filepath.Join(opts.WorkDir, g.Name), opts.Accel)
		if err != nil {
			res.Err = err
			return res
		}
		opts.logf("%s: started (%d vCPU, %d MiB, %d data disks)", g.Name, g.CPUs, g.MemoryMiB, len(g.Disks))
		machines = append(machines, m)
	}

	// Every guest's checks run in order; the guests of a workload are
	// checked side by side, since one may wait for the other.
	var wg sync.WaitGroup
	errs := make([]error, len(machines))
	var mu sync.Mutex
	for i, m := range machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = checkGuest(ctx, m, opts, func(milestone string, at time.Duration) {
				mu.Lock()
				res.Milestones[m.guest.Name][milestone] = at
				mu.Unlock()
			})
			if errs[i] != nil {
				cancel() // the workload has failed; stop waiting on the others
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !(errors.Is(err, context.Canceled) && res.Err != nil) {
			res.Err = errors.Join(res.Err, fmt.Errorf("%s: %w", machines[i].guest.Name, err))
		}
	}
	if res.Err != nil {
		for _, m := range machines {
			report(m, opts)
		}
	}
	return res
}

// checkGuest waits for the guest agent, then for each check to pass.
func checkGuest(ctx context.Context, m *machine, opts Options, milestone func(string, time.Duration)) error {
	checks, err := guestChecks(m.guest)
	if err != nil {
		return err
	}
	if err := poll(ctx, func() (bool, error) {
		_, err := m.exec(ctx, "true")
		if err != nil && strings.HasPrefix(err.Error(), "qemu exited") {
			return false, err
		}
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("guest agent never answered: %w", err)
	}
	milestone(MilestoneBoot, time.Since(m.started))
	opts.logf("%s: guest agent answers after %s", m.guest.Name, since(m.started))
	for _, c := range checks {
		var last ExecResult
		var lastErr error
		err := poll(ctx, func() (bool, error) {
			last, lastErr = m.exec(ctx, c.Script)
			if lastErr != nil {
				if strings.HasPrefix(lastErr.Error(), "qemu exited") {
					return false, lastErr
				}
				return false, nil
			}
			if last.ExitCode == 2 {
				return false, errors.New("definite failure")
			}
			return last.ExitCode == 0, nil
		})
		if err != nil {
			detail := strings.TrimSpace(last.Stdout + last.Stderr)
			if lastErr != nil {
				detail += " (" + lastErr.Error() + ")"
			}
			return fmt.Errorf("check %q failed after %s: %v\n%s", c.Name, since(m.started), err, detail)
		}
		if c.Milestone != "" {
			milestone(c.Milestone, time.Since(m.started))
		}
		out := strings.TrimSpace(last.Stdout)
		if out != "" {
			out = ": " + strings.ReplaceAll(out, "\n", "; ")
		}
		opts.logf("%s: ok %s after %s%s", m.guest.Name, c.Name, since(m.started), out)
	}
	return nil
}

// poll calls try every 3 s until it reports done, returns an error, or
// ctx ends.
func poll(ctx context.Context, try func() (bool, error)) error {
	for {
		done, err := try()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
}

// report prints what explains a failed guest: its console and
// cloud-init's own account.
func report(m *machine, opts Options) {
	fmt.Fprintf(opts.Log, "\n===== %s: console (last 80 lines of %s) =====\n%s\n", m.guest.Name, filepath.Join(m.dir, "console.log"), m.console(80))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := m.exec(ctx, "cloud-init status --long; echo; grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log | tail -n 20; echo; systemctl --failed --no-pager")
	if err != nil {
		fmt.Fprintf(opts.Log, "===== %s: cloud-init status --long: guest agent: %v =====\n", m.guest.Name, err)
		return
	}
	fmt.Fprintf(opts.Log, "===== %s: cloud-init status --long =====\n%s%s\n", m.guest.Name, r.Stdout, r.Stderr)
}

func since(t time.Time) string { return time.Since(t).Round(time.Second).String() }

// Table formats the results: per guest, the time of each milestone from
// the start of its qemu.
func Table(results []Result) string {
	var b strings.Builder
	cols := []string{MilestoneBoot, MilestoneCloudInit, MilestoneLoad, MilestoneFigures}
	fmt.Fprintf(&b, "%-18s %-8s %8s %16s %13s %14s\n", "guest", "result", cols[0], cols[1], cols[2], cols[3])
	for _, r := range results {
		status := "ok"
		if r.Err != nil {
			status = "FAILED"
		}
		guests := append([]string(nil), r.Guests...)
		sort.Strings(guests)
		for _, g := range guests {
			cell := func(m string) string {
				if d, ok := r.Milestones[g][m]; ok {
					return d.Round(time.Second).String()
				}
				return "-"
			}
			fmt.Fprintf(&b, "%-18s %-8s %8s %16s %13s %14s\n", g, status, cell(cols[0]), cell(cols[1]), cell(cols[2]), cell(cols[3]))
		}
	}
	return b.String()
}
