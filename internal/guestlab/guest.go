package guestlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/virtwork/virtwork/internal/child"
)

// Guest is one VM of the rendered set as the lab boots it.
type Guest struct {
	// Name is the VirtualMachine's name; Workload and Role its labels.
	Name, Workload, Role string
	CPUs                 int
	MemoryMiB            int64
	// UserData is the rendered #cloud-config from the VM's Secret.
	UserData []byte
	// Disks are the data disks: virtio disks whose serial is the disk
	// name, as KubeVirt presents them.
	Disks []Disk
	// NIC joins the guest to the lab's private network; nil means none.
	NIC *NIC
	// Hosts are /etc/hosts lines for the Services the guest talks to
	// (what cluster DNS resolves in KubeVirt).
	Hosts []string
}

// Disk is a blank data disk.
type Disk struct {
	Name      string
	SizeBytes int64
}

// NIC is a guest's interface on a qemu socket network: a virtual cable
// between two qemu processes made of UDP datagrams on 127.0.0.1, so the
// guests' traffic never leaves this machine (and, unlike a TCP link,
// neither end has to be up first).
type NIC struct {
	MAC     string
	Address string // CIDR, e.g. 10.0.2.1/24
	// Port is this end's UDP port on 127.0.0.1, PeerPort the other end's.
	Port, PeerPort int
}

// machine is a running guest.
type machine struct {
	guest   *Guest
	dir     string
	cmd     *exec.Cmd
	agent   *agent
	started time.Time
	exited  chan error
}

// seedFiles are the NoCloud seed: the rendered user data untouched, and
// what the lab adds the way KubeVirt's environment would: the instance
// identity, the network and (as vendor data, which user data overrides
// key by key) the hosts entries that cluster DNS would answer.
func (g *Guest) seedFiles() map[string]string {
	files := map[string]string{
		"user-data": string(g.UserData),
		"meta-data": fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", g.Name, g.Name),
	}
	if g.NIC != nil {
		files["network-config"] = fmt.Sprintf(`version: 2
ethernets:
  lab0:
    match:
      macaddress: "%s"
    set-name: lab0
    addresses: [%s]
`, g.NIC.MAC, g.NIC.Address)
	}
	if len(g.Hosts) > 0 {
		var b strings.Builder
		b.WriteString("#cloud-config\nbootcmd:\n")
		for _, h := range g.Hosts {
			fmt.Fprintf(&b, "  - [sh, -c, 'grep -qxF \"%s\" /etc/hosts || echo \"%s\" >> /etc/hosts']\n", h, h)
		}
		files["vendor-data"] = b.String()
	}
	return files
}

// start writes the seed and disks into dir and starts qemu.
func (g *Guest) start(ctx context.Context, img Image, dir string, accel []string) (*machine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	seedDir := filepath.Join(dir, "seed")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for name, content := range g.seedFiles() {
		if err := os.WriteFile(filepath.Join(seedDir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	seed := filepath.Join(dir, "seed.iso")
	// The NoCloud seed is an ISO 9660 volume labelled cidata, as KubeVirt
	// builds it.
	args := append([]string{"-quiet", "-o", seed, "-V", "cidata", "-J", "-r"}, names...)
	gen := exec.CommandContext(ctx, "genisoimage", args...)
	gen.Dir = seedDir
	if out, err := gen.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: building the NoCloud seed: %v\n%s", g.Name, err, out)
	}
	root := filepath.Join(dir, "root.qcow2")
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", img.Root, "-F", "qcow2", root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: root disk overlay: %v\n%s", g.Name, err, out)
	}

	qargs := append([]string{}, accel...)
	qargs = append(qargs,
		"-name", g.Name,
		"-smp", strconv.Itoa(g.CPUs), "-m", strconv.FormatInt(g.MemoryMiB, 10),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		// Root by label: an added virtio disk may take /dev/vda.
		"-append", "root=LABEL=virtwork-root rw console=ttyS0",
		"-drive", "file="+root+",if=none,id=rootdisk,format=qcow2,discard=unmap",
		"-device", "virtio-blk-pci,drive=rootdisk",
		"-drive", "file="+seed+",if=none,id=cloudinitdisk,format=raw,readonly=on",
		"-device", "virtio-blk-pci,drive=cloudinitdisk,serial=cloudinitdisk",
		"-serial", "file:"+filepath.Join(dir, "console.log"),
		"-chardev", "socket,path="+filepath.Join(dir, "qga.sock")+",server=on,wait=off,id=qga0",
		"-device", "virtio-serial",
		"-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
	)
	for _, d := range g.Disks {
		file := filepath.Join(dir, d.Name+".qcow2")
		if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", file, strconv.FormatInt(d.SizeBytes, 10)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: data disk %s: %v\n%s", g.Name, d.Name, err, out)
		}
		qargs = append(qargs,
			"-drive", "file="+file+",if=none,id=disk-"+d.Name+",format=qcow2,discard=unmap",
			"-device", "virtio-blk-pci,drive=disk-"+d.Name+",serial="+d.Name)
	}
	if g.NIC != nil {
		qargs = append(qargs,
			"-netdev", fmt.Sprintf("socket,id=lab0,localaddr=127.0.0.1:%d,udp=127.0.0.1:%d", g.NIC.Port, g.NIC.PeerPort),
			"-device", "virtio-net-pci,netdev=lab0,mac="+g.NIC.MAC)
	} else {
		qargs = append(qargs, "-nic", "none")
	}
	cmd := exec.Command("qemu-system-x86_64", qargs...)
	logFile, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group (child.Start), so that stopping the lab stops every qemu.
	m := &machine{guest: g, dir: dir, cmd: cmd, agent: &agent{socket: filepath.Join(dir, "qga.sock")}, exited: make(chan error, 1)}
	m.started = time.Now()
	exited, err := child.Start(cmd)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: starting qemu: %w", g.Name, err)
	}
	go func() { m.exited <- <-exited; logFile.Close() }()
	return m, nil
}

// stop ends qemu; the guests hold nothing worth a clean shutdown.
func (m *machine) stop() {
	m.agent.close()
	if m.cmd.Process != nil {
		m.cmd.Process.Kill()
		<-m.exited
	}
}

// exec runs a shell script in the guest through the agent, failing fast
// when qemu has exited.
func (m *machine) exec(ctx context.Context, script string) (ExecResult, error) {
	select {
	case err := <-m.exited:
		m.exited <- err
		return ExecResult{}, fmt.Errorf("qemu exited: %v (see %s)", err, filepath.Join(m.dir, "qemu.log"))
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return m.agent.Exec(ctx, script)
}

// console is the tail of the guest's serial console.
func (m *machine) console(lines int) string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "console.log"))
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
