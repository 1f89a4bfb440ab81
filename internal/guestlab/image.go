package guestlab

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// imageScript builds the guest image (see the script's comments).
//
//go:embed image.sh
var imageScript []byte

// Image is the lab's Debian 12 guest: a root file system labelled
// virtwork-root and the kernel and initrd to boot it with.
type Image struct {
	Dir, Root, Kernel, Initrd string
}

// ImageKey identifies the image for a package list: a hash of the build
// script and the sorted packages, so a change to either builds anew.
func ImageKey(packages []string) string {
	pkgs := slices.Clone(packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	h := sha256.New()
	h.Write(imageScript)
	h.Write([]byte("\x00" + strings.Join(pkgs, "\n")))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// EnsureImage returns the cached image with packages preinstalled,
// building it under cacheDir first if needed (mmdebstrap from Debian's
// packages; minutes, needs root and the network to deb.debian.org).
func EnsureImage(cacheDir string, packages []string, log io.Writer) (Image, error) {
	dir := filepath.Join(cacheDir, "debian12-"+ImageKey(packages))
	img := Image{Dir: dir, Root: filepath.Join(dir, "root.qcow2"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if _, err := os.Stat(img.Root); err == nil {
		return img, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return img, err
	}
	script := filepath.Join(cacheDir, "image.sh")
	if err := os.WriteFile(script, imageScript, 0o755); err != nil {
		return img, err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".image-")
	if err != nil {
		return img, err
	}
	defer os.RemoveAll(tmp)
	pkgs := slices.Clone(packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	fmt.Fprintf(log, "building the guest image %s (packages: %s)\n", dir, strings.Join(pkgs, " "))
	cmd := exec.Command("nice", append([]string{"bash", script, tmp}, pkgs...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return img, fmt.Errorf("building the guest image: %w", err)
	}
	// The root file system is written last, so its presence marks a
	// complete image; the rename makes it appear at once.
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(img.Root); statErr == nil {
			return img, nil // another lab run built it meanwhile
		}
		return img, err
	}
	return img, nil
}
