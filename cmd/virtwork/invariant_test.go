package main

import (
	"context"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/virtwork/virtwork/internal/invariant"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/testcluster"
)

// planted holds, per script namespace, the foreign objects invariant plant
// made or found there.
var planted sync.Map // $NS -> invariant.Foreign

// cmdInvariant checks the README's Guarantees invariant (package
// invariant) in the script's namespace $NS on the shared cluster. "plant"
// puts foreign objects there (and keeps what else is there); "check"
// asserts that every object carrying virtwork's owner annotation is in
// exactly the inventory it names, every entry exists or is reported gone,
// and what plant kept is untouched.
//
//	invariant plant
//	invariant check
func cmdInvariant(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "plant" && args[0] != "check" {
		ts.Fatalf("usage: invariant plant|check")
	}
	c, err := testcluster.Shared()
	if c == nil {
		ts.Fatalf("no local cluster: %v", err)
	}
	ns := ts.Getenv("NS")
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	ts.Check(err)
	if args[0] == "plant" {
		f, err := invariant.Plant(context.Background(), kc, ns)
		ts.Check(err)
		planted.Store(ns, f)
		return
	}
	f, _ := planted.Load(ns)
	foreign, _ := f.(invariant.Foreign)
	ts.Check(invariant.Check(context.Background(), kc, ns, foreign))
}
