package guestlab

import (
	"slices"
	"strings"
	"testing"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
)

// The lab must present each rendered VM as KubeVirt would: its user
// data, its data disks by serial and size, and for the network pair a
// link on which the Service name resolves to the server.
func TestPlanReadsTheRenderLikeKubeVirt(t *testing.T) {
	cfg, err := config.Load(config.Flags{GuestOS: ptr("debian"), Namespace: ptr("lab"), DiskSize: ptr("3Gi"), Memory: ptr("1Gi"), CPUCores: ptr(1)}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: cfg.Namespace, GuestOS: cfg.GuestOS}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(cfg, ws)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plan(objs, 40000)
	if err != nil {
		t.Fatal(err)
	}
	guests := map[string]*Guest{}
	var names []string
	for _, w := range plan {
		if len(workloadChecks[w.Name]) == 0 {
			t.Errorf("the lab has no checks for the built-in workload %s", w.Name)
		}
		for _, g := range w.Guests {
			if g.Workload != w.Name {
				t.Errorf("%s in workload %s has label %s", g.Name, w.Name, g.Workload)
			}
			guests[g.Name] = g
			names = append(names, g.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"cpu-1", "database-1", "disk-1", "memory-1", "network-client-1", "network-server-1"}; !slices.Equal(names, want) {
		t.Fatalf("guests %v, want %v", names, want)
	}
	db := guests["database-1"]
	if db.CPUs != 1 || db.MemoryMiB != 1024 || len(db.Disks) != 1 || db.Disks[0] != (Disk{Name: "pgdata", SizeBytes: 3 << 30}) {
		t.Errorf("database-1: %d CPUs, %d MiB, disks %+v", db.CPUs, db.MemoryMiB, db.Disks)
	}
	if !strings.Contains(string(db.UserData), "pg_createcluster") || db.NIC != nil {
		t.Errorf("database-1: not the debian user data, or a NIC it does not need")
	}
	srv, cli := guests["network-server-1"], guests["network-client-1"]
	if srv.NIC == nil || cli.NIC == nil || srv.NIC.Port != cli.NIC.PeerPort || cli.NIC.Port != srv.NIC.PeerPort || srv.NIC.Port == cli.NIC.Port || srv.NIC.MAC == cli.NIC.MAC {
		t.Fatalf("network pair not linked: server %+v client %+v", srv.NIC, cli.NIC)
	}
	srvIP := strings.Split(srv.NIC.Address, "/")[0]
	// The Service is headless: its name and the server VM's own name under
	// it resolve to the server.
	wantHost := srvIP + " iperf3-server.lab.svc.cluster.local network-server-1.iperf3-server.lab.svc.cluster.local"
	for _, g := range []*Guest{srv, cli} {
		if len(g.Hosts) != 1 || g.Hosts[0] != wantHost {
			t.Errorf("%s hosts %q, want %q...", g.Name, g.Hosts, wantHost)
		}
		if !strings.Contains(g.seedFiles()["vendor-data"], wantHost) {
			t.Errorf("%s: the hosts entry is not in the seed's vendor data", g.Name)
		}
	}
	if !strings.Contains(string(cli.UserData), `iperf3 -c "network-server-$n.iperf3-server.lab.svc.cluster.local"`) {
		t.Errorf("client user data does not name the server VM under the Service")
	}
	pkgs, err := Packages(plan)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pkgs)
	if want := []string{"fio", "iperf3", "postgresql", "postgresql-contrib", "stress-ng", "xfsprogs"}; !slices.Equal(pkgs, want) {
		t.Errorf("packages %v, want %v", pkgs, want)
	}
	// The image key follows the package list, whatever its order.
	if ImageKey(pkgs) != ImageKey([]string{"xfsprogs", "stress-ng", "postgresql-contrib", "postgresql", "iperf3", "fio", "fio"}) || ImageKey(pkgs) == ImageKey(pkgs[1:]) {
		t.Error("ImageKey does not identify the package set")
	}
}

// Every guest is checked for cloud-init, its units and its disks before
// the workload's own checks, which exist for every built-in workload.
func TestGuestChecksCoverUnitsAndDisks(t *testing.T) {
	g := &Guest{Name: "database-1", Workload: "database", Role: "main", Disks: []Disk{{Name: "pgdata"}},
		UserData: []byte("#cloud-config\nwrite_files:\n  - path: /etc/systemd/system/virtwork-database.service\n    content: x\n  - path: /usr/local/sbin/x\n    content: y\n")}
	checks, err := guestChecks(g)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	want := []string{"cloud-init done without errors", "virtwork-database.service active", "data disk pgdata mounted", "PostgreSQL answers with the pgbench tables", "pgbench runs",
		"the exporter serves the workload's figures", "the figures change between two scrapes"}
	if !slices.Equal(names, want) {
		t.Errorf("checks %q, want %q", names, want)
	}
}

func ptr[T any](v T) *T { return &v }
