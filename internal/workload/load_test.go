package workload

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/format"

	virtworkcue "github.com/virtwork/virtwork/cue"
)

func loadBuiltins(t *testing.T) map[string]Workload {
	t.Helper()
	ws, err := Load(LoadOptions{Input: Input{Namespace: "load-test"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	byName := map[string]Workload{}
	for _, w := range ws {
		byName[w.Name] = w
	}
	return byName
}

func TestLoadBuiltinsInOrder(t *testing.T) {
	ws, err := Load(LoadOptions{Input: Input{Namespace: "virtwork"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Names(ws), []string{"cpu", "memory", "disk", "database", "network"}; !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	for _, w := range ws {
		if w.File != "builtin/"+w.Name+".cue" {
			t.Errorf("%s: File = %q", w.Name, w.File)
		}
		if !strings.Contains(w.Source, "workloads: "+w.Name+":") {
			t.Errorf("%s: Source does not hold its definition:\n%s", w.Name, w.Source)
		}
		if w.Description == "" {
			t.Errorf("%s: no description", w.Name)
		}
		for _, r := range w.Roles {
			if r.VMCount != 1 {
				t.Errorf("%s/%s: VMCount = %d, want the default 1", w.Name, r.Name, r.VMCount)
			}
			for _, f := range r.Files {
				if f.Permissions == "" {
					t.Errorf("%s/%s: %s has no permissions", w.Name, r.Name, f.Path)
				}
			}
		}
	}
}

// singleRole returns the only role of w, failing otherwise.
func singleRole(t *testing.T, w Workload) Role {
	t.Helper()
	if len(w.Roles) != 1 {
		t.Fatalf("%s: %d roles, want 1", w.Name, len(w.Roles))
	}
	return w.Roles[0]
}

// unitLines returns the lines of the unit's content that start with key=.
func unitLines(u Unit, key string) []string {
	var out []string
	for _, l := range strings.Split(u.Content, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

func fileContent(t *testing.T, r Role, path string) string {
	t.Helper()
	for _, f := range r.Files {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("role %s has no file %s", r.Name, path)
	return ""
}

func TestBuiltinCPUAndMemory(t *testing.T) {
	ws := loadBuiltins(t)
	for name, want := range map[string]string{
		// Runs of 60 s back to back, each recorded by virtwork-run.
		"cpu": "/bin/bash -c 'while :; do /usr/local/lib/virtwork/virtwork-run --workload cpu --role main --parser stress-ng --interval 60 -- /usr/bin/stress-ng --cpu 0 --cpu-method all --timeout 60s || sleep 10; done'",
		// %% is systemd's escape for a literal %.
		"memory": "/bin/bash -c 'while :; do /usr/local/lib/virtwork/virtwork-run --workload memory --role main --parser stress-ng --interval 60 -- /usr/bin/stress-ng --vm 1 --vm-bytes 80%% --vm-method all --timeout 60s || sleep 10; done'",
	} {
		r := singleRole(t, ws[name])
		if !slices.Contains(r.Packages, "stress-ng") {
			t.Errorf("%s: packages %v lack stress-ng", name, r.Packages)
		}
		if len(r.Units) != 1 {
			t.Fatalf("%s: %d units", name, len(r.Units))
		}
		if got := unitLines(r.Units[0], "ExecStart"); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: ExecStart = %q, want %q", name, got, want)
		}
	}
}

func TestBuiltinDisk(t *testing.T) {
	r := singleRole(t, loadBuiltins(t)["disk"])
	if want := []DataDisk{{Name: "data", MountPath: "/mnt/data"}}; !slices.Equal(r.DataDisks, want) {
		t.Errorf("DataDisks = %+v, want %+v", r.DataDisks, want)
	}
	for path, settings := range map[string][]string{
		"/etc/virtwork/fio/mixed-rw.fio":  {"directory=/mnt/data", "rw=randrw", "rwmixread=70", "bs=4k"},
		"/etc/virtwork/fio/seq-write.fio": {"directory=/mnt/data", "rw=write", "bs=128k"},
	} {
		lines := strings.Split(fileContent(t, r, path), "\n")
		for _, s := range settings {
			if !slices.Contains(lines, s) {
				t.Errorf("%s lacks %s", path, s)
			}
		}
	}
	u := r.Units[0]
	if got := unitLines(u, "ExecStartPre"); !slices.Equal(got, []string{"/usr/local/sbin/virtwork-mount-disk data /mnt/data"}) {
		t.Errorf("ExecStartPre = %q", got)
	}
	loop := regexp.MustCompile(`while :; do /usr/local/lib/virtwork/virtwork-run --workload disk --role main --parser fio --profile mixed-rw --interval 130 -- /usr/bin/fio /etc/virtwork/fio/mixed-rw\.fio; sleep 10; /usr/local/lib/virtwork/virtwork-run --workload disk --role main --parser fio --profile seq-write --interval 130 -- /usr/bin/fio /etc/virtwork/fio/seq-write\.fio; sleep 10; done`)
	if got := unitLines(u, "ExecStart"); len(got) != 1 || !loop.MatchString(got[0]) {
		t.Errorf("ExecStart = %q does not alternate the profiles with 10 s pauses", got)
	}
	if !slices.Contains(unitLines(u, "Requires"), `dev-disk-by\x2did-virtio\x2ddata.device`) {
		t.Errorf("unit does not require the data disk's device:\n%s", u.Content)
	}
}

func TestBuiltinDatabase(t *testing.T) {
	r := singleRole(t, loadBuiltins(t)["database"])
	if want := []DataDisk{{Name: "pgdata", MountPath: "/var/lib/pgsql/data"}}; !slices.Equal(r.DataDisks, want) {
		t.Errorf("DataDisks = %+v, want %+v", r.DataDisks, want)
	}
	for _, p := range []string{"postgresql-server", "postgresql-contrib"} {
		if !slices.Contains(r.Packages, p) {
			t.Errorf("packages %v lack %s", r.Packages, p)
		}
	}
	u := r.Units[0]
	if got, want := unitLines(u, "ExecStartPre"), []string{
		"+/usr/local/sbin/virtwork-mount-disk pgdata /var/lib/pgsql/data",
		"+/usr/local/sbin/virtwork-database-init",
	}; !slices.Equal(got, want) {
		t.Errorf("ExecStartPre = %q, want %q", got, want)
	}
	init := fileContent(t, r, "/usr/local/sbin/virtwork-database-init")
	for _, s := range []string{"postgresql-setup --initdb", "pgbench -i -s 50 pgbench", `[ ! -f "$data/PG_VERSION" ]`} {
		if !strings.Contains(init, s) {
			t.Errorf("init script lacks %q", s)
		}
	}
	if got := unitLines(u, "User"); len(got) != 0 {
		t.Errorf("User = %q: virtwork-run must run as root to write the figures", got)
	}
	if got := unitLines(u, "ExecStart"); len(got) != 1 || !strings.Contains(got[0], "virtwork-run --workload database --role main --parser pgbench --interval 310 -- runuser -u postgres -- /usr/bin/pgbench -c 10 -j 2 -T 300 pgbench; sleep 10; done") {
		t.Errorf("ExecStart = %q", got)
	}
}

func TestBuiltinNetwork(t *testing.T) {
	w := loadBuiltins(t)["network"]
	if len(w.Roles) != 2 || w.Roles[0].Name != "client" || w.Roles[1].Name != "server" {
		t.Fatalf("roles = %+v, want client and server", w.Roles)
	}
	want := []Service{{Name: "iperf3-server", Role: "server", Ports: []Port{{Name: "iperf3", Port: 5201, Protocol: "TCP"}}, Headless: true}}
	if len(w.Services) != 1 || w.Services[0].Name != want[0].Name || w.Services[0].Role != want[0].Role || !slices.Equal(w.Services[0].Ports, want[0].Ports) || !w.Services[0].Headless {
		t.Errorf("Services = %+v, want %+v", w.Services, want)
	}
	client, server := w.Roles[0].Units[0], w.Roles[1].Units[0]
	if got := unitLines(server, "ExecStart"); !slices.Equal(got, []string{"/usr/bin/iperf3 -s"}) {
		t.Errorf("server ExecStart = %q", got)
	}
	if got := unitLines(client, "ExecStart"); !slices.Equal(got, []string{"/usr/local/sbin/virtwork-iperf3-client"}) {
		t.Errorf("client ExecStart = %q", got)
	}
	// Client N targets server N by its own DNS name (render gives the
	// servers host names and the Service as subdomain; see render's tests).
	script := fileContent(t, w.Roles[0], "/usr/local/sbin/virtwork-iperf3-client")
	if want := `/usr/bin/iperf3 -c "network-server-$n.iperf3-server.load-test.svc.cluster.local" -t 60 -P 4 --bidir`; !strings.Contains(script, want) {
		t.Errorf("client script lacks %s:\n%s", want, script)
	}
	if got := unitLines(client, "Restart"); !slices.Equal(got, []string{"always"}) {
		t.Errorf("client Restart = %q", got)
	}
}

// TestBuiltinFilesFormatted keeps the embedded CUE as `cue fmt` writes it.
func TestBuiltinFilesFormatted(t *testing.T) {
	for _, name := range append([]string{"schema"}, virtworkcue.Builtins...) {
		src, err := virtworkcue.FS.ReadFile(name + ".cue")
		if err != nil {
			t.Fatal(err)
		}
		got, err := format.Source(src)
		if err != nil {
			t.Fatalf("%s.cue: %v", name, err)
		}
		if string(got) != string(src) {
			t.Errorf("cue/%s.cue is not formatted; formatted it reads:\n%s", name, got)
		}
	}
}

const helloCUE = `package virtwork

workloads: hello: {
	description: "Serves a page with nginx"
	roles: web: {
		vmCount: 3
		resources: {cpuCores: 1, memory: "1Gi"}
		packages: ["nginx"]
		files: [{path: "/usr/share/nginx/html/index.html", content: "hello from \(input.namespace)\n"}]
		units: [{name: "virtwork-hello.service", content: "[Service]\nExecStart=/usr/sbin/nginx\n"}]
		commands: ["echo ready"]
		dataDisks: [{name: "cache", mountPath: "/var/cache/nginx", size: "1Gi"}]
	}
	services: hello: {role: "web", ports: [{name: "http", port: 80}]}
}
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadUserDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"hello.cue": helloCUE,
		// No package clause, and a name sorting before the built-ins'.
		"aaa.cue":    "#Desc: \"x\"\n_base: {packages: [\"vim\"]}\nworkloads: aaa: {description: #Desc, roles: main: _base}\n",
		"notes.txt":  "not CUE",
		"ignore.yml": "a: b",
	})
	ws, err := Load(LoadOptions{Dir: dir, Input: Input{Namespace: "ns"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Names(ws), []string{"cpu", "memory", "disk", "database", "network", "aaa", "hello"}; !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	w, err := Lookup(ws, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if w.File != filepath.Join(dir, "hello.cue") || w.Source != helloCUE {
		t.Errorf("File = %q, Source = %q", w.File, w.Source)
	}
	r := w.Roles[0]
	if r.Name != "web" || r.VMCount != 3 || r.CPUCores != 1 || r.Memory != "1Gi" {
		t.Errorf("role = %+v", r)
	}
	if want := []File{{Path: "/usr/share/nginx/html/index.html", Content: "hello from ns\n", Permissions: "0644"}}; !slices.Equal(r.Files, want) {
		t.Errorf("Files = %+v, want %+v", r.Files, want)
	}
	if want := []DataDisk{{Name: "cache", MountPath: "/var/cache/nginx", Size: "1Gi"}}; !slices.Equal(r.DataDisks, want) {
		t.Errorf("DataDisks = %+v", r.DataDisks)
	}
	if !slices.Equal(r.Commands, []string{"echo ready"}) {
		t.Errorf("Commands = %q", r.Commands)
	}
	if len(w.Services) != 1 || w.Services[0].Ports[0] != (Port{Name: "http", Port: 80, Protocol: "TCP"}) {
		t.Errorf("Services = %+v", w.Services)
	}
}

// TestSchemaDocExample loads the example in schema.cue's doc comment, the
// one the README shows, as a user file.
func TestSchemaDocExample(t *testing.T) {
	src, err := virtworkcue.FS.ReadFile("schema.cue")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for _, l := range strings.Split(string(src), "\n") {
		if code, ok := strings.CutPrefix(l, "//\t"); ok {
			example = append(example, code)
		} else if len(example) > 0 && l == "//" {
			example = append(example, "")
		} else if len(example) > 0 {
			break
		}
	}
	dir := writeFiles(t, map[string]string{"hello.cue": strings.Join(example, "\n")})
	ws, err := Load(LoadOptions{Dir: dir, Input: Input{Namespace: "ns"}})
	if err != nil {
		t.Fatalf("%v\nexample:\n%s", err, strings.Join(example, "\n"))
	}
	w, err := Lookup(ws, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Roles) != 1 || len(w.Roles[0].Units) != 1 || len(w.Services) != 1 {
		t.Errorf("hello = %+v", w)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		// want are regexps the error must match; FILE stands for the
		// first file's path.
		want []string
	}{{
		name:  "syntax error",
		files: map[string]string{"bad.cue": "package virtwork\n\nworkloads: x: {\n\tdescription: \"a\"\n\troles: main: {vmCount: }\n}\n"},
		want:  []string{`^FILE:5:\d+: `},
	}, {
		name:  "vmCount below 1",
		files: map[string]string{"bad.cue": "workloads: x: {\n\tdescription: \"a\"\n\troles: main: vmCount: 0\n}\n"},
		want:  []string{`(?m)^FILE:3:\d+: workloads\.x\.roles\.main\.vmCount: invalid value 0 \(out of bound >=1\) \(see builtin/schema\.cue:\d+:\d+\)$`},
	}, {
		name:  "unknown field",
		files: map[string]string{"bad.cue": "workloads: x: {\n\tdescription: \"a\"\n\troles: main: {}\n\tvmcount: 2\n}\n"},
		want:  []string{`(?m)^FILE:4:\d+: workloads\.x\.vmcount: field not allowed`},
	}, {
		name:  "service selects a missing role",
		files: map[string]string{"bad.cue": "workloads: x: {\n\tdescription: \"a\"\n\troles: main: {}\n\tservices: s: {role: \"mian\", ports: [{name: \"p\", port: 1}]}\n}\n"},
		want:  []string{`^FILE:1:12: workloads\.x\.services\.s\.role: no role mian in this workload \(roles: main\) \(see builtin/schema\.cue:\d+:\d+\)$`},
	}, {
		name:  "invalid workload name",
		files: map[string]string{"bad.cue": "workloads: My_WL: {description: \"a\", roles: main: {}}\n"},
		want:  []string{`(?m)^FILE:1:\d+: workloads\.My_WL\.name: invalid value "My_WL"`},
	}, {
		name:  "no roles",
		files: map[string]string{"bad.cue": "workloads: x: description: \"a\"\n"},
		want:  []string{`workloads\.x\.roles: invalid value \{\} \(does not satisfy struct\.MinFields\(1\)\)`},
	}, {
		name:  "missing description",
		files: map[string]string{"bad.cue": "workloads: x: roles: main: {}\n"},
		want:  []string{`workloads\.x\.description: incomplete value`},
	}, {
		name:  "unit name without .service",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: units: [{name: \"x.timer\", content: \"[Timer]\"}]}\n"},
		want:  []string{`(?m)^FILE:1:\d+: workloads\.x\.roles\.main\.units\.0\.name: invalid value "x\.timer"`},
	}, {
		name:  "redefines a built-in",
		files: map[string]string{"bad.cue": "package virtwork\n\nworkloads: cpu: roles: main: vmCount: 2\n"},
		want:  []string{`^FILE:3:12: workload "cpu" is already defined in builtin/cpu\.cue; rename one of them$`},
	}, {
		name: "same workload in two files",
		files: map[string]string{
			"a.cue": "workloads: x: {description: \"a\", roles: main: {}}\n",
			"b.cue": "workloads: {\n\tx: {description: \"a\", roles: main: {}}\n}\n",
		},
		want: []string{`^DIR/b\.cue:2:2: workload "x" is already defined in DIR/a\.cue; rename one of them$`},
	}, {
		name:  "wrong package",
		files: map[string]string{"bad.cue": "package mine\n\nworkloads: x: {description: \"a\", roles: main: {}}\n"},
		want:  []string{`^FILE:1:1: package mine: a workload file must be in package virtwork`},
	}, {
		name:  "misspelt top level",
		files: map[string]string{"bad.cue": "workload: x: {description: \"a\", roles: main: {}}\n"},
		want:  []string{`^FILE:1:\d+: unknown top-level field workload: a workload file declares workloads: NAME: \{\.\.\.\}$`},
	}, {
		name:  "service name taken by a built-in",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: {}, services: \"iperf3-server\": {role: \"main\", ports: [{name: \"p\", port: 1}]}}\n"},
		want:  []string{`service "iperf3-server" is already defined by workload network`},
	}, {
		name:  "metric of an unknown type",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: metrics: hello_seconds: {type: \"histogram\", help: \"h\"}}\n"},
		want:  []string{`(?m)^FILE:1:\d+: workloads\.x\.roles\.main\.metrics\.hello_seconds\.type: \d+ errors in empty disjunction`},
	}, {
		name:  "metric name Prometheus refuses",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: metrics: \"hello-seconds\": {type: \"gauge\", help: \"h\"}}\n"},
		want:  []string{`workloads\.x\.roles\.main\.metrics\."hello-seconds"\.name: invalid value "hello-seconds"`},
	}, {
		name:  "two headless services for one role",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: {}, services: {a: {role: \"main\", headless: true, ports: [{name: \"p\", port: 1}]}, b: {role: \"main\", headless: true, ports: [{name: \"p\", port: 1}]}}}\n"},
		want:  []string{`^workload x: services a and b are both headless for role main; a VM has one DNS subdomain, so keep one$`},
	}, {
		name:  "several errors at once",
		files: map[string]string{"bad.cue": "workloads: x: {description: \"a\", roles: main: {vmCount: 0}}\nworkloads: y: {description: \"a\", roles: main: dataDisks: [{name: \"Data\", mountPath: \"/d\"}]}\n"},
		want:  []string{`(?m)^FILE:1:\d+: workloads\.x\.roles\.main\.vmCount: invalid value 0`, `(?m)^FILE:2:\d+: workloads\.y\.roles\.main\.dataDisks\.0\.name: invalid value "Data"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			_, err := Load(LoadOptions{Dir: dir, Input: Input{Namespace: "ns"}})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Logf("error:\n%v", err)
			first := filepath.Join(dir, slices.Sorted(func(yield func(string) bool) {
				for k := range tc.files {
					if !yield(k) {
						return
					}
				}
			})[0])
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "FILE", regexp.QuoteMeta(first))
				w = strings.ReplaceAll(w, "DIR", regexp.QuoteMeta(dir))
				if !regexp.MustCompile(w).MatchString(err.Error()) {
					t.Errorf("error does not match %s:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadMissingDir(t *testing.T) {
	_, err := Load(LoadOptions{Dir: filepath.Join(t.TempDir(), "nope"), Input: Input{Namespace: "ns"}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v, want one naming the missing directory", err)
	}
}

func TestLookupUnknown(t *testing.T) {
	ws := []Workload{{Name: "cpu"}, {Name: "disk"}}
	_, err := Lookup(ws, "cpux")
	if err == nil || err.Error() != `unknown workload "cpux" (known: cpu, disk)` {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkLoad measures evaluating the built-in workloads, which every
// render does once.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(LoadOptions{Input: Input{Namespace: "virtwork"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGuestAgent: every role, built-in or not, gets the runner and the
// exporter exactly as they are in cue/, and the exporter's unit.
func TestGuestAgent(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hello.cue": helloCUE})
	ws, err := Load(LoadOptions{Dir: dir, Input: Input{Namespace: "ns"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for field, file := range virtworkcue.GuestPrograms {
		b, err := virtworkcue.FS.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want[map[string]string{"runner": "/usr/local/lib/virtwork/virtwork-run", "exporter": "/usr/local/lib/virtwork/virtwork-exporter"}[field]] = string(b)
	}
	for _, w := range ws {
		for _, r := range w.Roles {
			got := map[string]string{}
			for _, f := range r.Agent.Files {
				got[f.Path] = f.Content
				if f.Permissions != "0755" {
					t.Errorf("%s/%s: %s has permissions %s", w.Name, r.Name, f.Path, f.Permissions)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s/%s: agent files differ from cue/*.py (paths %v)", w.Name, r.Name, slices.Sorted(maps.Keys(got)))
			}
			if len(r.Agent.Units) != 1 || r.Agent.Units[0].Name != "virtwork-exporter.service" ||
				!slices.Equal(unitLines(r.Agent.Units[0], "ExecStart"), []string{"/usr/local/lib/virtwork/virtwork-exporter --dir /var/lib/virtwork/metrics --listen :9100"}) {
				t.Errorf("%s/%s: agent units %+v", w.Name, r.Name, r.Agent.Units)
			}
		}
	}
}

// TestBuiltinMetrics: the roles that run a tool declare the runner's
// figures and their own; the iperf3 server writes none. (The names are
// checked against what the runner really writes in cue's guest tests.)
func TestBuiltinMetrics(t *testing.T) {
	ws := loadBuiltins(t)
	for _, tc := range []struct {
		workload, role, prefix string
		n                      int
	}{
		{"cpu", "main", "virtwork_stress_", 2},
		{"memory", "main", "virtwork_stress_", 2},
		{"disk", "main", "virtwork_fio_", 3},
		{"database", "main", "virtwork_pgbench_", 5},
		{"network", "client", "virtwork_iperf3_", 4},
		{"network", "server", "-", 0},
	} {
		var r Role
		for _, rr := range ws[tc.workload].Roles {
			if rr.Name == tc.role {
				r = rr
			}
		}
		own, runner := 0, 0
		for _, m := range r.Metrics {
			switch {
			case strings.HasPrefix(m.Name, tc.prefix):
				own++
			case strings.HasPrefix(m.Name, "virtwork_workload_"):
				runner++
			default:
				t.Errorf("%s/%s: unexpected metric %s", tc.workload, tc.role, m.Name)
			}
			if m.Help == "" || (m.Type != "gauge" && m.Type != "counter") || strings.HasSuffix(m.Name, "_total") != (m.Type == "counter") {
				t.Errorf("%s/%s: metric %+v: want help, and type counter exactly for _total", tc.workload, tc.role, m)
			}
		}
		if wantRunner := map[bool]int{true: 6, false: 0}[tc.n > 0]; own != tc.n || runner != wantRunner {
			t.Errorf("%s/%s: %d own and %d runner metrics, want %d and %d", tc.workload, tc.role, own, runner, tc.n, wantRunner)
		}
	}
}

// TestReadmeMetricsExample loads the README's example of a workload that
// reports its own figures, and runs its report script (curl stubbed, the
// metrics directory moved): it must write a valid hello-page.prom.
func TestReadmeMetricsExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, block := range strings.Split(string(readme), "```cue\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "hello_fetch_seconds") {
			example = block
		}
	}
	if example == "" {
		t.Fatal("README has no cue example declaring hello_fetch_seconds")
	}
	ws, err := Load(LoadOptions{Dir: writeFiles(t, map[string]string{"hello.cue": example}), Input: Input{Namespace: "ns"}})
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	w, err := Lookup(ws, "hello")
	if err != nil {
		t.Fatal(err)
	}
	r := w.Roles[0]
	var names []string
	for _, m := range r.Metrics {
		names = append(names, m.Name)
	}
	if !slices.Contains(names, "hello_fetch_seconds") || !slices.Contains(names, "virtwork_workload_runs_total") {
		t.Errorf("metrics %v lack the example's own or the runner's", names)
	}

	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir, bin := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "curl"), []byte("#!/bin/sh\nprintf 0.25\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(fileContent(t, r, "/usr/local/bin/hello-report"), "/var/lib/virtwork/metrics", dir)
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("report script: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "hello-page.prom"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	want := "# HELP hello_fetch_seconds Time to fetch the page.\n# TYPE hello_fetch_seconds gauge\n" +
		`hello_fetch_seconds{workload="hello",role="web",vm="` + host + `"} 0.25` + "\n"
	if string(got) != want {
		t.Errorf("hello-page.prom =\n%s\nwant\n%s", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("metrics dir holds %d files, want only hello-page.prom (no temporary file left)", len(entries))
	}
}
