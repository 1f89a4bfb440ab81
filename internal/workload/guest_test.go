package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func databaseRole(t *testing.T, in Input) Role {
	t.Helper()
	ws, err := Load(LoadOptions{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Lookup(ws, "database")
	if err != nil {
		t.Fatal(err)
	}
	return w.Roles[0]
}

// The database workload is one definition that sets PostgreSQL up the way
// each OS family packages it.
func TestGuestOSShapesTheDatabase(t *testing.T) {
	cases := []struct {
		os, pkg, dataDir, setup, unit string
		selinux                       bool
	}{
		{"fedora", "postgresql-server", "/var/lib/pgsql/data", "postgresql-setup --initdb", "systemctl start postgresql.service", true},
		{"centos-stream", "postgresql-server", "/var/lib/pgsql/data", "postgresql-setup --initdb", "systemctl start postgresql.service", true},
		{"debian", "postgresql", "/var/lib/postgresql/data", `pg_createcluster -d "$data" "$ver" main`, `systemctl start "postgresql@$ver-main.service"`, false},
		{"ubuntu", "postgresql", "/var/lib/postgresql/data", `pg_createcluster -d "$data" "$ver" main`, `systemctl start "postgresql@$ver-main.service"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.os, func(t *testing.T) {
			r := databaseRole(t, Input{Namespace: "ns", GuestOS: tc.os})
			if !slices.Contains(r.Packages, tc.pkg) || !slices.Contains(r.Packages, "xfsprogs") {
				t.Errorf("packages %v, want %s and xfsprogs", r.Packages, tc.pkg)
			}
			if len(r.DataDisks) != 1 || r.DataDisks[0].MountPath != tc.dataDir {
				t.Errorf("data disks %+v, want pgdata at %s", r.DataDisks, tc.dataDir)
			}
			initScript := fileContent(t, r, "/usr/local/sbin/virtwork-database-init")
			for _, want := range []string{"data=" + tc.dataDir + "\n", tc.setup, tc.unit} {
				if !strings.Contains(initScript, want) {
					t.Errorf("init script lacks %q:\n%s", want, initScript)
				}
			}
			if got := strings.Contains(initScript, "restorecon"); got != tc.selinux {
				t.Errorf("restorecon in the init script: %v, want %v (SELinux)", got, tc.selinux)
			}
			if !strings.Contains(r.Units[0].Content, "virtwork-mount-disk pgdata "+tc.dataDir+"\n") {
				t.Errorf("unit does not mount pgdata at %s:\n%s", tc.dataDir, r.Units[0].Content)
			}
		})
	}
}

func TestParamsReachTheWorkload(t *testing.T) {
	r := databaseRole(t, Input{Namespace: "ns", Params: []Param{
		{Workload: "database", Key: "scale", Value: "3", Source: "--param"},
		{Workload: "database", Key: "duration", Value: "45", Source: "--param"},
	}})
	if s := fileContent(t, r, "/usr/local/sbin/virtwork-database-init"); !strings.Contains(s, "pgbench -i -s 3 pgbench") {
		t.Errorf("scale not applied:\n%s", s)
	}
	if u := r.Units[0].Content; !strings.Contains(u, "pgbench -c 10 -j 2 -T 45 pgbench") {
		t.Errorf("duration not applied:\n%s", u)
	}
	// Unset parameters keep the workload's defaults.
	r = databaseRole(t, Input{Namespace: "ns"})
	if u := r.Units[0].Content; !strings.Contains(u, "pgbench -c 10 -j 2 -T 300 pgbench") {
		t.Errorf("defaults not kept:\n%s", u)
	}
}

func TestBadParams(t *testing.T) {
	cases := []struct {
		p    Param
		want string
	}{
		{Param{"gpu", "scale", "1", "--param"}, `--param gpu.scale=1: no workload "gpu"`},
		{Param{"database", "size", "1", "--param"}, `--param database.size=1: workload database has no parameter "size" (it has scale, clients, duration)`},
		{Param{"cpu", "size", "1", "VIRTWORK_PARAMS"}, `VIRTWORK_PARAMS cpu.size=1: workload cpu has no parameter "size" (it has none)`},
		{Param{"database", "scale", "big", "--param"}, `--param database.scale=big: database.scale is a whole number`},
		{Param{"database", "scale", "0", "c.yaml:3: workloads.database.params.scale"}, `c.yaml:3: workloads.database.params.scale database.scale=0: invalid value 0 (out of bound >=1) (builtin/database.cue:`},
	}
	for _, tc := range cases {
		_, err := Load(LoadOptions{Input: Input{Namespace: "ns", Params: []Param{tc.p}}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line containing %q", tc.p, err, tc.want)
		}
	}
}

// A user's workload can tell guest OSes apart the same way, and declare
// its own parameters.
func TestUserWorkloadUsesGuestAndParams(t *testing.T) {
	dir := t.TempDir()
	src := `package virtwork

workloads: web: {
	description: "nginx"
	params: port: int | *80
	let pkg = {redhat: "nginx-core", debian: "nginx-light"}[input.guest.family]
	roles: main: {
		packages: [pkg]
		commands: ["echo \(input.guest.os) \(params.port)"]
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "web.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for os, want := range map[string]string{"fedora": "nginx-core", "ubuntu": "nginx-light"} {
		ws, err := Load(LoadOptions{Dir: dir, Input: Input{Namespace: "ns", GuestOS: os, Params: []Param{{"web", "port", "8080", "--param"}}}})
		if err != nil {
			t.Fatal(err)
		}
		w, _ := Lookup(ws, "web")
		if r := w.Roles[0]; r.Packages[0] != want || r.Commands[0] != "echo "+os+" 8080" {
			t.Errorf("%s: packages %v commands %v", os, r.Packages, r.Commands)
		}
	}
}
