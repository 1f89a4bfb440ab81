package kubevirtsim

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// namespaceFinalizer does the part of kube-controller-manager's namespace
// controller that a bare API server lacks: when a namespace is Terminating,
// it deletes everything in it and then removes the "kubernetes" finalizer,
// so that the namespace goes away as on a real cluster.
type namespaceFinalizer struct {
	cs      kubernetes.Interface
	meta    metadata.Interface
	logf    func(string, ...any)
	factory informers.SharedInformerFactory
	inf     cache.SharedIndexInformer
	queue   workqueue.TypedRateLimitingInterface[string]
}

func newNamespaceFinalizer(cs kubernetes.Interface, meta metadata.Interface, logf func(string, ...any)) *namespaceFinalizer {
	f := &namespaceFinalizer{
		cs: cs, meta: meta, logf: logf,
		factory: informers.NewSharedInformerFactory(cs, 0),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubevirtsim-namespaces"}),
	}
	f.inf = f.factory.Core().V1().Namespaces().Informer()
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			f.queue.Add(ns.Name)
		}
	}
	f.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return f
}

func (f *namespaceFinalizer) waitSynced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), f.inf.HasSynced)
}

func (f *namespaceFinalizer) run(ctx context.Context) {
	defer f.queue.ShutDown()
	f.factory.Start(ctx.Done())
	defer f.factory.Shutdown()
	if !f.waitSynced(ctx) {
		return
	}
	go wait.UntilWithContext(ctx, f.work, time.Second)
	<-ctx.Done()
}

func (f *namespaceFinalizer) work(ctx context.Context) {
	for {
		name, quit := f.queue.Get()
		if quit {
			return
		}
		remaining, err := f.finalize(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				f.logf("kubevirtsim: finalizing namespace %s: %v", name, err)
			}
			f.queue.AddRateLimited(name)
		case remaining:
			f.queue.AddAfter(name, 200*time.Millisecond)
		default:
			f.queue.Forget(name)
		}
		f.queue.Done(name)
	}
}

// finalize deletes the contents of a Terminating namespace; once it is
// empty it removes the "kubernetes" finalizer. remaining reports that
// objects are still going away.
func (f *namespaceFinalizer) finalize(ctx context.Context, name string) (remaining bool, err error) {
	ns, err := f.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return false, nil
	}
	resources, err := deletableNamespacedResources(f.cs.Discovery())
	if err != nil {
		return false, err
	}
	for _, gvr := range resources {
		err := f.meta.Resource(gvr).Namespace(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
			return false, fmt.Errorf("deleting %s: %w", gvr.Resource, err)
		}
	}
	for _, gvr := range resources {
		list, err := f.meta.Resource(gvr).Namespace(name).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		if err == nil && len(list.Items) > 0 {
			return true, nil // e.g. objects with finalizers of their own
		}
	}
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(s corev1.FinalizerName) bool { return s == corev1.FinalizerKubernetes })
	if _, err := f.cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("removing the kubernetes finalizer: %w", err)
	}
	return false, nil
}

// deletableNamespacedResources lists the namespaced resources that can be
// listed and deleted by collection, as the namespace controller does.
func deletableNamespacedResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := d.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering resources: %w", err)
	}
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "deletecollection") {
				out = append(out, gv.WithResource(r.Name))
			}
		}
	}
	return out, nil
}
