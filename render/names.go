package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxName is the longest DNS-1123 label. VM names become guest host names
// and pod labels, so they must be labels, not merely subdomains; Secret and
// DataVolume names are kept to the same limit for simplicity.
const maxName = validation.DNS1123LabelMaxLength

// hashLen is how many hex digits of a SHA-256 stand in for the cut-off end
// of a long name: 8 digits (32 bits) make an accidental clash between two
// long names unlikely, and Render checks uniqueness anyway.
const hashLen = 8

// name joins parts with "-" and appends suffix (e.g. "-12", "-cloudinit").
// If the result is longer than a DNS-1123 label allows, the joined parts
// are cut short and followed by "-" and a hash of all of them, so that
// names stay distinct and stable while the suffix (the VM index) survives
// intact and keeps the natural order readable.
func name(suffix string, parts ...string) string {
	base := strings.Join(parts, "-")
	if len(base)+len(suffix) <= maxName {
		return base + suffix
	}
	sum := sha256.Sum256([]byte(base))
	h := hex.EncodeToString(sum[:])[:hashLen]
	keep := maxName - len(suffix) - 1 - hashLen
	if keep < 1 {
		// The suffix alone is too long to keep: hash it along.
		return name("", base+suffix)
	}
	// A label must not end in "-" before the hash's "-"; trimming keeps
	// it valid, and the hash keeps it distinct.
	cut := strings.TrimRight(base[:keep], "-")
	return cut + "-" + h + suffix
}

// vmName is the name of the n-th (from 1) VM of a workload role; role is
// empty for single-role workloads.
func vmName(workload, role string, n int) string {
	return name("-"+strconv.Itoa(n), nonEmpty(workload, role)...)
}

// secretName is the name of the cloud-init Secret shared by a role's VMs.
func secretName(workload, role string) string {
	return name("-cloudinit", nonEmpty(workload, role)...)
}

// dataVolumeName is the name of a VM's DataVolume (and so of its PVC) for
// the data disk disk; DataVolumes share the namespace, so the VM name is
// part of it.
func dataVolumeName(vm, disk string) string {
	return name("-"+disk, vm)
}

func nonEmpty(parts ...string) []string {
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
