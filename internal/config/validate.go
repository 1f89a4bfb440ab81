package config

import (
	"errors"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

type resourceQuantity = resource.Quantity

// ValidateName checks a DNS-1123 label (namespaces, workload names).
func ValidateName(s string) error {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ValidateSubdomain checks a DNS-1123 subdomain (StorageClass names).
func ValidateSubdomain(s string) error {
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// userName is what useradd accepts by default on Fedora (NAME_REGEX).
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func validateUser(s string) error {
	if !userName.MatchString(s) {
		return errors.New("not a valid Linux user name (lowercase letters, digits, '_' and '-', at most 32 characters, not starting with a digit)")
	}
	if s == "root" {
		return errors.New("cannot be root (cloud-init's root account is locked on these images; pick another name)")
	}
	return nil
}
