package apply_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtwork/virtwork/apply"
	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/internal/testcluster"
)

// A cluster without KubeVirt: apply fails at once with one line saying so,
// before it changes anything (not even the namespace).
func TestKubeVirtNotInstalled(t *testing.T) {
	testcluster.Get(t) // skips (or fails under CI) like the other cluster tests
	if testing.Short() {
		t.Skip("starts a second API server")
	}
	c, err := testcluster.Start(context.Background(), testcluster.Options{SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	const ns = "no-kubevirt"
	kc, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	objs := append(set(t, 1, "cpu"), parse(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"))
	s, err := apply.Apply(context.Background(), kc, objs, apply.Options{Namespace: ns}, nil)
	if err == nil || !strings.Contains(err.Error(), "KubeVirt is not installed") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v: want one line saying KubeVirt is not installed", err)
	}
	if code := apply.ExitCode(s, err); code != apply.ExitError {
		t.Errorf("exit status %d, want %d", code, apply.ExitError)
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s was created although nothing could be applied: %v", ns, err)
	}
}
