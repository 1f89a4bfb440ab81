package cloudinit

// Validates the user-data of every built-in role with the real tools:
// cloud-init's schema check, systemd-analyze verify, fio --parse-only,
// sh -n, and the load tools' own option parsing. Each test skips, saying
// which Debian package to install, where a tool is missing.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/virtwork/virtwork/internal/guestos"
	"github.com/virtwork/virtwork/internal/testenv"
	"github.com/virtwork/virtwork/internal/workload"
)

// builtRole is a built-in role and its user-data.
type builtRole struct {
	name     string // guest OS, workload/role
	workload string
	wr       string // workload/role
	role     workload.Role
	userdata []byte
	parsed   parsedConfig
}

// parsedConfig is the user-data read back, so that the checks below see
// what the guest would get.
type parsedConfig struct {
	Packages   []string `yaml:"packages"`
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
}

func builtinRoles(t *testing.T) []builtRole {
	t.Helper()
	hash, err := HashPassword("s3cret", "tester", "virtwork")
	if err != nil {
		t.Fatal(err)
	}
	access := Access{User: "tester", PasswordHash: hash, Keys: []string{testKey}}
	var out []builtRole
	// Every guest OS profile: the default first, so that roles[0] is
	// fedora's cpu/main.
	for _, guest := range guestos.Names() {
		ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: "virtwork", GuestOS: guest}})
		if err != nil {
			t.Fatalf("guest OS %s: %v", guest, err)
		}
		for _, w := range ws {
			for _, r := range w.Roles {
				b, err := Build(r, access)
				if err != nil {
					t.Fatalf("%s %s/%s: %v", guest, w.Name, r.Name, err)
				}
				br := builtRole{name: guest + " " + w.Name + "/" + r.Name, workload: w.Name, wr: w.Name + "/" + r.Name, role: r, userdata: b}
				if err := yaml.Unmarshal(b, &br.parsed); err != nil {
					t.Fatalf("%s: reading back user-data: %v", br.name, err)
				}
				out = append(out, br)
			}
		}
	}
	return out
}

func needTool(t *testing.T, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		testenv.Missing(t, "%s not found; install the Debian package %s to run this check", tool, debianPackage)
	}
	return p
}

func TestCloudInitSchema(t *testing.T) {
	cloudInit := needTool(t, "cloud-init", "cloud-init")
	roles := builtinRoles(t)
	// Also the variants without a password and without any user.
	extra := []Access{{User: "tester", Keys: []string{testKey}}, {Keys: []string{testKey}}, {}}
	for i, a := range extra {
		b, err := Build(roles[0].role, a)
		if err != nil {
			t.Fatal(err)
		}
		roles = append(roles, builtRole{name: fmt.Sprintf("cpu/main access variant %d", i), userdata: b})
	}
	// And a role with shell commands in runcmd.
	b, err := Build(testRole, Access{})
	if err != nil {
		t.Fatal(err)
	}
	roles = append(roles, builtRole{name: "testRole", userdata: b})
	for _, r := range roles {
		file := filepath.Join(t.TempDir(), "user-data")
		if err := os.WriteFile(file, r.userdata, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(cloudInit, "schema", "-c", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
			t.Errorf("%s: cloud-init schema: %v\n%s\nuser-data:\n%s", r.name, err, out, r.userdata)
		}
	}
}

// TestSystemdUnitsVerify runs systemd-analyze verify on every unit inside a
// throw-away root holding the host's system units and the role's
// write_files. Binaries the units run that cloud-init does not write must
// exist on this host (installed from the same upstream tool's Debian
// package, at the same path as on Fedora); they are represented in the
// root by stubs, since verify only checks that they are executable.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	hostUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(hostUnits, "multi-user.target")); err != nil {
		testenv.Missing(t, "no system units in %s to verify against", hostUnits)
	}
	for _, r := range builtinRoles(t) {
		t.Run(r.name, func(t *testing.T) {
			root := t.TempDir()
			copyDir(t, hostUnits, filepath.Join(root, "usr/lib/systemd/system"))
			var units []string
			for _, f := range r.parsed.WriteFiles {
				perm, err := strconv.ParseUint(f.Permissions, 8, 32)
				if err != nil {
					t.Fatalf("%s: permissions %q: %v", f.Path, f.Permissions, err)
				}
				writeTestFile(t, filepath.Join(root, f.Path), f.Content, fs.FileMode(perm))
				if path.Dir(f.Path) == UnitDir {
					units = append(units, f.Path)
				}
			}
			if len(units) != len(r.role.Units)+len(r.role.Agent.Units) {
				t.Fatalf("user-data writes %d units, the role and the agent have %d", len(units), len(r.role.Units)+len(r.role.Agent.Units))
			}
			for _, u := range units {
				content, _ := os.ReadFile(filepath.Join(root, u))
				// verify does not resolve specifiers; a lone % fails only
				// when the unit starts.
				for _, l := range execLine.FindAllString(string(content), -1) {
					if strings.Contains(strings.ReplaceAll(l, "%%", ""), "%") {
						t.Errorf("%s: %q has a %% that systemd reads as a specifier; write %%%%", u, l)
					}
				}
				for _, bin := range execBinaries(string(content)) {
					inRoot := filepath.Join(root, bin)
					if _, err := os.Stat(inRoot); err == nil {
						continue // written by cloud-init
					}
					if _, err := exec.LookPath(bin); err != nil {
						testenv.Missing(t, "%s runs %s, which is not installed here; install the Debian package that provides it", u, bin)
					}
					writeTestFile(t, inRoot, "#!/bin/sh\n", 0o755)
				}
				out, err := exec.Command(analyze, "verify", "--man=no", "--root="+root, u).CombinedOutput()
				if err != nil || len(bytes.TrimSpace(out)) > 0 {
					t.Errorf("systemd-analyze verify %s: %v\n%s\nunit:\n%s", u, err, out, content)
				}
			}
		})
	}
}

// execLine matches a unit's Exec*= settings; the command may be prefixed
// by systemd's special characters (@, -, :, +, !).
var execLine = regexp.MustCompile(`(?m)^Exec(?:Start|StartPre|StartPost|Stop|StopPost|Reload)=[-@:+!]*(\S+).*$`)

func execBinaries(unit string) []string {
	var out []string
	for _, m := range execLine.FindAllStringSubmatch(unit, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestFioJobFiles(t *testing.T) {
	fio := needTool(t, "fio", "fio")
	n := 0
	for _, r := range builtinRoles(t) {
		for _, f := range r.parsed.WriteFiles {
			if !strings.HasSuffix(f.Path, ".fio") {
				continue
			}
			n++
			file := filepath.Join(t.TempDir(), path.Base(f.Path))
			writeTestFile(t, file, f.Content, 0o644)
			if out, err := exec.Command(fio, "--parse-only", file).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("%s: fio --parse-only %s: %v\n%s", r.name, f.Path, err, out)
			}
		}
	}
	if want := 2 * len(guestos.Names()); n != want {
		t.Errorf("checked %d fio job files, want %d (disk's mixed-rw and seq-write, per guest OS)", n, want)
	}
}

func TestShellScripts(t *testing.T) {
	sh := needTool(t, "sh", "dash")
	for _, r := range builtinRoles(t) {
		for _, f := range r.parsed.WriteFiles {
			if !strings.HasPrefix(f.Content, "#!/bin/sh\n") {
				continue
			}
			if out, err := exec.Command(sh, "-n", "-c", f.Content).CombinedOutput(); err != nil {
				t.Errorf("%s: sh -n %s: %v\n%s", r.name, f.Path, err, out)
			}
		}
		for _, u := range r.role.Units {
			for _, script := range bashScripts(u.Content) {
				if out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
					t.Errorf("%s: bash -n on %s's %q: %v\n%s", r.name, u.Name, script, err, out)
				}
			}
		}
	}
}

// bashLine matches ExecStart=/bin/bash -c '<script>'.
var bashLine = regexp.MustCompile(`(?m)^Exec\w+=[-@:+!]*/bin/bash -c '([^']*)'$`)

func bashScripts(unit string) []string {
	var out []string
	for _, m := range bashLine.FindAllStringSubmatch(unit, -1) {
		out = append(out, m[1])
	}
	return out
}

// roleCommands returns the command lines in a role's units (Exec lines
// and the commands of /bin/bash -c loops, with systemd's %% unescaped)
// and in its shell scripts (lines joined at a trailing backslash).
func roleCommands(r workload.Role) [][]string {
	var out [][]string
	add := func(cmd string) {
		cmd = strings.TrimSpace(cmd)
		cmd = strings.TrimPrefix(cmd, "do ")
		cmd = strings.TrimPrefix(cmd, "exec ")
		cmd, _, _ = strings.Cut(cmd, " || ")
		if f := strings.Fields(cmd); len(f) > 0 {
			out = append(out, f)
		}
	}
	for _, u := range r.Units {
		for _, l := range strings.Split(u.Content, "\n") {
			if cmd, ok := strings.CutPrefix(l, "ExecStart="); ok {
				add(strings.ReplaceAll(cmd, "%%", "%"))
			}
		}
		for _, script := range bashScripts(u.Content) {
			for _, part := range strings.Split(strings.ReplaceAll(script, "%%", "%"), ";") {
				add(part)
			}
		}
	}
	for _, f := range r.Files {
		if strings.HasPrefix(f.Content, "#!/bin/sh\n") {
			for _, l := range strings.Split(strings.ReplaceAll(f.Content, "\\\n", " "), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "#") {
					add(l)
				}
			}
		}
	}
	return out
}

// runnerPath is where the agent puts virtwork-run.
const runnerPath = "/usr/local/lib/virtwork/virtwork-run"

// toolCommands returns the load tools' command lines in a role: the
// commands virtwork-run runs (after its "--", and after runuser's) and
// those run directly.
func toolCommands(r workload.Role) [][]string {
	var out [][]string
	for _, f := range roleCommands(r) {
		if f[0] == runnerPath {
			f = f[slices.Index(f, "--")+1:]
		}
		if f[0] == "runuser" {
			f = f[slices.Index(f, "--")+1:]
		}
		if strings.HasPrefix(f[0], "/usr/bin/") {
			out = append(out, f)
		}
	}
	return out
}

// TestRunnerInvocations runs each virtwork-run command line of the
// built-in roles with the tool replaced by true: the runner must accept
// its options (argparse exits 2 on a bad one), and every role that runs a
// tool runs it through the runner.
func TestRunnerInvocations(t *testing.T) {
	python := needTool(t, "python3", "python3")
	for _, r := range builtinRoles(t) {
		runner := ""
		for _, f := range r.role.Agent.Files {
			if f.Path == runnerPath {
				runner = filepath.Join(t.TempDir(), "virtwork-run")
				writeTestFile(t, runner, f.Content, 0o755)
			}
		}
		if runner == "" {
			t.Fatalf("%s: the agent has no %s", r.name, runnerPath)
		}
		n := 0
		for _, f := range roleCommands(r.role) {
			if f[0] != runnerPath {
				continue
			}
			n++
			opts := f[1:slices.Index(f, "--")]
			dir := t.TempDir()
			args := append([]string{runner}, opts...)
			args = append(args, "--metrics-dir", dir, "--state-dir", dir, "--", "true")
			cmd := exec.Command(python, args...)
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
				t.Errorf("%s: virtwork-run %q: %v\n%s", r.name, opts, err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, r.workload+".prom")); err != nil {
				t.Errorf("%s: virtwork-run %q wrote no figures named after the workload: %v", r.name, opts, err)
			}
		}
		if want := len(toolCommands(r.role)) > 0 && r.wr != "network/server"; (n > 0) != want {
			t.Errorf("%s: %d virtwork-run command lines; want some exactly when the role runs a load tool (other than the iperf3 server)", r.name, n)
		}
	}
}

// TestToolCommandLines has each load tool parse its command line without
// doing the work: stress-ng with --dry-run, the iperf3 client pointed at
// a closed local port, pgbench at a missing server. An unknown option
// fails differently from the expected connection error.
func TestToolCommandLines(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range builtinRoles(t) {
		for _, argv := range toolCommands(r.role) {
			argv := underTimeout(t, argv)
			tool := path.Base(argv[0])
			t.Run(r.name+"/"+tool, func(t *testing.T) {
				var cmd *exec.Cmd
				var wantOut string // expected in the output of a failing run
				switch tool {
				case "stress-ng":
					needTool(t, argv[0], "stress-ng")
					cmd = exec.Command(argv[0], append(argv[1:], "--dry-run")...)
				case "iperf3":
					needTool(t, argv[0], "iperf3")
					if argv[1] == "-s" {
						if len(argv) != 2 {
							t.Fatalf("server options not checked: %q", argv)
						}
						return
					}
					args := append([]string{}, argv[1:]...)
					args[1] = "127.0.0.1" // the -c host
					cmd = exec.Command(argv[0], append(args, "-p", "1", "--connect-timeout", "1000")...)
					wantOut = "unable to connect to server"
				case "pgbench":
					needTool(t, argv[0], "postgresql")
					cmd = exec.Command(argv[0], argv[1:]...)
					cmd.Env = append(os.Environ(), "PGHOST="+t.TempDir())
					wantOut = "connection to server"
				case "fio":
					return // job files are checked by TestFioJobFiles
				default:
					t.Fatalf("no check for %q", argv)
				}
				seen[tool] = true
				out, err := cmd.CombinedOutput()
				switch {
				case wantOut == "" && err != nil:
					t.Errorf("%q: %v\n%s", argv, err, out)
				case wantOut != "" && !strings.Contains(string(out), wantOut):
					t.Errorf("%q: want a failure mentioning %q, got %v\n%s", argv, wantOut, err, out)
				}
			})
		}
	}
	for _, tool := range []string{"stress-ng", "iperf3", "pgbench"} {
		if !seen[tool] {
			t.Logf("%s command lines were not checked", tool)
		}
	}
}

func writeTestFile(t *testing.T, name, content string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files and symlinks of a unit directory tree.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// underTimeout returns the tool's command line of one run under
// timeout(1), after checking that timeout parses its own options (by
// running them around true); other command lines are returned as they are.
func underTimeout(t *testing.T, argv []string) []string {
	t.Helper()
	if path.Base(argv[0]) != "timeout" {
		return argv
	}
	for i := 1; i < len(argv); i++ {
		if strings.HasPrefix(argv[i], "/") {
			out, err := exec.Command(argv[0], append(append([]string{}, argv[1:i]...), "true")...).CombinedOutput()
			if err != nil {
				t.Errorf("%q: timeout's options: %v\n%s", argv[:i], err, out)
			}
			return argv[i:]
		}
	}
	t.Fatalf("%q: no command after timeout's options", argv)
	return nil
}
