package config

import (
	"strings"
	"testing"
)

// Each setting's origin names the source that won, the file's places as
// file:line, and never a password or a key.
func TestOrigins(t *testing.T) {
	keyFile := writeFile(t, "id.pub", keyBob+"\n")
	file := writeFile(t, "c.yaml", "cpuCores: 3\nmemory: 3Gi\nsshPassword: pw-from-file\nsshKeys: ['"+keyAlice+"']\n"+
		"sshKeyFiles: ["+keyFile+"]\nworkloads:\n  cpu:\n    vmCount: 4\n    memory: 8Gi\nnoHistory: true\n")
	user, cores := "fedora", 5
	c, err := Load(Flags{Config: &file, SSHUser: &user, CPUCores: &cores},
		env("VIRTWORK_MEMORY", "4Gi", "VIRTWORK_SSH_PASSWORD", "pw-from-env"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var all []string
	for _, o := range c.Origins {
		got[o.Setting] = o.Value + " (" + o.From + ")"
		all = append(all, o.String())
	}
	at := func(line string) string { return file + ":" + line }
	for setting, want := range map[string]string{
		"namespace":             "virtwork (default)",
		"cpuCores":              "5 (--cpu-cores)",
		"memory":                "4Gi (VIRTWORK_MEMORY)",
		"diskSize":              "10Gi (default)",
		"sshUser":               "fedora (--ssh-user)",
		"sshPassword":           "(set, masked) (VIRTWORK_SSH_PASSWORD)",
		"sshKeys":               "2 (merged from every source) (" + at("4") + ", " + at("5") + ")",
		"workloads.cpu.vmCount": "4 (" + at("8") + ")",
		"workloads.cpu.memory":  "8Gi (overridden by VIRTWORK_MEMORY) (" + at("9") + ")",
		"noHistory":             "true (" + at("10") + ")",
		"containerDiskImage":    DefaultContainerDiskImage + " (default)",
		"storageClass":          "the cluster's default (default)",
		"workloads":             "all (default)",
		"vmCount":               "each workload's own (default)",
		"workloadDir":           "none (default)",
	} {
		if got[setting] != want {
			t.Errorf("%s: got %q, want %q", setting, got[setting], want)
		}
	}
	joined := strings.Join(all, "\n")
	for _, secret := range []string{"pw-from", "AAAAC3Nza"} {
		if strings.Contains(joined, secret) {
			t.Errorf("origins show a secret (%s):\n%s", secret, joined)
		}
	}
}
