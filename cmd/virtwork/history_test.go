package main

import (
	"os"
	"os/exec"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/virtwork/virtwork/inventory/history"
)

// cmdSeedHistory writes a known set of runs into the history database
// DBPATH, so scripts can exercise `virtwork history` without a cluster:
// five runs from March 2025 (an apply that waited for the guest agent,
// its dry run, a failed apply in another namespace, a destroy, an
// interrupted apply) and, with -recent, an apply that started an hour ago;
// with -abandoned, an apply still "running" whose process on this machine
// is gone.
//
//	seedhistory [-recent|-abandoned] DBPATH
func cmdSeedHistory(ts *testscript.TestScript, neg bool, args []string) {
	recent := len(args) == 2 && args[0] == "-recent"
	abandoned := len(args) == 2 && args[0] == "-abandoned"
	if neg || len(args) != 1 && !recent && !abandoned {
		ts.Fatalf("usage: seedhistory [-recent|-abandoned] DBPATH")
	}
	db, err := history.Open(ts.MkAbs(args[len(args)-1]))
	ts.Check(err)
	at := func(s string) time.Time {
		t, err := time.Parse(time.DateTime, s)
		ts.Check(err)
		return t
	}
	id := func(t time.Time, n string) string { return history.NewID(t)[:10] + n }
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	vm := func(name, wl, role, status string, applied time.Time, ready float64, msg string) history.VM {
		v := history.VM{Name: name, Workload: wl, Role: role, Status: status, Message: msg, Applied: applied}
		if ready > 0 {
			v.Ready = applied.Add(sec(ready))
		}
		return v
	}
	obj := func(kind, ns, name, result, reason string) history.Object {
		return history.Object{Kind: kind, Namespace: ns, Name: name, Result: result, Reason: reason}
	}
	base := history.Run{Command: "apply", User: "alice", Host: "laptop", KubeContext: "kind-virtwork",
		Server: "https://127.0.0.1:6443", Name: "virtwork", Version: "v0.1.0"}
	finish := func(r history.Run, took float64) *history.Run {
		r.End = r.Start.Add(sec(took))
		r.Duration = history.Seconds(r.End.Sub(r.Start))
		return &r
	}

	t1 := at("2025-03-01 10:00:00")
	r1 := base
	r1.ID, r1.Start, r1.Outcome, r1.Namespace, r1.InventoryID = id(t1, "000001"), t1, history.Succeeded, "load", "load.virtwork"
	r1.Config = &history.Config{Namespace: "load", Workloads: []string{"cpu", "disk", "network"}, CPUCores: 2, Memory: "2Gi",
		ContainerDiskImage: "quay.io/containerdisks/fedora:41", SSHUser: "fedora", SSHPasswordSet: true, SSHKeys: 1}
	r1.Workloads = []history.Workload{{Workload: "cpu", VMs: 1, CPUCores: 2, Memory: "2Gi"},
		{Workload: "disk", VMs: 1, CPUCores: 2, Memory: "2Gi", Disks: []string{"data=10Gi"}},
		{Workload: "network", Role: "client", VMs: 1, CPUCores: 2, Memory: "2Gi"}}
	r1.Source, r1.WaitFor, r1.Timeout = "config", "agent", history.Seconds(10*time.Minute)
	r1.Digest = "sha256:5d41402abc4b2a76b9719d911017c592ae2f2f1e6c1f0c2b6bbd2a3cf8a1b7e9"
	// In event order; history show sorts them by kind, then name.
	r1.Objects = []history.Object{obj("VirtualMachine", "load", "network-client-1", "created", ""),
		obj("VirtualMachine", "load", "cpu-1", "created", ""), obj("Secret", "load", "cpu-cloudinit", "created", ""),
		obj("VirtualMachine", "load", "disk-1", "created", ""), obj("Namespace", "", "load", "unchanged", "")}
	r1.VMs = []history.VM{vm("cpu-1", "cpu", "", "Ready", t1.Add(sec(1)), 30.5, ""),
		vm("disk-1", "disk", "", "Ready", t1.Add(sec(1.2)), 41, ""),
		vm("network-client-1", "network", "client", "Ready", t1.Add(sec(1.3)), 52.25, "")}
	for i, after := range []float64{12, 8, 20} {
		r1.VMs[i].AgentConnected = r1.VMs[i].Ready.Add(sec(after))
	}

	t2 := at("2025-03-01 11:00:00")
	r2 := base
	r2.ID, r2.Start, r2.Outcome, r2.Namespace, r2.InventoryID, r2.DryRun = id(t2, "000002"), t2, history.Succeeded, "load", "load.virtwork", true
	r2.Objects = []history.Object{obj("VirtualMachine", "load", "cpu-1", "unchanged", "dry run")}
	r2.VMs = []history.VM{vm("cpu-1", "cpu", "", "NotWaited", t2, 0, "")}

	t3 := at("2025-03-02 09:00:00")
	r3 := base
	r3.ID, r3.Start, r3.Outcome, r3.Namespace, r3.InventoryID = id(t3, "000003"), t3, history.Failed, "team-b", "team-b.virtwork"
	r3.Error = "1 VM failed"
	r3.Objects = []history.Object{obj("VirtualMachine", "team-b", "cpu-1", "created", ""), obj("VirtualMachine", "team-b", "cpu-2", "created", ""),
		obj("Service", "team-b", "db", "skipped", "owned by another inventory")}
	r3.Problems = []history.Problem{{Kind: "VirtualMachine", Namespace: "team-b", Name: "cpu-2", Result: "failed",
		Reason: "ErrImagePull: quay.io/containerdisks/fedora:404 not found"}}
	r3.VMs = []history.VM{vm("cpu-1", "cpu", "", "Ready", t3, 45, ""),
		vm("cpu-2", "cpu", "", "Failed", t3, 0, "ErrImagePull: quay.io/containerdisks/fedora:404 not found")}
	// Waited for Ready only: the agent time of cpu-1 (a record written
	// before virtwork left such times out) gives no figures.
	r3.WaitFor = "ready"
	r3.VMs[0].AgentConnected = r3.VMs[0].Ready.Add(sec(5))

	t4 := at("2025-03-03 08:00:00")
	r4 := base
	r4.ID, r4.Command, r4.Start, r4.Outcome, r4.Namespace, r4.InventoryID = id(t4, "000004"), "destroy", t4, history.Succeeded, "load", "load.virtwork"
	r4.Objects = []history.Object{obj("VirtualMachine", "load", "cpu-1", "deleted", ""), obj("Secret", "load", "cpu-cloudinit", "deleted", "")}

	t5 := at("2025-03-03 09:00:00")
	r5 := base
	r5.ID, r5.Start, r5.Outcome, r5.Namespace, r5.Name, r5.InventoryID = id(t5, "000005"), t5, history.Interrupted, "load", "big", "load.big"
	r5.Error = "interrupted"
	r5.VMs = []history.VM{vm("cpu-1", "cpu", "", "Ready", t5, 20, ""), vm("cpu-2", "cpu", "", "Interrupted", t5, 0, "")}

	for _, r := range []*history.Run{finish(r1, 75), finish(r2, 3), finish(r3, 62), finish(r4, 30), finish(r5, 25)} {
		ts.Check(db.Put(r))
	}
	if recent {
		t6 := time.Now().Add(-time.Hour).UTC()
		r6 := base
		r6.ID, r6.Start, r6.Outcome, r6.Namespace, r6.InventoryID = id(t6, "000006"), t6, history.Succeeded, "load", "load.virtwork"
		r6.VMs = []history.VM{vm("cpu-1", "cpu", "", "Ready", t6, 33, "")}
		ts.Check(db.Put(finish(r6, 40)))
	}
	if abandoned {
		gone := exec.Command("true")
		ts.Check(gone.Run())
		host, err := os.Hostname()
		ts.Check(err)
		t7 := at("2025-03-04 12:00:00")
		r7 := base
		r7.ID, r7.Start, r7.Outcome, r7.Namespace, r7.InventoryID = id(t7, "000007"), t7, history.Running, "load", "load.virtwork"
		r7.Host, r7.PID = host, gone.Process.Pid
		ts.Check(db.Put(&r7))
	}
}
