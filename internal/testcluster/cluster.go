// Package testcluster runs a real Kubernetes control plane (etcd and
// kube-apiserver) on loopback with the KubeVirt and CDI APIs installed, for
// tests and for trying virtwork by hand.
package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/virtwork/virtwork/internal/kubevirtsim"
)

// KubeAPIServerVersion is the kube-apiserver version tools/kube-apiserver
// builds and Start looks for in the cache.
const KubeAPIServerVersion = "v1.37.2"

// dirPrefix names the cluster's temporary directories, so that directories
// left by a killed test binary can be recognised and removed.
const dirPrefix = "virtwork-testcluster-"

// Options configure Start. The zero value finds the binaries in the usual
// places and installs the CRDs.
type Options struct {
	// KubeAPIServer is the kube-apiserver binary; default FindKubeAPIServer.
	KubeAPIServer string
	// Etcd is the etcd binary; default "etcd" on PATH.
	Etcd string
	// Dir is where the cluster's temporary directory is made; default
	// /dev/shm when writable (etcd's fsyncs are then free), else os.TempDir.
	Dir string
	// SchemasDir holds the real KubeVirt and CDI schemas; default FindSchemas.
	// Set it to a directory that does not exist to force minimal schemas.
	SchemasDir string
	// SkipCRDs leaves the KubeVirt and CDI CRDs out (and the simulator).
	SkipCRDs bool
	// NoSimulator leaves kubevirtsim out: VMs then get no status, and
	// deleted namespaces stay Terminating.
	NoSimulator bool
	// Simulator configures kubevirtsim; the zero value boots VMs at once.
	Simulator kubevirtsim.Config
	// ExtraAPIServerArgs are appended to kube-apiserver's flags.
	ExtraAPIServerArgs []string
	// ReadyTimeout bounds the wait for /readyz and the CRDs; default 90s.
	ReadyTimeout time.Duration
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// Cluster is a running control plane. Its methods are safe for concurrent use.
type Cluster struct {
	dir        string
	host       string
	caPEM      []byte
	adminToken string
	kubeconfig string
	etcd       *process
	apiserver  *process
	// apiserverCmd is how kube-apiserver was started, for RestartAPIServer.
	apiserverCmd []string
	restartMu    sync.Mutex // guards apiserver across RestartAPIServer
	ports        []int
	schemas      string
	realSchema   bool
	startup      time.Duration
	sim          *kubevirtsim.Simulator
	simStop      context.CancelFunc
	simDone      chan error

	stopOnce sync.Once
	stopErr  error
}

// Start starts etcd and kube-apiserver on free loopback ports, waits until
// the API server is ready, installs the CRDs and starts the KubeVirt
// simulator. Call Stop to end it; Stop removes every process and file Start
// made.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	apiserverBin, etcdBin, err := findBinaries(opts)
	if err != nil {
		return nil, err
	}
	parent := opts.Dir
	if parent == "" {
		parent = defaultParentDir()
	}
	removeStaleDirs(parent)

	// A free port can be taken by someone else between choosing and
	// binding it; try again with new ports when that happens.
	var c *Cluster
	for attempt := 1; ; attempt++ {
		c, err = startOnce(ctx, opts, parent, apiserverBin, etcdBin)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		opts.Logf("testcluster: port taken, retrying: %v", err)
	}
	if err != nil {
		return nil, err
	}
	if !opts.SkipCRDs {
		schemasDir := opts.SchemasDir
		if schemasDir == "" {
			schemasDir = FindSchemas()
		}
		rctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
		defer cancel()
		if err := c.installCRDs(rctx, schemasDir); err != nil {
			c.Stop()
			return nil, err
		}
		opts.Logf("testcluster: CRD schemas: %s", c.schemas)
		if !opts.NoSimulator {
			if err := c.startSimulator(rctx, opts); err != nil {
				c.Stop()
				return nil, err
			}
		}
	}
	c.startup = time.Since(began)
	opts.Logf("testcluster: ready at %s in %s", c.host, c.startup.Round(time.Millisecond))
	return c, nil
}

func startOnce(ctx context.Context, opts Options, parent, apiserverBin, etcdBin string) (*Cluster, error) {
	dir, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("making cluster directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing owner pid: %w", err)
	}
	c := &Cluster{dir: dir}
	if err := c.start(ctx, opts, apiserverBin, etcdBin); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options, apiserverBin, etcdBin string) error {
	pki, err := writePKI(c.dir)
	if err != nil {
		return err
	}
	c.caPEM = pki.caPEM
	c.adminToken = randomToken()
	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.adminToken+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	c.ports = ports
	clientPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)

	c.etcd, err = startProcess("etcd", etcdBin, []string{
		"--name=default",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL,
		"--logger=zap",
	}, c.dir)
	if err != nil {
		return err
	}
	opts.Logf("testcluster: etcd on %s", etcdURL)
	if err := waitFor(ctx, opts.ReadyTimeout, c.etcd, func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return err
	}

	c.host = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.apiserverCmd = append([]string{apiserverBin,
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saPublicKey,
		"--service-account-signing-key-file=" + pki.saSigningKey,
		// Only a setting here: nothing routes service IPs on this machine.
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		// Fairness queuing only slows a single-user test server down.
		"--enable-priority-and-fairness=false",
		// With Debian's etcd 3.4.23 the watch cache answers a plain watch
		// (no resourceVersion, as `kubectl get -w` sends) with "Too large
		// resource version"; serving watches from etcd avoids that.
		"--watch-cache=false",
		"--profiling=false",
		"--v=0",
	}, opts.ExtraAPIServerArgs...)
	c.apiserver, err = startProcess("kube-apiserver", c.apiserverCmd[0], c.apiserverCmd[1:], c.dir)
	if err != nil {
		return err
	}
	opts.Logf("testcluster: kube-apiserver on %s", c.host)

	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.host, c.caPEM, "admin", c.adminToken, ""); err != nil {
		return err
	}
	return c.waitAPIServer(ctx, opts.ReadyTimeout)
}

func (c *Cluster) waitAPIServer(ctx context.Context, timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("making HTTP client: %w", err)
	}
	hc.Timeout = 5 * time.Second
	return waitFor(ctx, timeout, c.apiserver, func() bool {
		resp, err := hc.Get(c.host + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// RestartAPIServer stops kube-apiserver (SIGTERM, as a rolling restart
// would), starts it again on the same port with the same flags and data,
// and waits until it is ready. Fault tests use it mid-run; clients see
// refused connections meanwhile.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	c.apiserver.stop(15 * time.Second)
	var err error
	// The port may stay taken for a moment after the old process exits.
	for range 50 {
		c.apiserver, err = startProcess("kube-apiserver", c.apiserverCmd[0], c.apiserverCmd[1:], c.dir)
		if err != nil {
			return err
		}
		if err = c.waitAPIServer(ctx, 90*time.Second); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// waitFor polls ready until it returns true, the process exits, or the
// timeout passes; the errors carry the end of the process log.
func waitFor(ctx context.Context, timeout time.Duration, p *process, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited during start-up (%v); end of %s:\n%s", p.name, p.err, p.log, p.tail(15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; end of %s:\n%s", p.name, timeout, p.log, p.tail(15))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", p.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends kube-apiserver and etcd and removes the cluster's directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.simStop != nil {
			c.simStop()
			if err := <-c.simDone; err != nil {
				c.stopErr = err
			}
		}
		c.restartMu.Lock()
		c.apiserver.stop(15 * time.Second)
		c.restartMu.Unlock()
		c.etcd.stop(10 * time.Second)
		if err := os.RemoveAll(c.dir); err != nil {
			c.stopErr = fmt.Errorf("removing %s: %w", c.dir, err)
		}
	})
	return c.stopErr
}

func (c *Cluster) startSimulator(ctx context.Context, opts Options) error {
	cfg := opts.Simulator
	if cfg.Logf == nil {
		cfg.Logf = opts.Logf
	}
	sim, err := kubevirtsim.New(c.RESTConfig(), cfg)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.sim, c.simStop, c.simDone = sim, cancel, make(chan error, 1)
	go func() { c.simDone <- sim.Run(runCtx) }()
	select {
	case <-sim.Synced():
		return nil
	case err := <-c.simDone:
		c.simStop = nil
		return fmt.Errorf("starting kubevirtsim: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("starting kubevirtsim: %w", ctx.Err())
	}
}

// Simulator is the KubeVirt simulator running against the cluster (nil with
// Options.NoSimulator or SkipCRDs); tests use it to set boot times and faults.
func (c *Cluster) Simulator() *kubevirtsim.Simulator { return c.sim }

// Kubeconfig is the path of a kubeconfig file for the cluster admin.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Host is the API server's URL.
func (c *Cluster) Host() string { return c.host }

// Dir is the cluster's temporary directory (logs, keys, etcd data).
func (c *Cluster) Dir() string { return c.dir }

// Ports are the loopback ports the cluster listens on (etcd client, etcd
// peer, kube-apiserver).
func (c *Cluster) Ports() []int { return append([]int(nil), c.ports...) }

// Pids are the process ids of etcd and kube-apiserver.
func (c *Cluster) Pids() []int {
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	return []int{c.etcd.cmd.Process.Pid, c.apiserver.cmd.Process.Pid}
}

// StartupTime is how long Start took, CRDs included.
func (c *Cluster) StartupTime() time.Duration { return c.startup }

// Schemas says which CRD schemas are installed: the real KubeVirt and CDI
// ones (and from where) or the minimal ones.
func (c *Cluster) Schemas() string { return c.schemas }

// RealSchemas reports whether the real KubeVirt and CDI schemas are installed.
func (c *Cluster) RealSchemas() bool { return c.realSchema }

// RESTConfig returns a new admin client configuration (a member of
// system:masters), with rate limits raised for tests.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
		QPS:             500,
		Burst:           1000,
	}
}

// Clientset returns a typed admin client.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

// Dynamic returns a dynamic admin client.
func (c *Cluster) Dynamic() (*dynamic.DynamicClient, error) {
	return dynamic.NewForConfig(c.RESTConfig())
}

func writeKubeconfig(path, host string, ca []byte, user, token, namespace string) error {
	const name = "virtwork-testcluster"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// FindKubeAPIServer returns the kube-apiserver binary named by
// $VIRTWORK_KUBE_APISERVER, else the one tools/kube-apiserver/build.sh caches.
func FindKubeAPIServer() string {
	if p := os.Getenv("VIRTWORK_KUBE_APISERVER"); p != "" {
		return p
	}
	cache := os.Getenv("VIRTWORK_TOOLS_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = filepath.Join(os.TempDir(), "cache")
		}
		cache = filepath.Join(base, "virtwork")
	}
	return filepath.Join(cache, "kube-apiserver-"+KubeAPIServerVersion, "kube-apiserver")
}

func findBinaries(opts Options) (apiserver, etcd string, err error) {
	apiserver = opts.KubeAPIServer
	if apiserver == "" {
		apiserver = FindKubeAPIServer()
	}
	if st, err := os.Stat(apiserver); err != nil || st.IsDir() {
		return "", "", fmt.Errorf("kube-apiserver %w at %s: run `make kube-apiserver` (or set VIRTWORK_KUBE_APISERVER)", ErrBinaryMissing, apiserver)
	}
	etcd = opts.Etcd
	if etcd == "" {
		etcd = "etcd"
	}
	if etcd, err = exec.LookPath(etcd); err != nil {
		return "", "", fmt.Errorf("etcd %w (%v): run `apt-get install etcd-server` or .ci/install-cluster-deps.sh", ErrBinaryMissing, err)
	}
	return apiserver, etcd, nil
}

func defaultParentDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && syscall.Access("/dev/shm", 2) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// removeStaleDirs deletes cluster directories whose owning process is gone
// (a test binary killed by a timeout cannot run Stop; its servers die with it
// through the parent death signal, but its directory stays).
func removeStaleDirs(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
