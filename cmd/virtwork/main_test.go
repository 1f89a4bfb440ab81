package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flag"
	"fmt"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/testcluster"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite golden files and scripts' cmp files from the current output")

// clusterM starts the local cluster (kube-apiserver, etcd, the KubeVirt
// simulator) around the tests, but not in the re-executed children that
// play the virtwork command.
type clusterM struct{ m *testing.M }

func (c clusterM) Run() int {
	code := testcluster.Run(c.m, testcluster.Options{})
	return code
}

func TestMain(m *testing.M) {
	virtwork := func() {
		os.Exit(run(pluginArgs(os.Args), env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv, prog: progName(os.Args[0])}))
	}
	testscript.Main(clusterM{m}, map[string]func(){
		"virtwork": virtwork,
		// The kubectl plugin and its completion helper, as installed by
		// linking the binary under these names.
		"kubectl-virtwork":          virtwork,
		"kubectl_complete-virtwork": virtwork,
	})
}

// TestScripts runs the CLI scenarios in testdata/script, one per file;
// each reads as documentation of a behaviour.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("GOLDEN", goldenDir())
			// Never the user's own cluster or history.
			e.Setenv("KUBECONFIG", filepath.Join(e.WorkDir, "no-kubeconfig"))
			e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, ".state"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "cluster" {
				c, _ := testcluster.Shared()
				return c != nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"golden":      cmdGolden,
			"userdata":    cmdUserdata,
			"seedhistory": cmdSeedHistory,
			"seedcompare": cmdSeedCompare,
			"cluster":     cmdCluster,
			"exitcode":    cmdExitCode,
			"invariant":   cmdInvariant,
		},
	})
}

// cmdUserdata prints the decoded cloud-init user data of the Secret
// named NAME in a rendered YAML stream FILE, so scripts can look inside.
//
//	userdata stdout cpu-cloudinit
func cmdUserdata(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: userdata FILE SECRET-NAME")
	}
	objs, err := manifest.Decode(strings.NewReader(ts.ReadFile(args[0])))
	ts.Check(err)
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GetName() == args[1] {
			// Readable in stringData (a render), or base64 in data (as
			// the API server stores it).
			if text, ok, _ := unstructured.NestedString(o.Object, "stringData", "userdata"); ok {
				ts.Stdout().Write([]byte(text))
				return
			}
			enc, _, _ := unstructured.NestedString(o.Object, "data", "userdata")
			dec, err := base64.StdEncoding.DecodeString(enc)
			ts.Check(err)
			ts.Stdout().Write(dec)
			return
		}
	}
	ts.Fatalf("no Secret %s in %s", args[1], args[0])
}

// cmdCluster points the script at the shared local cluster: it sets
// KUBECONFIG and NS, a fresh namespace name for this script. Scripts that
// use it start with [!cluster] skip.
//
//	cluster
func cmdCluster(ts *testscript.TestScript, neg bool, args []string) {
	c, err := testcluster.Shared()
	if c == nil {
		ts.Fatalf("no local cluster: %v", err)
	}
	ts.Setenv("KUBECONFIG", c.Kubeconfig())
	name := strings.TrimSuffix(filepath.Base(ts.Getenv("WORK")), "")
	ts.Setenv("NS", fmt.Sprintf("vw-%s-%d", strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name)), nsCounter.Add(1)))
}

var nsCounter atomic.Int64

// cmdExitCode runs a command and asserts its exact exit status, which
// '! exec' cannot: virtwork's statuses say what went wrong.
//
//	exitcode 3 virtwork apply ...
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

func goldenDir() string {
	d, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "golden"))
	return d
}

// cmdGolden compares a file of the script's work dir with
// testdata/golden/NAME; with -update it rewrites the golden file.
//
//	golden stdout render-default.yaml
func cmdGolden(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: golden FILE GOLDEN-NAME")
	}
	got := []byte(ts.ReadFile(args[0]))
	path := filepath.Join(goldenDir(), args[1])
	if *update {
		ts.Check(os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	ts.Check(err)
	if !bytes.Equal(got, want) {
		ts.Fatalf("%s differs from golden file %s (run 'go test ./cmd/virtwork -update' if the change is intended):\n%s",
			args[0], path, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w []byte
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if !bytes.Equal(g, w) {
			return fmt.Sprintf("line %d:\n  got:  %s\n  want: %s", i+1, g, w)
		}
	}
	return ""
}
