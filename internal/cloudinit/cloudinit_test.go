package cloudinit

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"gopkg.in/yaml.v3"

	"github.com/virtwork/virtwork/internal/workload"
)

var testRole = workload.Role{
	Name:     "main",
	Packages: []string{"stress-ng", "fio"},
	Files:    []workload.File{{Path: "/etc/x.conf", Content: "a=1\n", Permissions: "0600"}},
	Units: []workload.Unit{
		{Name: "b.service", Content: "[Service]\nExecStart=/usr/bin/true\n"},
		{Name: "a.service", Content: "[Service]\nExecStart=/usr/bin/false\n"},
	},
	Commands: []string{"echo one", "echo two"},
}

// decoded is the user-data read back with the fields the tests look at.
type decoded struct {
	Users []struct {
		Name              string   `yaml:"name"`
		Sudo              string   `yaml:"sudo"`
		Shell             string   `yaml:"shell"`
		LockPasswd        *bool    `yaml:"lock_passwd"`
		Passwd            string   `yaml:"passwd"`
		SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
	} `yaml:"users"`
	SSHPwauth         *bool    `yaml:"ssh_pwauth"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
	Packages          []string `yaml:"packages"`
	WriteFiles        []struct {
		Path, Permissions, Content string
	} `yaml:"write_files"`
	Runcmd []any `yaml:"runcmd"`
}

func build(t *testing.T, r workload.Role, a Access) ([]byte, decoded) {
	t.Helper()
	b, err := Build(r, a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("#cloud-config\n")) {
		t.Fatalf("user-data does not start with #cloud-config:\n%s", b)
	}
	var d decoded
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return b, d
}

func TestBuildContent(t *testing.T) {
	_, d := build(t, testRole, Access{})
	if !slices.Equal(d.Packages, testRole.Packages) {
		t.Errorf("packages = %v", d.Packages)
	}
	var paths []string
	for _, f := range d.WriteFiles {
		paths = append(paths, f.Path+" "+f.Permissions)
	}
	if want := []string{"/etc/x.conf 0600", "/etc/systemd/system/b.service 0644", "/etc/systemd/system/a.service 0644"}; !slices.Equal(paths, want) {
		t.Errorf("write_files = %q, want %q", paths, want)
	}
	if d.WriteFiles[1].Content != testRole.Units[0].Content {
		t.Errorf("unit content = %q", d.WriteFiles[1].Content)
	}
	var cmds []string
	for _, c := range d.Runcmd {
		switch c := c.(type) {
		case string:
			cmds = append(cmds, "sh: "+c)
		case []any:
			var argv []string
			for _, a := range c {
				argv = append(argv, a.(string))
			}
			cmds = append(cmds, strings.Join(argv, " "))
		}
	}
	want := []string{
		"systemctl daemon-reload",
		"sh: echo one",
		"sh: echo two",
		"systemctl enable --now --no-block b.service",
		"systemctl enable --now --no-block a.service",
	}
	if !slices.Equal(cmds, want) {
		t.Errorf("runcmd = %q, want %q", cmds, want)
	}
	if d.Users != nil || d.SSHPwauth != nil || d.SSHAuthorizedKeys != nil {
		t.Errorf("no access asked for, got users %v, ssh_pwauth %v, keys %v", d.Users, d.SSHPwauth, d.SSHAuthorizedKeys)
	}
}

func TestBuildAccess(t *testing.T) {
	hash, err := HashPassword("pa55word", "joe", "ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		access     Access
		wantLock   bool
		wantPwauth bool
	}{
		{"keys only", Access{User: "joe", Keys: []string{testKey}}, true, false},
		{"password", Access{User: "joe", PasswordHash: hash}, false, true},
		{"password and keys", Access{User: "joe", PasswordHash: hash, Keys: []string{testKey}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, d := build(t, testRole, tc.access)
			if len(d.Users) != 1 {
				t.Fatalf("users = %+v", d.Users)
			}
			u := d.Users[0]
			if u.Name != "joe" || u.Sudo != "ALL=(ALL) NOPASSWD:ALL" || u.Shell != "/bin/bash" {
				t.Errorf("user = %+v", u)
			}
			if u.LockPasswd == nil || *u.LockPasswd != tc.wantLock {
				t.Errorf("lock_passwd = %v, want %v", u.LockPasswd, tc.wantLock)
			}
			if got := d.SSHPwauth != nil && *d.SSHPwauth; got != tc.wantPwauth {
				t.Errorf("ssh_pwauth = %v, want %v", got, tc.wantPwauth)
			}
			if u.Passwd != tc.access.PasswordHash {
				t.Errorf("passwd = %q, want %q", u.Passwd, tc.access.PasswordHash)
			}
			if !slices.Equal(u.SSHAuthorizedKeys, tc.access.Keys) {
				t.Errorf("ssh_authorized_keys = %q", u.SSHAuthorizedKeys)
			}
		})
	}

	// Keys without a user go to the image's default user.
	_, d := build(t, testRole, Access{Keys: []string{testKey}})
	if d.Users != nil || !slices.Equal(d.SSHAuthorizedKeys, []string{testKey}) || d.SSHPwauth != nil {
		t.Errorf("keys without user: users %v, keys %q, ssh_pwauth %v", d.Users, d.SSHAuthorizedKeys, d.SSHPwauth)
	}
}

func TestBuildRejects(t *testing.T) {
	hash, _ := HashPassword("pa55word", "joe", "ns")
	for name, a := range map[string]Access{
		"password without user": {PasswordHash: hash},
		"plain password":        {User: "joe", PasswordHash: "pa55word"},
	} {
		b, err := Build(testRole, a)
		if err == nil {
			t.Errorf("%s: no error; user-data:\n%s", name, b)
		} else if strings.Contains(err.Error(), "pa55word") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	h1, err := HashPassword("pa55word", "joe", "ns")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("pa55word", "joe", "ns")
	if h1 != h2 {
		t.Fatalf("HashPassword differs between calls: %s, %s", h1, h2)
	}
	a := Access{User: "joe", PasswordHash: h1, Keys: []string{testKey}}
	b1, _ := build(t, testRole, a)
	b2, _ := build(t, testRole, a)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("Build differs between calls:\n%s\n---\n%s", b1, b2)
	}
}

func TestHashPassword(t *testing.T) {
	hash, err := HashPassword("pa55word", "joe", "ns")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$6$") {
		t.Fatalf("hash %q is not SHA-512 crypt", hash)
	}
	crypter := sha512_crypt.New()
	if err := crypter.Verify(hash, []byte("pa55word")); err != nil {
		t.Errorf("Verify(right password): %v", err)
	}
	if err := crypter.Verify(hash, []byte("pa55wore")); err == nil {
		t.Error("Verify(wrong password) succeeded")
	}
	// The salt (between the second and third $) varies with user and
	// namespace, not with the password.
	salt := func(h string) string { return strings.Split(h, "$")[2] }
	if len(salt(hash)) != 16 {
		t.Errorf("salt %q is not 16 characters", salt(hash))
	}
	other, _ := HashPassword("pa55word", "joe", "ns2")
	otherUser, _ := HashPassword("pa55word", "ann", "ns")
	otherPassword, _ := HashPassword("another", "joe", "ns")
	if salt(other) == salt(hash) || salt(otherUser) == salt(hash) {
		t.Error("salt does not depend on user and namespace")
	}
	if salt(otherPassword) != salt(hash) || otherPassword == hash {
		t.Error("salt should depend only on user and namespace, the hash on the password")
	}
	if _, err := HashPassword("", "joe", "ns"); err == nil {
		t.Error("empty password accepted")
	}
}

func TestNoPlainPassword(t *testing.T) {
	const password = "Plain-Text-Secret"
	hash, err := HashPassword(password, "joe", "ns")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := build(t, testRole, Access{User: "joe", PasswordHash: hash})
	if bytes.Contains(b, []byte(password)) {
		t.Fatalf("user-data holds the plain password:\n%s", b)
	}
	if !bytes.Contains(b, []byte(hash)) {
		t.Fatalf("user-data lacks the hash:\n%s", b)
	}
}

// BenchmarkBuild measures the user-data of the largest built-in role
// (database), which render builds once per role.
func BenchmarkBuild(b *testing.B) {
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: "virtwork"}})
	if err != nil {
		b.Fatal(err)
	}
	role := ws[3].Roles[0]
	hash, _ := HashPassword("pa55word", "joe", "ns")
	a := Access{User: "joe", PasswordHash: hash, Keys: []string{testKey}}
	for b.Loop() {
		if _, err := Build(role, a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("pa55word", "joe", "ns"); err != nil {
			b.Fatal(err)
		}
	}
}
