package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	keyAlice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqQsU4xWrBvTxhE6ROn23Gb3Z+HOhpCfj1IsyTxuJ5b alice@example"
	keyBob   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmt/YTxiI5XlDiYTk6xeM6+QxSZ5lEmEZfq/9S7isPa bob@example"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(Flags{}, env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "virtwork" || c.ContainerDiskImage != DefaultContainerDiskImage {
		t.Errorf("defaults: namespace %q image %q", c.Namespace, c.ContainerDiskImage)
	}
	// Unset sizing stays zero so that render can apply each workload's own default.
	if c.VMCount != 0 || c.CPUCores != 0 || !c.Memory.IsZero() || !c.DiskSize.IsZero() || len(c.Workloads) != 0 {
		t.Errorf("sizing should be unset by default: %+v", c)
	}
}

func TestPriorityFlagsOverEnvOverFile(t *testing.T) {
	file := writeFile(t, "c.yaml", "namespace: from-file\ncpuCores: 3\nmemory: 3Gi\nvmCount: 3\nstorageClass: file-sc\n")
	e := env("VIRTWORK_CPU_CORES", "4", "VIRTWORK_MEMORY", "4Gi", "VIRTWORK_NAMESPACE", "from-env")
	ns, cores := "from-flag", 5
	c, err := Load(Flags{Config: &file, Namespace: &ns, CPUCores: &cores}, e)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"namespace (flag over env and file)", c.Namespace, "from-flag"},
		{"memory (env over file)", c.Memory.String(), "4Gi"},
		{"vmCount (file over default)", itoaT(c.VMCount), "3"},
		{"storageClass (file)", c.StorageClass, "file-sc"},
		{"cpuCores (flag over env over file)", itoaT(c.CPUCores), "5"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.what, ch.got, ch.want)
		}
	}
}

func itoaT(n int) string { return strconv.Itoa(n) }

func TestConfigFileFromEnv(t *testing.T) {
	file := writeFile(t, "c.yaml", "namespace: via-env-file\n")
	c, err := Load(Flags{}, env("VIRTWORK_CONFIG", file))
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "via-env-file" {
		t.Errorf("namespace %q", c.Namespace)
	}
}

func TestWorkloadListFromEachSource(t *testing.T) {
	c, err := Load(Flags{}, env("VIRTWORK_WORKLOADS", " cpu, disk ,,"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Workloads, "|") != "cpu|disk" {
		t.Errorf("env list: %q", c.Workloads)
	}
	c, err = Load(Flags{Workloads: []string{"network"}}, env("VIRTWORK_WORKLOADS", "cpu"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Workloads, "|") != "network" {
		t.Errorf("flag should replace env list: %q", c.Workloads)
	}
}

func TestSSHKeysMergeAllSources(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "bob.pub")
	os.WriteFile(keyFile, []byte("# team key\n\n"+keyBob+"\n"), 0o600)
	file := writeFile(t, "c.yaml", "sshUser: fedora\nsshKeys:\n  - "+keyAlice+"\n")
	user := "fedora"
	c, err := Load(Flags{Config: &file, SSHUser: &user, SSHKeyFiles: []string{keyFile}, SSHKeys: []string{keyAlice}},
		env("VIRTWORK_SSH_KEYS", keyBob))
	if err != nil {
		t.Fatal(err)
	}
	// alice from the file and the flag, bob from env and the key file: two distinct keys.
	if len(c.SSHKeys) != 2 || c.SSHKeys[0] != keyAlice || c.SSHKeys[1] != keyBob {
		t.Errorf("merged keys: %q", c.SSHKeys)
	}
}

func TestPerWorkloadSettings(t *testing.T) {
	file := writeFile(t, "c.yaml", `workloads:
  cpu:
    vmCount: 4
    cpuCores: 8
    memory: 8Gi
  disk:
    diskSize: 50Gi
  network:
    enabled: false
`)
	c, err := Load(Flags{Config: &file}, env())
	if err != nil {
		t.Fatal(err)
	}
	cpu := c.PerWorkload["cpu"]
	if *cpu.VMCount != 4 || *cpu.CPUCores != 8 || cpu.Memory.String() != "8Gi" || cpu.Enabled != nil {
		t.Errorf("cpu settings: %+v", cpu)
	}
	if c.PerWorkload["disk"].DiskSize.String() != "50Gi" {
		t.Errorf("disk settings: %+v", c.PerWorkload["disk"])
	}
	if e := c.PerWorkload["network"].Enabled; e == nil || *e {
		t.Errorf("network should be disabled")
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "id")
	os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	neg, zero := -1, 0
	bad := "Bad_NS"
	user := "fedora"
	badQty := "2GG"
	huge := 10_000_000
	missing := filepath.Join(dir, "nope.yaml")
	cases := []struct {
		name  string
		flags Flags
		env   func(string) (string, bool)
		file  string
		want  string
	}{
		{"negative count", Flags{VMCount: &neg}, env(), "", `--vm-count "-1": must be 1 or more`},
		{"count beyond one instance", Flags{VMCount: &huge}, env(), "", `--vm-count "10000000": more than 25000, the most VMs one instance can hold: split the load across namespaces (-n), one instance each`},
		{"zero cores", Flags{CPUCores: &zero}, env(), "", `--cpu-cores "0": must be 1 or more`},
		{"bad env count", Flags{}, env("VIRTWORK_VM_COUNT", "many"), "", `VIRTWORK_VM_COUNT "many": not a whole number`},
		{"bad quantity", Flags{Memory: &badQty}, env(), "", `--memory "2GG": not a Kubernetes quantity`},
		{"bad namespace", Flags{Namespace: &bad}, env(), "", `--namespace "Bad_NS": not a valid namespace name`},
		{"missing file", Flags{Config: &missing}, env(), "", "nope.yaml: no such file"},
		{"unknown key", Flags{}, env(), "namespace: a\nvmcount: 2\n", `:2: unknown key "vmcount" (did you mean "vmCount"?)`},
		{"unknown key no hint", Flags{}, env(), "namespace: a\n\nfoo: 1\n", `:3: unknown key "foo" (known keys:`},
		{"unknown workload key", Flags{}, env(), "workloads:\n  cpu:\n    cores: 2\n", `:3: workloads.cpu: unknown key "cores"`},
		{"bad workload value", Flags{}, env(), "workloads:\n  cpu:\n    vmCount: -2\n", `:3: workloads.cpu.vmCount "-2": must be 1 or more`},
		{"not yaml", Flags{}, env(), "namespace: [a\n", "not valid YAML"},
		{"bad file value", Flags{}, env(), "diskSize: lots\n", `:1: diskSize "lots": not a Kubernetes quantity`},
		{"private key", Flags{SSHUser: &user, SSHKeyFiles: []string{priv}}, env(), "", "this is a private key"},
		{"garbage key", Flags{SSHUser: &user, SSHKeys: []string{"ssh-rsa notbase64"}}, env(), "", "--ssh-key: not an OpenSSH public key"},
		{"env garbage key", Flags{SSHUser: &user}, env("VIRTWORK_SSH_KEYS", "hello"), "", "VIRTWORK_SSH_KEYS: not an OpenSSH public key"},
		{"key without user", Flags{SSHKeys: []string{keyAlice}}, env(), "", "no SSH user: add --ssh-user"},
		{"millibytes", Flags{Memory: ptr("512m")}, env(), "", `--memory "512m": the suffix m means thousandths of a byte; did you mean 512Mi?`},
		{"fractional bytes", Flags{DiskSize: ptr("0.5")}, env(), "", `--disk-size "0.5": not a whole number of bytes`},
		{"too little memory", Flags{Memory: ptr("2")}, env(), "", `--memory "2": too small: at least 64Mi`},
		{"file millibytes", Flags{}, env(), "workloads:\n  cpu:\n    memory: 512m\n", `:3: workloads.cpu.memory "512m": the suffix m`},
		{"duplicate key", Flags{}, env(), "namespace: a\nnamespace: b\n", `:2: namespace given twice (first on line 1)`},
		{"duplicate workload key", Flags{}, env(), "workloads:\n  cpu:\n    vmCount: 1\n    vmCount: 2\n", `:4: workloads.cpu.vmCount given twice`},
		{"second document", Flags{}, env(), "namespace: a\n---\nnamespace: b\n", `:2: a second YAML document`},
		{"empty workload list", Flags{Workloads: []string{""}}, env(), "", "--workloads names no workload"},
		{"empty env workload list", Flags{}, env("VIRTWORK_WORKLOADS", " , "), "", `VIRTWORK_WORKLOADS=" , ": names no workload`},
		{"empty image", Flags{ContainerDiskImage: ptr("")}, env(), "", `--container-disk-image "": empty`},
		{"bad noHistory", Flags{}, env(), "noHistory: maybe\n", `:1: noHistory "maybe": must be true or false`},
		{"unknown guest OS", Flags{GuestOS: ptr("windows")}, env(), "", `--guest-os "windows": unknown guest OS "windows"; known: fedora, centos-stream, ubuntu, debian`},
		{"unknown guest OS in env", Flags{}, env("VIRTWORK_GUEST_OS", "rhel"), "", `VIRTWORK_GUEST_OS "rhel": unknown guest OS`},
		{"unknown guest OS in file", Flags{}, env(), "namespace: a\nguestOs: arch\n", `:2: guestOs "arch": unknown guest OS`},
		{"guest OS key misspelt", Flags{}, env(), "guestOS: debian\n", `unknown key "guestOS" (did you mean "guestOs"?)`},
		{"param without value", Flags{Params: []string{"database.scale"}}, env(), "", `--param "database.scale": a parameter is WORKLOAD.KEY=VALUE`},
		{"param without workload", Flags{Params: []string{"scale=5"}}, env(), "", `--param "scale=5": a parameter is WORKLOAD.KEY=VALUE`},
		{"bad param in env", Flags{}, env("VIRTWORK_PARAMS", "Data_Base.scale=1"), "", `VIRTWORK_PARAMS "Data_Base.scale=1": "Data_Base" is not a valid workload name`},
		{"params not a mapping", Flags{}, env(), "workloads:\n  database:\n    params: 5\n", `:3: workloads.database.params: must be a mapping`},
		{"param a list", Flags{}, env(), "workloads:\n  database:\n    params:\n      scale: [1]\n", `:4: workloads.database.params.scale: must be a single value`},
		{"missing key file", Flags{SSHUser: &user, SSHKeyFiles: []string{filepath.Join(dir, "x.pub")}}, env(), "", "x.pub: cannot read the key file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			if tc.file != "" {
				p := writeFile(t, "virtwork.yaml", tc.file)
				f.Config = &p
			}
			_, err := Load(f, tc.env)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\n does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestPasswordNotInErrors(t *testing.T) {
	pw := "s3cret-Pa55"
	_, err := Load(Flags{SSHPassword: &pw}, env())
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("want an error without the password, got %v", err)
	}
}

func TestRelativePathsInFileAreRelativeToIt(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "cfg", "wl"), 0o755)
	os.WriteFile(filepath.Join(dir, "cfg", "alice.pub"), []byte(keyAlice+"\n"), 0o600)
	file := filepath.Join(dir, "cfg", "c.yaml")
	os.WriteFile(file, []byte("workloadDir: wl\nsshUser: fedora\nsshKeyFiles: [alice.pub]\nhistoryDb: h.db\nnoHistory: true\n"), 0o600)
	t.Chdir(t.TempDir()) // somewhere else entirely
	c, err := Load(Flags{Config: &file}, env())
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkloadDir != filepath.Join(dir, "cfg", "wl") || len(c.SSHKeys) != 1 {
		t.Errorf("workloadDir %q, keys %q", c.WorkloadDir, c.SSHKeys)
	}
	if c.HistoryDB != filepath.Join(dir, "cfg", "h.db") || !c.NoHistory {
		t.Errorf("history settings: %q %v", c.HistoryDB, c.NoHistory)
	}
}

func TestFlagsOverridePerWorkloadFileSettings(t *testing.T) {
	file := writeFile(t, "c.yaml", "cpuCores: 3\nworkloads:\n  cpu:\n    cpuCores: 5\n    vmCount: 2\n")
	// The file's global cpuCores does not beat its own per-workload value...
	c, err := Load(Flags{Config: &file}, env())
	if err != nil {
		t.Fatal(err)
	}
	if w := c.PerWorkload["cpu"]; w.CPUCores == nil || *w.CPUCores != 5 || !strings.HasSuffix(w.Source, "c.yaml:3") {
		t.Fatalf("per-workload from file: %+v", w)
	}
	// ...but a flag (or variable) does: flags > env > file.
	cores := 7
	c, err = Load(Flags{Config: &file, CPUCores: &cores}, env("VIRTWORK_VM_COUNT", "4"))
	if err != nil {
		t.Fatal(err)
	}
	w := c.PerWorkload["cpu"]
	if w.CPUCores != nil || w.VMCount != nil || c.CPUCores != 7 || c.VMCount != 4 {
		t.Errorf("flag and env should win over per-workload file values: %+v, global %d/%d", w, c.CPUCores, c.VMCount)
	}
}

func TestKeyWithCommaInComment(t *testing.T) {
	user := "fedora"
	key := strings.Replace(keyAlice, "alice@example", "alice,work@example", 1)
	c, err := Load(Flags{SSHUser: &user, SSHKeys: []string{key}}, env())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SSHKeys) != 1 || !strings.HasSuffix(c.SSHKeys[0], "alice,work@example") {
		t.Errorf("keys %q", c.SSHKeys)
	}
}
