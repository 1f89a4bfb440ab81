package kubevirtsim

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// LauncherPod creates, for the running VMI of VM vm in namespace, the
// virt-launcher pod KubeVirt would run, with the labels KubeVirt gives it
// (the VMI's own, which come from the VM template, plus kubevirt.io:
// virt-launcher, kubevirt.io/created-by: the VMI's UID and
// vm.kubevirt.io/name) and status Running with podIP ip. The simulator does
// not make these pods itself (no test needed them, and 1,000 VMs would
// cost 2,000 more writes); tests that reach a VM through the API server's
// pod proxy do, with ip an address in a network namespace they made, so
// that the proxy's connection lands on a real process.
func LauncherPod(ctx context.Context, cs kubernetes.Interface, vmi metav1.Object, ip string) (*corev1.Pod, error) {
	ns := vmi.GetNamespace()
	// Without kube-controller-manager nobody creates the namespace's
	// default ServiceAccount, which pod admission looks up.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the default service account in %s: %w", ns, err)
	}
	labels := maps.Clone(vmi.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[kubevirtv1.AppLabel] = "virt-launcher"
	labels[kubevirtv1.CreatedByLabel] = string(vmi.GetUID())
	labels[kubevirtv1.DeprecatedVirtualMachineNameLabel] = vmi.GetName()
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "virt-launcher-" + vmi.GetName() + "-",
			Namespace:    ns,
			Labels:       labels,
			Annotations:  map[string]string{kubevirtv1.DomainAnnotation: vmi.GetName()},
		},
		Spec: corev1.PodSpec{
			NodeName:                     "sim-node",
			AutomountServiceAccountToken: &no,
			Containers:                   []corev1.Container{{Name: "compute", Image: "quay.io/kubevirt/virt-launcher:v1.8.0"}},
		},
	}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the launcher pod of %s/%s: %w", ns, vmi.GetName(), err)
	}
	created.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  ip,
		PodIPs: []corev1.PodIP{{IP: ip}},
	}
	updated, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting the status of launcher pod %s/%s: %w", ns, created.Name, err)
	}
	return updated, nil
}
