package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// namespaceVanished says, when objects vanished during the wait, whether
// their namespace went with them: then there is nothing left to record
// the inventory in, and the run ends saying so (rather than with the
// inventory write's "namespace does not exist").
func (e *engine) namespaceVanished(ctx context.Context, w *waiter, namespace string) error {
	n := 0
	w.mu.Lock()
	for _, t := range w.targets {
		if t.vanished {
			n++
		}
	}
	w.mu.Unlock()
	if n == 0 {
		return nil
	}
	ns, err := e.kc.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || err == nil && ns.DeletionTimestamp != nil:
		return fmt.Errorf("namespace %s was deleted during the run (%d objects vanished with it): nothing was recorded; apply again once it is gone to start over", namespace, n)
	case apierrors.IsForbidden(err), err == nil:
		return nil
	default:
		return e.explain(fmt.Errorf("reading namespace %s: %w", namespace, err))
	}
}
