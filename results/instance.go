package results

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/virtwork/virtwork/internal/names"
	"github.com/virtwork/virtwork/inventory"
)

var virtualMachines = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}

// ErrNoInstance is returned by Expected when the namespace holds no
// inventory of that name.
var ErrNoInstance = fmt.Errorf("no such instance")

// Expected returns the VMs recorded in the inventory of instance name in
// namespace, with their workload and role from their labels and whether
// they serve guest figures only from their annotation (as render set
// them), ordered by
// workload, role and index. A VM in the inventory but not in the cluster
// is kept (it will be reported as not answering) under workload "?".
func Expected(ctx context.Context, dyn dynamic.Interface, namespace, name string) ([]VM, error) {
	inv, err := inventory.New(name, namespace)
	if err != nil {
		return nil, err
	}
	objs, exists, err := inventory.NewClient(dyn, inv).Load(ctx)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("%w %q in namespace %s (nothing applied there with this --name)", ErrNoInstance, name, namespace)
	}
	live, err := listAll(ctx, func(opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
		opts.LabelSelector = names.LabelManagedBy + "=" + names.AppName
		return dyn.Resource(virtualMachines).Namespace(namespace).List(ctx, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("listing VirtualMachines in %s: %w", namespace, err)
	}
	byName := make(map[string]*unstructured.Unstructured, len(live))
	for i := range live {
		byName[live[i].GetName()] = &live[i]
	}
	var vms []VM
	for _, o := range objs {
		if o.GroupKind.Group != virtualMachines.Group || o.GroupKind.Kind != "VirtualMachine" {
			continue
		}
		vm := VM{Name: o.Name, Workload: "?"}
		if u, ok := byName[o.Name]; ok {
			l := u.GetLabels()
			vm.Workload, vm.Role = l[names.LabelComponent], l[names.LabelRole]
			vm.GuestOnly = u.GetAnnotations()[names.AnnotationFigures] == names.FiguresGuest
		}
		vms = append(vms, vm)
	}
	SortVMs(vms)
	return vms, nil
}

// SortVMs orders vms by workload, role, and then by name with the VM
// index compared as a number (cpu-2 before cpu-10).
func SortVMs(vms []VM) {
	slices.SortFunc(vms, func(a, b VM) int {
		return cmp.Or(cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Role, b.Role), compareNames(a.Name, b.Name))
	})
}

func compareNames(a, b string) int {
	ab, an := splitIndex(a)
	bb, bn := splitIndex(b)
	return cmp.Or(cmp.Compare(ab, bb), cmp.Compare(an, bn), cmp.Compare(a, b))
}

func splitIndex(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 0
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return name, 0
	}
	return name[:i], n
}
