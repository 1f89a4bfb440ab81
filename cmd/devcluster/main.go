// Command devcluster runs a local Kubernetes API server with the KubeVirt and
// CDI APIs and the KubeVirt simulator in the foreground, for trying virtwork
// by hand; it prints the KUBECONFIG to export and removes everything on
// Ctrl-C or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/virtwork/virtwork/internal/kubevirtsim"
	"github.com/virtwork/virtwork/internal/testcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run() error {
	var st kubevirtsim.Settings
	var fault string
	var quiet bool
	flag.DurationVar(&st.BootDelay, "boot-delay", 3*time.Second, "time from a VM's start to Running and Ready")
	flag.DurationVar(&st.BootJitter, "boot-jitter", 2*time.Second, "random extra boot time per VM, up to this")
	flag.DurationVar(&st.AgentDelay, "agent-delay", 2*time.Second, "time from Ready to AgentConnected")
	flag.DurationVar(&st.DataVolumeDelay, "dv-delay", 2*time.Second, "time from a DataVolume's creation to Succeeded")
	flag.DurationVar(&st.ShutdownDelay, "shutdown-delay", time.Second, "time a deleted VMI takes to go away (its guest shutting down)")
	flag.BoolVar(&st.WaitForFirstConsumer, "wait-for-first-consumer", false, "keep DataVolumes in WaitForFirstConsumer until their VM starts")
	flag.StringVar(&fault, "fault", "", fmt.Sprintf("fault for every VM: one of %v (per VM: annotation %s)", kubevirtsim.Faults, kubevirtsim.FaultAnnotation))
	flag.BoolVar(&quiet, "quiet", false, "do not log the simulator's errors")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: devcluster [flags]\n\nRuns etcd, kube-apiserver and the KubeVirt simulator on loopback until Ctrl-C.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see -h)", flag.Arg(0))
	}
	st.Fault = kubevirtsim.Fault(fault)
	if err := st.Validate(); err != nil {
		return fmt.Errorf("-fault or a delay: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	simLog := logf
	if quiet {
		simLog = func(string, ...any) {}
	}
	fmt.Fprintln(os.Stderr, "devcluster: starting etcd and kube-apiserver...")
	c, err := testcluster.Start(ctx, testcluster.Options{
		Simulator: kubevirtsim.Config{Defaults: st, Logf: simLog},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			logf("devcluster: %v", err)
			return
		}
		logf("devcluster: stopped; removed %s", c.Dir())
	}()
	logf("devcluster: kube-apiserver %s at %s, ready in %s", testcluster.KubeAPIServerVersion, c.Host(), c.StartupTime().Round(time.Millisecond))
	logf("devcluster: CRD schemas: %s", c.Schemas())
	logf("devcluster: simulator: boot %s (+ up to %s), agent %s later, DataVolumes %s, shutdown %s; fault %q",
		st.BootDelay, st.BootJitter, st.AgentDelay, st.DataVolumeDelay, st.ShutdownDelay, st.Fault)
	logf("devcluster: logs in %s; Ctrl-C stops and removes everything", c.Dir())
	// The one line for stdout, so `eval "$(...)"`-style use stays possible.
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig())
	<-ctx.Done()
	logf("devcluster: stopping...")
	return nil
}
