// Command guestlab is `make guestlab`: it renders every built-in workload
// for Debian, boots each VM under qemu as KubeVirt would present it, and
// checks inside the guests that the load runs (see internal/guestlab).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/virtwork/virtwork/internal/guestlab"
)

func main() {
	home, _ := os.UserHomeDir()
	virtwork := flag.String("virtwork", "bin/virtwork", "the virtwork binary whose render is booted")
	cache := flag.String("cache", filepath.Join(home, ".cache", "virtwork", "guestlab"), "where the guest image is built once and kept")
	work := flag.String("work", "", "directory for the guests' disks and consoles (default: a fresh one under the cache, removed on success)")
	slots := flag.Int("slots", 2, "guests running at once")
	workloads := flag.String("workloads", "", "comma-separated workloads to boot (default: all)")
	timeout := flag.Duration("timeout", 20*time.Minute, "time each workload may take from boot to its last check")
	flag.Parse()
	if err := run(*virtwork, *cache, *work, *slots, *workloads, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "guestlab:", err)
		os.Exit(1)
	}
}

func run(virtwork, cache, work string, slots int, workloads string, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	objs, err := guestlab.Render(virtwork, guestlab.RenderArgs)
	if err != nil {
		return err
	}
	ws, err := guestlab.Plan(objs, 47000+os.Getpid()%10000)
	if err != nil {
		return err
	}
	// The image holds every workload's packages, whichever are booted.
	pkgs, err := guestlab.Packages(ws)
	if err != nil {
		return err
	}
	if ws, err = guestlab.Select(ws, workloads); err != nil {
		return err
	}
	start := time.Now()
	img, err := guestlab.EnsureImage(cache, pkgs, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "guestlab: image %s ready after %s\n", img.Dir, time.Since(start).Round(time.Second))
	keep := work != ""
	if work == "" {
		if work, err = os.MkdirTemp(cache, "run-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	accel, why := guestlab.DetectAccel(ctx, img, work)
	fmt.Fprintf(os.Stderr, "guestlab: %s\n", why)
	results := guestlab.Run(ctx, ws, guestlab.Options{Image: img, WorkDir: work, Slots: slots, Accel: accel, Timeout: timeout, Log: os.Stderr})
	fmt.Printf("\nguest lab: %s, %d guests at a time, %s in all (times from each guest's start)\n%s", strings.SplitN(why, ":", 2)[0], slots, time.Since(start).Round(time.Second), guestlab.Table(results))
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(os.Stderr, "guestlab: %s FAILED: %v\n", r.Workload, r.Err)
			failed = append(failed, r.Workload)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s failed; guests' files kept in %s", strings.Join(failed, ", "), work)
	}
	if !keep {
		os.RemoveAll(work)
	}
	return nil
}
