package history

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/ssh"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/render"
)

// TestNoSecretsStored records an apply of a real rendered set with an SSH
// password and key, the way the CLI does, and looks for them (and for the
// cloud-init Secrets' content) in the raw file and in every decompressed
// value.
func TestNoSecretsStored(t *testing.T) {
	const password = "Hunter2-not-in-history"
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	keyBlob := strings.Fields(key)[1]

	user, pw := "fedora", password
	cfg, err := config.Load(config.Flags{SSHUser: &user, SSHPassword: &pw, SSHKeys: []string{key}},
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	wls, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: cfg.Namespace}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(cfg, wls)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := Digest(objs)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{password, keyBlob}
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			for _, v := range o.Object["stringData"].(map[string]any) {
				secrets = append(secrets, v.(string), base64.StdEncoding.EncodeToString([]byte(v.(string))))
			}
		}
	}

	db := tempDB(t)
	rec, err := Start(db, Meta{Command: "apply", Namespace: cfg.Namespace, Name: "virtwork",
		Config: ConfigOf(cfg), Workloads: WorkloadsOf(objs), Digest: digest})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var vms []event.VM
	for _, o := range objs {
		ref := event.Ref{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
		rec.Observe(event.Event{Time: t0, Type: event.TypeObject, Object: &event.Object{Ref: ref, Result: event.Created}})
		if o.GetKind() == "VirtualMachine" {
			vms = append(vms, event.VM{Name: o.GetName(), Status: event.VMReady, Applied: t0, Ready: t0.Add(time.Second)})
		}
	}
	rec.Observe(event.Event{Time: t0, Type: event.TypeSummary, Summary: &event.Summary{Command: event.CommandApply, Outcome: event.Succeeded, VMs: vms}})
	run, err := rec.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Config.SSHPasswordSet || run.Config.SSHKeys != 1 || run.Config.SSHUser != "fedora" || len(run.Workloads) == 0 {
		t.Errorf("config %+v, workloads %+v: want password set, 1 key, user fedora, workloads", run.Config, run.Workloads)
	}

	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	stored := [][]byte{raw}
	bdb, err := bolt.Open(db.Path(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDetails).ForEach(func(_, v []byte) error {
			zr, err := gzip.NewReader(bytes.NewReader(v))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(zr)
			stored = append(stored, plain)
			return nil
		})
	})
	bdb.Close()
	if len(stored) < 2 {
		t.Fatal("no details stored")
	}
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		for _, b := range stored {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the history database holds secret material %.20q...", s)
			}
		}
	}
}
