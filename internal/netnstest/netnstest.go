// Package netnstest gives a test a network namespace of its own, joined to
// the host by a veth pair and holding as many non-loopback addresses as the
// test needs, so that kube-apiserver (which refuses to proxy to loopback)
// can reach processes listening inside it. It needs root and iproute2; a
// test without them is skipped with a message saying so.
package netnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/virtwork/virtwork/internal/testenv"
)

// Netns is a network namespace made for one test, removed when it ends.
type Netns struct {
	Name string
	// Host is the host side's address (the gateway), Addrs the addresses
	// inside the namespace, all in one /22 of 10.250.0.0/16.
	Host  netip.Addr
	Addrs []netip.Addr
}

// MaxAddrs is how many addresses New can put in a namespace.
const MaxAddrs = 1020

// New makes a network namespace with n addresses (at most MaxAddrs) and
// removes it (and its veth pair) when the test ends.
func New(t testing.TB, n int) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "netnstest: needs root to create a network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "netnstest: needs iproute2's ip command")
	}
	if n < 1 || n > MaxAddrs {
		t.Fatalf("netnstest: %d addresses asked for, want 1 to %d", n, MaxAddrs)
	}
	block, err := freeBlock()
	if err != nil {
		t.Fatal(err)
	}
	id := randomHex(4)
	ns := &Netns{Name: "vwtest-" + id}
	hostIf, nsIf := "vwh"+id, "vwg"+id
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("netnstest: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns.Name)
	t.Cleanup(func() {
		// Deleting the namespace deletes its veth end, and so the pair.
		_ = exec.Command("ip", "netns", "del", ns.Name).Run()
		_ = exec.Command("ip", "link", "del", hostIf).Run()
	})
	ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns.Name)
	ns.Host = block.Addr().Next()
	ip("addr", "add", netip.PrefixFrom(ns.Host, block.Bits()).String(), "dev", hostIf)
	ip("link", "set", hostIf, "up")

	var batch bytes.Buffer
	a := ns.Host
	for range n {
		a = a.Next()
		ns.Addrs = append(ns.Addrs, a)
		fmt.Fprintf(&batch, "addr add %s dev %s\n", netip.PrefixFrom(a, block.Bits()), nsIf)
	}
	fmt.Fprintf(&batch, "link set %s up\nlink set lo up\n", nsIf)
	cmd := exec.Command("ip", "-n", ns.Name, "-batch", "-")
	cmd.Stdin = &batch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("netnstest: adding addresses in %s: %v: %s", ns.Name, err, out)
	}
	return ns
}

// Command returns a command that runs inside the namespace.
func (ns *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Listen opens a TCP listener inside the namespace (the socket stays
// there; the process serves it from the host side), e.g. ":9100" for
// every address of the namespace.
func (ns *Netns) Listen(addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result)
	go func() {
		// The thread enters the namespace and is never unlocked, so Go
		// ends it with the goroutine instead of reusing it elsewhere.
		runtime.LockOSThread()
		target, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{err: fmt.Errorf("opening network namespace %s: %w", ns.Name, err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("entering network namespace %s: %w", ns.Name, err)}
			return
		}
		ln, err := net.Listen("tcp4", addr)
		done <- result{ln, err}
	}()
	r := <-done
	return r.ln, r.err
}

// freeBlock picks a /22 of 10.250.0.0/16 that no address or route of the
// host uses yet (other tests may run at the same time).
func freeBlock() (netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netnstest: ip addr show: %v: %s", err, out)
	}
	routes, err := exec.Command("ip", "-4", "route", "show").CombinedOutput()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netnstest: ip route show: %v: %s", err, routes)
	}
	used := string(out) + "\n" + string(routes)
	start := int(randomByte()) / 4
	for i := range 64 {
		third := ((start + i) % 64) * 4
		p := netip.MustParsePrefix(fmt.Sprintf("10.250.%d.0/22", third))
		busy := false
		for q := range 4 {
			busy = busy || strings.Contains(used, fmt.Sprintf("10.250.%d.", third+q))
		}
		if !busy {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("netnstest: no free /22 left in 10.250.0.0/16")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomByte() byte {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return b[0]
}

// Serve serves h on port at every address of the namespace until the test
// ends; the handler can tell the addresses apart by the request's
// http.LocalAddrContextKey.
func (ns *Netns) Serve(t testing.TB, port int, h http.Handler) {
	t.Helper()
	ln, err := ns.Listen(fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// LocalAddr is the namespace address a request to Serve's handler came to.
func LocalAddr(r *http.Request) string {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return ""
	}
	host, _, _ := net.SplitHostPort(a.String())
	return host
}
