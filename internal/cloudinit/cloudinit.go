// Package cloudinit builds the #cloud-config user-data that sets up one
// role of a workload in its VM: packages, files, systemd units and, when
// asked for, an SSH user.
package cloudinit

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"gopkg.in/yaml.v3"

	"github.com/virtwork/virtwork/internal/workload"
)

// Access says who may log in to the VMs.
type Access struct {
	// User is created with passwordless sudo and bash. Empty means no user
	// of ours: Keys then go to the image's default user (fedora).
	User string
	// PasswordHash is a SHA-512 crypt hash from HashPassword; empty means
	// no password (the account is locked and SSH password login stays off).
	PasswordHash string
	// Keys are OpenSSH public keys in authorized_keys form.
	Keys []string
}

// UnitDir is where units are written in the guest.
const UnitDir = "/etc/systemd/system"

// config is the subset of cloud-config virtwork writes; the field order is
// the output order.
type config struct {
	Users             []user      `yaml:"users,omitempty"`
	SSHPwauth         bool        `yaml:"ssh_pwauth,omitempty"`
	SSHAuthorizedKeys []string    `yaml:"ssh_authorized_keys,omitempty"`
	Packages          []string    `yaml:"packages,omitempty"`
	WriteFiles        []writeFile `yaml:"write_files,omitempty"`
	// Runcmd items are argv lists (run without a shell) or strings (run by
	// sh).
	Runcmd []any `yaml:"runcmd,omitempty"`
}

type user struct {
	Name              string   `yaml:"name"`
	Sudo              string   `yaml:"sudo"`
	Shell             string   `yaml:"shell"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	Passwd            string   `yaml:"passwd,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

// argv is a command run without a shell, written on one line.
type argv []string

func (a argv) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range a {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
	}
	return n, nil
}

type writeFile struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

// Build returns the user-data for the VMs of role. The same arguments
// always give the same bytes.
func Build(role workload.Role, access Access) ([]byte, error) {
	c := config{Packages: role.Packages}

	switch {
	case access.User != "":
		if access.PasswordHash != "" && !strings.HasPrefix(access.PasswordHash, sha512_crypt.MagicPrefix) {
			// Guards against a plain password slipping into the output.
			return nil, fmt.Errorf("cloud-init: the password of user %s is not a SHA-512 crypt hash", access.User)
		}
		c.Users = []user{{
			Name:              access.User,
			Sudo:              "ALL=(ALL) NOPASSWD:ALL",
			Shell:             "/bin/bash",
			LockPasswd:        access.PasswordHash == "",
			Passwd:            access.PasswordHash,
			SSHAuthorizedKeys: access.Keys,
		}}
		c.SSHPwauth = access.PasswordHash != ""
	case access.PasswordHash != "":
		return nil, fmt.Errorf("cloud-init: a password needs a user to set it for (set --ssh-user)")
	default:
		c.SSHAuthorizedKeys = access.Keys
	}

	// The agent's files first (the role's units may run its programs), its
	// units after the role's.
	units := append(slices.Clip(role.Units), role.Agent.Units...)
	for _, f := range append(slices.Clip(role.Agent.Files), role.Files...) {
		c.WriteFiles = append(c.WriteFiles, writeFile{Path: f.Path, Permissions: f.Permissions, Content: f.Content})
	}
	for _, u := range units {
		if strings.Contains(u.Name, "/") {
			return nil, fmt.Errorf("cloud-init: unit name %q must not contain a slash", u.Name)
		}
		c.WriteFiles = append(c.WriteFiles, writeFile{Path: path.Join(UnitDir, u.Name), Permissions: "0644", Content: u.Content})
	}

	if len(units) > 0 || len(role.Commands) > 0 {
		// write_files runs before systemd knows the units.
		c.Runcmd = append(c.Runcmd, argv{"systemctl", "daemon-reload"})
	}
	for _, cmd := range role.Commands {
		c.Runcmd = append(c.Runcmd, cmd)
	}
	for _, u := range units {
		// --no-block: a unit's one-time setup (initdb, pgbench -i) can take
		// minutes and must not hold up the rest of cloud-init.
		c.Runcmd = append(c.Runcmd, argv{"systemctl", "enable", "--now", "--no-block", u.Name})
	}

	var buf bytes.Buffer
	buf.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("cloud-init: encoding user-data: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cloud-init: encoding user-data: %w", err)
	}
	return buf.Bytes(), nil
}

// HashPassword returns the SHA-512 crypt hash of password for user's
// account in namespace.
//
// The salt is derived from user and namespace rather than drawn at random,
// so that rendering the same input gives byte-identical manifests. The
// price: the same user, namespace and password always hash alike, so one
// can see that two renders share a password, and a dictionary precomputed
// for a popular user and namespace (say fedora in virtwork) works against
// every deployment that uses them. That holds for any deterministic salt.
// The password itself is deliberately kept out of the salt: a salt
// derived from it (an HMAC keyed by the password, say) would let anyone
// test guesses against the salt with one fast hash instead of the 5,000
// SHA-512 rounds of the hash proper.
func HashPassword(password, user, namespace string) (string, error) {
	if password == "" {
		return "", fmt.Errorf("cloud-init: empty password")
	}
	hash, err := sha512_crypt.New().Generate([]byte(password), []byte(sha512_crypt.MagicPrefix+salt(user, namespace)))
	if err != nil {
		return "", fmt.Errorf("cloud-init: hashing the password: %w", err)
	}
	return hash, nil
}

// cryptAlphabet is the character set of crypt(3) salts.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// salt maps a SHA-512 digest of its inputs onto the 16 salt characters
// sha512-crypt allows (96 bits).
func salt(user, namespace string) string {
	sum := sha512.Sum512([]byte("virtwork password salt\x00" + user + "\x00" + namespace))
	b := make([]byte, sha512_crypt.SaltLenMax)
	for i := range b {
		b[i] = cryptAlphabet[sum[i]&0x3f] // 256 is a multiple of 64: uniform
	}
	return string(b)
}
