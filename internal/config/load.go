package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/virtwork/virtwork/internal/guestos"
)

// Flags are the command-line settings; nil means "not given". The struct
// tags are for kong, which the CLI embeds this struct with. Every setting
// also has a VIRTWORK_* environment variable and a config-file key (see
// settings below); the help texts name them.
type Flags struct {
	Config             *string  `name:"config" placeholder:"FILE" help:"YAML config file (env VIRTWORK_CONFIG). Flags override env, env overrides the file."`
	Namespace          *string  `name:"namespace" short:"n" placeholder:"NAME" help:"Namespace of the VMs (env VIRTWORK_NAMESPACE, key namespace; default virtwork)."`
	Workloads          []string `name:"workloads" sep:"," placeholder:"LIST" help:"Comma-separated workloads to render (env VIRTWORK_WORKLOADS, key workloads; default all). See 'virtwork workloads'."`
	VMCount            *int     `name:"vm-count" placeholder:"N" help:"VMs per workload role (env VIRTWORK_VM_COUNT, key vmCount; default: each workload's own, 1 per role)."`
	CPUCores           *int     `name:"cpu-cores" placeholder:"N" help:"CPU cores per VM (env VIRTWORK_CPU_CORES, key cpuCores; default 2)."`
	Memory             *string  `name:"memory" placeholder:"QTY" help:"Memory per VM, a Kubernetes quantity (env VIRTWORK_MEMORY, key memory; default 2Gi)."`
	DiskSize           *string  `name:"disk-size" placeholder:"QTY" help:"Size of each data disk (env VIRTWORK_DISK_SIZE, key diskSize; default 10Gi)."`
	StorageClass       *string  `name:"storage-class" placeholder:"NAME" help:"StorageClass of the data disks (env VIRTWORK_STORAGE_CLASS, key storageClass; default: the cluster's default)."`
	GuestOS            *string  `name:"guest-os" placeholder:"OS" help:"Guest OS profile: fedora, centos-stream, ubuntu or debian; picks the default image, package names and service setup (env VIRTWORK_GUEST_OS, key guestOs; default fedora)."`
	ContainerDiskImage *string  `name:"container-disk-image" placeholder:"IMAGE" help:"Root disk image (env VIRTWORK_CONTAINER_DISK_IMAGE, key containerDiskImage; default: the guest OS profile's, quay.io/containerdisks/fedora:41 for fedora)."`
	SSHUser            *string  `name:"ssh-user" placeholder:"USER" help:"Create this user with sudo in every VM (env VIRTWORK_SSH_USER, key sshUser)."`
	SSHPassword        *string  `name:"ssh-password" placeholder:"PASSWORD" help:"Password of --ssh-user; rendered only as a SHA-512 crypt hash (env VIRTWORK_SSH_PASSWORD, key sshPassword)."`
	SSHKeys            []string `name:"ssh-key" sep:"none" placeholder:"KEY" help:"OpenSSH public key for --ssh-user; repeatable (env VIRTWORK_SSH_KEYS comma-separated, key sshKeys). Merged with the other sources."`
	SSHKeyFiles        []string `name:"ssh-key-file" sep:"none" placeholder:"FILE" help:"File of OpenSSH public keys (e.g. ~/.ssh/id_ed25519.pub); repeatable (env VIRTWORK_SSH_KEY_FILES, key sshKeyFiles). Merged."`
	WorkloadDir        *string  `name:"workload-dir" placeholder:"DIR" help:"Directory of extra workload .cue files (env VIRTWORK_WORKLOAD_DIR, key workloadDir)."`
	ServiceMonitor     *bool    `name:"service-monitor" negatable:"" help:"Also render a Prometheus Operator ServiceMonitor for the VMs' exporters (needs its CRD, e.g. OpenShift user workload monitoring) (env VIRTWORK_SERVICE_MONITOR, key serviceMonitor; default false)."`
	Params             []string `name:"param" sep:"none" placeholder:"W.KEY=VALUE" help:"Set a workload parameter, e.g. database.scale=5 (see 'virtwork workloads show W'); repeatable (env VIRTWORK_PARAMS comma-separated, key workloads.W.params.KEY)."`
	Instancetype       *string  `name:"instancetype" placeholder:"NAME" help:"KubeVirt cluster instancetype of every VM; the VMs then set no CPU or memory (env VIRTWORK_INSTANCETYPE, key instancetype)."`
	Preference         *string  `name:"preference" placeholder:"NAME" help:"KubeVirt cluster preference of every VM (env VIRTWORK_PREFERENCE, key preference)."`
	NodeSelector       []string `name:"node-selector" sep:"none" placeholder:"KEY=VALUE" help:"Run the VMs on nodes with this label; repeatable (env VIRTWORK_NODE_SELECTOR comma-separated, key nodeSelector)."`
	DedicatedCPU       *bool    `name:"dedicated-cpu" help:"Pin each vCPU to its own host CPU (dedicatedCpuPlacement; env VIRTWORK_DEDICATED_CPU, key dedicatedCpu)."`
}

// EnvPrefix starts the name of every environment variable virtwork reads.
const EnvPrefix = "VIRTWORK_"

// Load resolves the configuration from defaults < config file < env <
// flags. getenv is os.LookupEnv in production; tests pass their own.
func Load(flags Flags, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	r := raw{}
	r.Namespace = ptr(DefaultNamespace)

	// The config file: --config, else VIRTWORK_CONFIG.
	path := ""
	if flags.Config != nil {
		path = *flags.Config
		if path == "" {
			return nil, errors.New("--config: empty file name")
		}
	} else if v, ok := getenv(EnvPrefix + "CONFIG"); ok && v != "" {
		path = v
	}
	if path != "" {
		f, err := readFile(path)
		if err != nil {
			return nil, err
		}
		r.merge(f.raw)
		r.perWorkload = f.perWorkload
		r.overlays, r.workloadOverlays = f.overlays, f.workloadOverlays
		r.keyFileBase = filepath.Dir(path)
		r.historyDB, r.noHistory = f.historyDB, f.noHistory
		r.source["noHistory"] = f.source["noHistory"]
	}

	env, err := fromEnv(getenv)
	if err != nil {
		return nil, err
	}
	r.merge(env)
	fl, err := fromFlags(flags)
	if err != nil {
		return nil, err
	}
	r.merge(fl)
	return r.resolve()
}

// raw holds settings as given, before parsing and validation, with the
// name of the source of each so errors can point at it.
type raw struct {
	Namespace, VMCount, CPUCores, Memory, DiskSize         *string
	StorageClass, ContainerDiskImage, SSHUser, SSHPassword *string
	WorkloadDir, ServiceMonitor, GuestOS, Instancetype     *string
	Preference, DedicatedCPU                               *string
	Workloads, NodeSelector                                []string
	SSHKeys, SSHKeyFiles                                   []sourced
	// Params are "workload.key=value" settings; file entries come first,
	// then the environment's, then the flags' (the last one wins).
	Params []sourced
	source map[string]string // setting -> "--flag" / "VIRTWORK_X" / "file:line"

	perWorkload      map[string]fileWorkload
	overlays         Overlays            // the file's vm:, dataVolume:, service:
	workloadOverlays map[string]Overlays // the file's workloads.<name>.vm...
	keyFileBase      string              // relative paths in the config file are relative to it
	historyDB        *string
	noHistory        *string
}

// sourced is one list element and where it came from.
type sourced struct{ value, from string }

// setting names one setting in the three places it can come from.
type setting struct {
	field, flag, env, key string
}

var settings = []setting{
	{"Namespace", "--namespace", "NAMESPACE", "namespace"},
	{"Workloads", "--workloads", "WORKLOADS", "workloads"},
	{"VMCount", "--vm-count", "VM_COUNT", "vmCount"},
	{"CPUCores", "--cpu-cores", "CPU_CORES", "cpuCores"},
	{"Memory", "--memory", "MEMORY", "memory"},
	{"DiskSize", "--disk-size", "DISK_SIZE", "diskSize"},
	{"StorageClass", "--storage-class", "STORAGE_CLASS", "storageClass"},
	{"GuestOS", "--guest-os", "GUEST_OS", "guestOs"},
	{"ContainerDiskImage", "--container-disk-image", "CONTAINER_DISK_IMAGE", "containerDiskImage"},
	{"SSHUser", "--ssh-user", "SSH_USER", "sshUser"},
	{"SSHPassword", "--ssh-password", "SSH_PASSWORD", "sshPassword"},
	{"SSHKeys", "--ssh-key", "SSH_KEYS", "sshKeys"},
	{"SSHKeyFiles", "--ssh-key-file", "SSH_KEY_FILES", "sshKeyFiles"},
	{"WorkloadDir", "--workload-dir", "WORKLOAD_DIR", "workloadDir"},
	{"ServiceMonitor", "--service-monitor", "SERVICE_MONITOR", "serviceMonitor"},
	{"Params", "--param", "PARAMS", "workloads.W.params"},
	{"Instancetype", "--instancetype", "INSTANCETYPE", "instancetype"},
	{"Preference", "--preference", "PREFERENCE", "preference"},
	{"NodeSelector", "--node-selector", "NODE_SELECTOR", "nodeSelector"},
	{"DedicatedCPU", "--dedicated-cpu", "DEDICATED_CPU", "dedicatedCpu"},
}

func ptr[T any](v T) *T { return &v }

// scalars maps a setting's field name to its slot in raw.
func (r *raw) scalars() map[string]**string {
	return map[string]**string{
		"Namespace": &r.Namespace, "VMCount": &r.VMCount, "CPUCores": &r.CPUCores,
		"Memory": &r.Memory, "DiskSize": &r.DiskSize, "StorageClass": &r.StorageClass,
		"ContainerDiskImage": &r.ContainerDiskImage, "SSHUser": &r.SSHUser,
		"SSHPassword": &r.SSHPassword, "WorkloadDir": &r.WorkloadDir,
		"ServiceMonitor": &r.ServiceMonitor,
		"GuestOS":        &r.GuestOS,
		"Instancetype":   &r.Instancetype, "Preference": &r.Preference, "DedicatedCPU": &r.DedicatedCPU,
	}
}

// merge lays o over r: scalars and the workload list replace, SSH keys
// accumulate (each source adds to the others).
func (r *raw) merge(o raw) {
	if r.source == nil {
		r.source = map[string]string{}
	}
	dst, src := r.scalars(), o.scalars()
	for name, s := range src {
		if *s != nil {
			*dst[name] = *s
			r.source[name] = o.source[name]
		}
	}
	if o.Workloads != nil {
		r.Workloads = o.Workloads
		r.source["Workloads"] = o.source["Workloads"]
	}
	if o.NodeSelector != nil {
		r.NodeSelector = o.NodeSelector
		r.source["NodeSelector"] = o.source["NodeSelector"]
	}
	r.SSHKeys = append(r.SSHKeys, o.SSHKeys...)
	r.SSHKeyFiles = append(r.SSHKeyFiles, o.SSHKeyFiles...)
	r.Params = append(r.Params, o.Params...)
}

func fromEnv(getenv func(string) (string, bool)) (raw, error) {
	r := raw{source: map[string]string{}}
	slots := r.scalars()
	for _, s := range settings {
		name := EnvPrefix + s.env
		v, ok := getenv(name)
		if !ok || v == "" { // an empty variable counts as unset, as in most CLIs
			continue
		}
		switch s.field {
		case "Workloads":
			r.Workloads = splitList(v)
			if len(r.Workloads) == 0 {
				return raw{}, fmt.Errorf("%s=%q: names no workload; unset it for all, or list some (e.g. cpu,disk)", name, v)
			}
		case "NodeSelector":
			r.NodeSelector = splitList(v)
		case "SSHKeys":
			for _, k := range splitList(v) {
				r.SSHKeys = append(r.SSHKeys, sourced{k, name})
			}
			continue
		case "SSHKeyFiles":
			for _, k := range splitList(v) {
				r.SSHKeyFiles = append(r.SSHKeyFiles, sourced{k, name})
			}
			continue
		case "Params":
			for _, p := range splitList(v) {
				r.Params = append(r.Params, sourced{p, name})
			}
			continue
		default:
			*slots[s.field] = ptr(v)
		}
		r.source[s.field] = name
	}
	return r, nil
}

func fromFlags(f Flags) (raw, error) {
	r := raw{source: map[string]string{}}
	set := func(field string, v *string) {
		if v != nil {
			*r.scalars()[field] = v
			r.source[field] = flagOf(field)
		}
	}
	itoa := func(p *int) *string {
		if p == nil {
			return nil
		}
		return ptr(strconv.Itoa(*p))
	}
	set("Namespace", f.Namespace)
	set("VMCount", itoa(f.VMCount))
	set("CPUCores", itoa(f.CPUCores))
	set("Memory", f.Memory)
	set("DiskSize", f.DiskSize)
	set("StorageClass", f.StorageClass)
	set("ContainerDiskImage", f.ContainerDiskImage)
	set("SSHUser", f.SSHUser)
	set("SSHPassword", f.SSHPassword)
	set("WorkloadDir", f.WorkloadDir)
	if f.ServiceMonitor != nil {
		set("ServiceMonitor", ptr(strconv.FormatBool(*f.ServiceMonitor)))
	}
	set("GuestOS", f.GuestOS)
	for _, p := range f.Params {
		r.Params = append(r.Params, sourced{p, "--param"})
	}
	set("Instancetype", f.Instancetype)
	set("Preference", f.Preference)
	if f.DedicatedCPU != nil {
		set("DedicatedCPU", ptr(strconv.FormatBool(*f.DedicatedCPU)))
	}
	if f.NodeSelector != nil {
		r.NodeSelector = cleanList(f.NodeSelector)
		r.source["NodeSelector"] = "--node-selector"
	}
	if f.Workloads != nil {
		r.Workloads = cleanList(f.Workloads)
		r.source["Workloads"] = "--workloads"
		if len(r.Workloads) == 0 {
			return raw{}, errors.New("--workloads names no workload; leave it out for all, or list some (e.g. cpu,disk)")
		}
	}
	for _, k := range f.SSHKeys {
		r.SSHKeys = append(r.SSHKeys, sourced{k, "--ssh-key"})
	}
	for _, k := range f.SSHKeyFiles {
		r.SSHKeyFiles = append(r.SSHKeyFiles, sourced{k, "--ssh-key-file"})
	}
	return r, nil
}

func flagOf(field string) string {
	for _, s := range settings {
		if s.field == field {
			return s.flag
		}
	}
	return field
}

func splitList(v string) []string { return cleanList(strings.Split(v, ",")) }

func cleanList(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// resolve parses and validates the merged raw settings.
func (r *raw) resolve() (*Config, error) {
	c := &Config{PerWorkload: map[string]WorkloadSettings{}}
	bad := func(field, value, why string) error {
		return fmt.Errorf("%s %q: %s", r.source[field], value, why)
	}

	c.Namespace = *r.Namespace
	if err := ValidateName(c.Namespace); err != nil {
		return nil, bad("Namespace", c.Namespace, "not a valid namespace name: "+err.Error())
	}
	for _, w := range r.Workloads {
		if err := ValidateName(w); err != nil {
			return nil, bad("Workloads", w, "not a valid workload name: "+err.Error())
		}
	}
	c.Workloads = slices.Compact(append([]string(nil), r.Workloads...))
	params, err := parseParams(r.Params)
	if err != nil {
		return nil, err
	}
	c.Params = params

	if c.VMCount, err = parseCount(r.VMCount); err != nil {
		return nil, bad("VMCount", *r.VMCount, err.Error())
	}
	if c.CPUCores, err = parseCount(r.CPUCores); err != nil {
		return nil, bad("CPUCores", *r.CPUCores, err.Error())
	}
	if c.Memory, err = parseQuantity(r.Memory, minMemory); err != nil {
		return nil, bad("Memory", *r.Memory, err.Error())
	}
	if c.DiskSize, err = parseQuantity(r.DiskSize, minDisk); err != nil {
		return nil, bad("DiskSize", *r.DiskSize, err.Error())
	}
	c.StorageClass = deref(r.StorageClass)
	if c.StorageClass != "" {
		if err := ValidateSubdomain(c.StorageClass); err != nil {
			return nil, bad("StorageClass", c.StorageClass, "not a valid StorageClass name: "+err.Error())
		}
	}
	if r.GuestOS != nil {
		c.GuestOS = *r.GuestOS
	}
	guest, err := guestos.Lookup(c.GuestOS)
	if err != nil {
		return nil, bad("GuestOS", c.GuestOS, err.Error())
	}
	c.GuestOS = guest.Name
	c.ContainerDiskImage = deref(r.ContainerDiskImage)
	if r.ContainerDiskImage != nil && c.ContainerDiskImage == "" {
		return nil, bad("ContainerDiskImage", "", "empty; leave it out for the guest OS's default "+guest.Image)
	}
	if c.ContainerDiskImage == "" {
		c.ContainerDiskImage = guest.Image
	} else if strings.ContainsAny(c.ContainerDiskImage, " \t\n") {
		return nil, bad("ContainerDiskImage", c.ContainerDiskImage, "not an image reference (no spaces allowed)")
	}
	c.SSHUser = deref(r.SSHUser)
	if c.SSHUser != "" {
		if err := validateUser(c.SSHUser); err != nil {
			return nil, bad("SSHUser", c.SSHUser, err.Error())
		}
	}
	c.SSHPassword = deref(r.SSHPassword)
	c.WorkloadDir = deref(r.WorkloadDir)
	if c.WorkloadDir != "" && r.fromFile("WorkloadDir") && !filepath.IsAbs(c.WorkloadDir) {
		c.WorkloadDir = filepath.Join(r.keyFileBase, c.WorkloadDir)
	}
	if c.WorkloadDir != "" {
		if st, err := os.Stat(c.WorkloadDir); err != nil || !st.IsDir() {
			return nil, bad("WorkloadDir", c.WorkloadDir, "not a directory (give a folder of .cue workload files)")
		}
	}

	if r.ServiceMonitor != nil {
		if c.ServiceMonitor, err = strconv.ParseBool(strings.TrimSpace(*r.ServiceMonitor)); err != nil {
			return nil, bad("ServiceMonitor", *r.ServiceMonitor, "must be true or false")
		}
	}
	if err := r.resolveShape(c); err != nil {
		return nil, err
	}

	if c.SSHKeys, err = r.keys(); err != nil {
		return nil, err
	}
	if (c.SSHPassword != "" || len(c.SSHKeys) > 0) && c.SSHUser == "" {
		what := "an SSH key"
		if c.SSHPassword != "" {
			what = "an SSH password"
		}
		return nil, fmt.Errorf("%s is set but no SSH user: add --ssh-user NAME (env VIRTWORK_SSH_USER, key sshUser)", what)
	}

	for name, fw := range r.perWorkload {
		ws, err := fw.resolve(name)
		if err != nil {
			return nil, err
		}
		for _, key := range []string{"cpuCores", "memory"} {
			if c.Instancetype != "" && fw.values[key] != nil {
				return nil, fmt.Errorf("%s and %s: an instancetype sizes the VM (its CPU and memory); drop one of them", fw.source[key], r.source["Instancetype"])
			}
		}
		// flags > env > file: a global setting from a flag or variable
		// beats the file's per-workload one.
		if !r.fromFile("VMCount") && c.VMCount > 0 {
			ws.VMCount = nil
		}
		if !r.fromFile("CPUCores") && c.CPUCores > 0 {
			ws.CPUCores = nil
		}
		if !r.fromFile("Memory") && !c.Memory.IsZero() {
			ws.Memory = nil
		}
		if !r.fromFile("DiskSize") && !c.DiskSize.IsZero() {
			ws.DiskSize = nil
		}
		ws.Overlays = r.workloadOverlays[name]
		c.PerWorkload[name] = ws
	}

	c.HistoryDB = deref(r.historyDB)
	if c.HistoryDB != "" && !filepath.IsAbs(c.HistoryDB) {
		c.HistoryDB = filepath.Join(r.keyFileBase, expandHome(c.HistoryDB))
	}
	if r.noHistory != nil {
		switch strings.ToLower(*r.noHistory) {
		case "true":
			c.NoHistory = true
		case "false":
		default:
			return nil, fmt.Errorf("%s %q: must be true or false", r.source["noHistory"], *r.noHistory)
		}
	}
	c.Origins = r.origins(c)
	return c, nil
}

// fromFile reports whether a setting's value came from the config file
// (its source is "path:line: key" rather than a flag or variable).
func (r *raw) fromFile(field string) bool { return isFileSource(r.source[field]) }

// isFileSource reports whether a source names a config file place
// ("path:line: key") rather than a flag or an environment variable.
func isFileSource(src string) bool {
	return src != "" && !strings.HasPrefix(src, "--") && !strings.HasPrefix(src, EnvPrefix)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// parseCount reads a positive whole number; nil is "unset" (0).
func parseCount(p *string) (int, error) {
	if p == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(*p))
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < 1 {
		return 0, errors.New("must be 1 or more")
	}
	if n > MaxVMs {
		return 0, fmt.Errorf("more than %d, the most VMs one instance can hold: split the load across namespaces (-n), one instance each", MaxVMs)
	}
	return n, nil
}

// Smallest sizes accepted: below them a guest does not boot or a disk
// holds no file system, and such values are nearly always a typo
// (512m is 0.512 bytes, 2 is two bytes).
var (
	minMemory = resource.MustParse("64Mi")
	minDisk   = resource.MustParse("16Mi")
)

// parseQuantity reads a Kubernetes quantity of whole bytes, at least min;
// nil is "unset".
func parseQuantity(p *string, min resource.Quantity) (resource.Quantity, error) {
	if p == nil {
		return resource.Quantity{}, nil
	}
	text := strings.TrimSpace(*p)
	q, err := resource.ParseQuantity(text)
	if err != nil {
		return q, errors.New("not a Kubernetes quantity (use e.g. 512Mi, 2Gi, 10G)")
	}
	if strings.HasSuffix(text, "m") {
		return q, fmt.Errorf("the suffix m means thousandths of a byte; did you mean %sMi?", strings.TrimSuffix(text, "m"))
	}
	if q.MilliValue()%1000 != 0 {
		return q, errors.New("not a whole number of bytes (use e.g. 512Mi, 2Gi)")
	}
	if q.Cmp(min) < 0 {
		return q, fmt.Errorf("too small: at least %s (units: Ki, Mi, Gi, or k, M, G)", min.String())
	}
	return q, nil
}

// parseParams reads "workload.key=value" settings; a later one for the
// same workload and key replaces an earlier one.
func parseParams(in []sourced) ([]Param, error) {
	var out []Param
	index := map[string]int{}
	for _, p := range in {
		name, value, ok := strings.Cut(p.value, "=")
		w, key, ok2 := strings.Cut(name, ".")
		if !ok || !ok2 || w == "" || key == "" {
			return nil, fmt.Errorf("%s %q: a parameter is WORKLOAD.KEY=VALUE, e.g. database.scale=5", p.from, p.value)
		}
		if err := ValidateName(w); err != nil {
			return nil, fmt.Errorf("%s %q: %q is not a valid workload name: %v", p.from, p.value, w, err)
		}
		param := Param{Workload: w, Key: key, Value: value, Source: p.from}
		if i, seen := index[name]; seen {
			out[i] = param
			continue
		}
		index[name] = len(out)
		out = append(out, param)
	}
	return out, nil
}
