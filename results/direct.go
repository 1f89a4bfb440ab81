package results

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

var vmis = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}

// Direct reads each VM's exporter through the API server's proxy to the
// VM's virt-launcher pod (pods/proxy): with the masquerade binding, the
// pod's IP forwards to the guest. The pod proxy, unlike the Service proxy,
// reaches one chosen VM and needs no Endpoints, and a user whose RBAC
// covers only the namespace can be granted it (get on pods/proxy).
type Direct struct {
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	Namespace string
	// Timeout bounds each VM's read; Workers reads run at once.
	Timeout time.Duration
	Workers int
}

// DefaultTimeout and DefaultWorkers are Direct's defaults.
const (
	DefaultTimeout = 5 * time.Second
	DefaultWorkers = 64
)

// Read reads the exporters of vms. The error is for what stops every read
// (listing the instances or pods); a VM that cannot be read gets a
// Reading with Err.
func (d *Direct) Read(ctx context.Context, vms []VM) (map[string]Reading, time.Time, error) {
	pods, err := d.launcherPods(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	timeout, workers := d.Timeout, d.Workers
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if workers <= 0 {
		workers = DefaultWorkers
	}
	out := make(map[string]Reading, len(vms))
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(workers, len(vms)) {
		wg.Go(func() {
			for name := range jobs {
				l, hasVMI := pods[name]
				r := d.readOne(ctx, timeout, l, hasVMI)
				mu.Lock()
				out[name] = r
				mu.Unlock()
			}
		})
	}
	for _, vm := range vms {
		jobs <- vm.Name
	}
	close(jobs)
	wg.Wait()
	return out, time.Now(), nil
}

// launcher is what Read knows of a VM's virt-launcher pod.
type launcher struct {
	pod, ip string
	phase   corev1.PodPhase
}

// launcherPods finds each VMI's launcher pod the way KubeVirt does, by the
// kubevirt.io/created-by label holding the VMI's UID; while a VM migrates
// it has two, and the running one with an IP is taken.
func (d *Direct) launcherPods(ctx context.Context) (map[string]launcher, error) {
	instances, err := listAll(ctx, func(opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
		return d.Dynamic.Resource(vmis).Namespace(d.Namespace).List(ctx, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("listing VirtualMachineInstances in %s: %w", d.Namespace, err)
	}
	byUID := map[string]string{}
	for _, vmi := range instances {
		byUID[string(vmi.GetUID())] = vmi.GetName()
	}
	out := map[string]launcher{}
	cont := ""
	for {
		list, err := d.Clientset.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: kubevirtv1.AppLabel + "=virt-launcher", Limit: 500, Continue: cont,
		})
		if err != nil {
			return nil, fmt.Errorf("listing virt-launcher pods in %s: %w", d.Namespace, err)
		}
		for i := range list.Items {
			p := &list.Items[i]
			vm, ok := byUID[p.Labels[kubevirtv1.CreatedByLabel]]
			if !ok {
				continue
			}
			l := launcher{pod: p.Name, ip: p.Status.PodIP, phase: p.Status.Phase}
			if old, ok := out[vm]; ok && old.phase == corev1.PodRunning && old.ip != "" {
				continue
			}
			out[vm] = l
		}
		if cont = list.Continue; cont == "" {
			break
		}
	}
	for _, name := range byUID {
		if _, ok := out[name]; !ok {
			out[name] = launcher{}
		}
	}
	return out, nil
}

func (d *Direct) readOne(ctx context.Context, timeout time.Duration, l launcher, hasVMI bool) Reading {
	switch {
	case !hasVMI:
		return Reading{Err: errors.New("no VirtualMachineInstance (the VM is not running)")}
	case l.pod == "":
		return Reading{Err: errors.New("no virt-launcher pod for its VirtualMachineInstance yet")}
	case l.ip == "":
		return Reading{Err: fmt.Errorf("launcher pod %s has no IP yet (phase %s)", l.pod, l.phase)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := d.Clientset.CoreV1().Pods(d.Namespace).
		ProxyGet("http", l.pod, strconv.Itoa(ExporterPort), "metrics", nil).DoRaw(ctx)
	if err != nil {
		return Reading{Err: explainProxy(ctx, err, l, timeout)}
	}
	samples, err := ParseText(bytes.NewReader(body))
	if err != nil {
		return Reading{Err: err}
	}
	return Reading{Samples: samples}
}

// explainProxy shortens the API server's proxy errors to what a user acts
// on.
func explainProxy(ctx context.Context, err error, l launcher, timeout time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s:%d did not answer within %s", l.ip, ExporterPort, timeout)
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("not allowed to proxy to pod %s (RBAC: grant get on pods/proxy in the namespace)", l.pod)
	}
	msg := err.Error()
	if se, ok := err.(apierrors.APIStatus); ok {
		msg = se.Status().Message
		// The proxy's body is the exporter's or the dialer's text; keep
		// its first line.
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
	}
	return fmt.Errorf("%s:%d via pod %s: %s", l.ip, ExporterPort, l.pod, msg)
}

// listAll lists every page.
func listAll(ctx context.Context, list func(metav1.ListOptions) (*unstructured.UnstructuredList, error)) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := list(opts)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}
