// Package guestos describes the guest operating systems virtwork renders
// for: per profile, its default container disk image and the facts a
// workload needs to set itself up there (package family, SELinux).
package guestos

import (
	"fmt"
	"strings"
)

// Families a workload can tell apart: package names, package manager and
// the layout of services such as PostgreSQL follow the family.
const (
	FamilyRedHat = "redhat" // Fedora, CentOS Stream, RHEL, AlmaLinux: dnf, postgresql-setup
	FamilyDebian = "debian" // Debian, Ubuntu: apt, pg_createcluster
)

// Profile is one guest OS.
type Profile struct {
	// Name is what --guest-os takes.
	Name string
	// Family is FamilyRedHat or FamilyDebian.
	Family string
	// Image is the default containerDisk image of the VMs.
	Image string
	// SELinux is true where the image enforces SELinux, so files on a
	// freshly made file system need their labels restored.
	SELinux bool
	// DefaultUser is the image's cloud-init default user, who gets the
	// SSH keys when no --ssh-user is set.
	DefaultUser string
}

// Default is the profile used when none is configured.
const Default = "fedora"

// profiles are the supported guest OSes, in the order they are listed.
// The images are the KubeVirt container disks published under
// quay.io/containerdisks/.
var profiles = []Profile{
	{Name: "fedora", Family: FamilyRedHat, Image: "quay.io/containerdisks/fedora:41", SELinux: true, DefaultUser: "fedora"},
	{Name: "centos-stream", Family: FamilyRedHat, Image: "quay.io/containerdisks/centos-stream:9", SELinux: true, DefaultUser: "cloud-user"},
	{Name: "ubuntu", Family: FamilyDebian, Image: "quay.io/containerdisks/ubuntu:24.04", DefaultUser: "ubuntu"},
	{Name: "debian", Family: FamilyDebian, Image: "quay.io/containerdisks/debian:12", DefaultUser: "debian"},
}

// Names lists the profile names.
func Names() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.Name
	}
	return out
}

// Lookup returns the named profile; "" is the default.
func Lookup(name string) (Profile, error) {
	if name == "" {
		name = Default
	}
	for _, p := range profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown guest OS %q; known: %s", name, strings.Join(Names(), ", "))
}
