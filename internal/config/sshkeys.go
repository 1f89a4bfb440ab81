package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keys collects the SSH public keys from every source, in order, parsing
// each so that anything but an OpenSSH public key is rejected with the
// place that held it. Duplicates are dropped.
func (r *raw) keys() ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(line, from string) error {
		key, err := parseKey(line)
		if err != nil {
			return fmt.Errorf("%s: %v", from, err)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
		return nil
	}
	for _, k := range r.SSHKeys {
		if err := add(k.value, k.from); err != nil {
			return nil, err
		}
	}
	for _, f := range r.SSHKeyFiles {
		path := expandHome(f.value)
		// Relative paths in the config file are relative to the file.
		if !filepath.IsAbs(path) && isFileSource(f.from) {
			path = filepath.Join(r.keyFileBase, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: cannot read the key file: %v", f.from, f.value, unwrapPathErr(err))
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			if err := add(text, fmt.Sprintf("%s %s line %d", f.from, f.value, line)); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s %s: holds no public key", f.from, f.value)
		}
	}
	return out, nil
}

// parseKey accepts one OpenSSH public key line and returns it normalised
// (type, base64 blob, and comment if any).
func parseKey(line string) (string, error) {
	line = strings.TrimSpace(line)
	if strings.Contains(line, "PRIVATE KEY") {
		return "", fmt.Errorf("this is a private key; give the public key (the .pub file) instead")
	}
	key, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", fmt.Errorf("not an OpenSSH public key (expected e.g. \"ssh-ed25519 AAAA... user@host\")")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", fmt.Errorf("more than one key on a line; give one key per --ssh-key or per line")
	}
	s := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" {
		s += " " + comment
	}
	return s, nil
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
