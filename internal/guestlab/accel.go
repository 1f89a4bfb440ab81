package guestlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// tcg is qemu's emulation: slow, but it works everywhere.
var tcg = []string{"-accel", "tcg,thread=multi,tb-size=128", "-cpu", "max"}

// DetectAccel returns KVM's arguments if a guest kernel actually runs
// under KVM here, else TCG's, and why. /dev/kvm existing proves little:
// some hosts' kvm (kvm_pvm, say) create VMs in which a stock kernel hangs
// early. So it boots the image's kernel with an init that does not exist
// and waits for the panic that follows (a second under KVM).
func DetectAccel(ctx context.Context, img Image, dir string) ([]string, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return tcg, fmt.Sprintf("TCG: /dev/kvm: %v", err)
	}
	f.Close()
	console := filepath.Join(dir, "kvm-probe.log")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-display", "none", "-no-reboot", "-serial", "file:"+console,
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		"-append", "console=ttyS0 panic=-1 rdinit=/virtwork-no-such-init init=/virtwork-no-such-init root=/dev/null")
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(console)
	if err == nil && strings.Contains(string(log), "Kernel panic") {
		return []string{"-accel", "kvm", "-cpu", "host"}, "KVM: a guest kernel boots under it"
	}
	why, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if ctx.Err() != nil {
		why = "the probe kernel did not get to its panic within 30 s"
	}
	if why == "" {
		why = "the probe kernel did not reach its panic"
	}
	return tcg, "TCG: KVM does not work here: " + why
}
