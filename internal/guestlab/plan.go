package guestlab

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/virtwork/virtwork/render"
)

// Workload is the guests of one workload, booted and checked together.
type Workload struct {
	Name   string
	Guests []*Guest
}

// labNetwork is the private network of a workload's guests; its
// addresses exist only on the qemu socket link between them.
const labNetwork = "10.0.2."

// Plan turns a rendered set into the lab's guests, reading each VM the
// way KubeVirt does: CPU and memory from the domain, the user data from
// the cloudInitNoCloud Secret, data disks with their serials and the
// sizes of their DataVolume templates. The VMs of a workload with
// Services share a private network on which the Services' DNS names
// resolve to the selected VMs. port is the first of the UDP ports on
// 127.0.0.1 the links may use (two per link).
func Plan(objs []*unstructured.Unstructured, port int) ([]Workload, error) {
	secrets := map[string][]byte{}
	var services []corev1.Service
	var vms []kubevirtv1.VirtualMachine
	for _, o := range objs {
		switch o.GetKind() {
		case "Secret":
			var s corev1.Secret
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				return nil, fmt.Errorf("secret %s: %w", o.GetName(), err)
			}
			// As the API server does: stringData over data.
			if ud, ok := s.StringData[render.UserDataKey]; ok {
				secrets[s.Name] = []byte(ud)
			} else if ud, ok := s.Data[render.UserDataKey]; ok {
				secrets[s.Name] = ud
			}
		case "Service":
			var s corev1.Service
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				return nil, fmt.Errorf("service %s: %w", o.GetName(), err)
			}
			services = append(services, s)
		case "VirtualMachine":
			var vm kubevirtv1.VirtualMachine
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &vm); err != nil {
				return nil, fmt.Errorf("virtual machine %s: %w", o.GetName(), err)
			}
			vms = append(vms, vm)
		}
	}

	byWorkload := map[string]*Workload{}
	var order []string
	vmOf := map[*Guest]kubevirtv1.VirtualMachine{}
	for _, vm := range vms {
		g, err := guestOf(vm, secrets)
		if err != nil {
			return nil, err
		}
		w := byWorkload[g.Workload]
		if w == nil {
			w = &Workload{Name: g.Workload}
			byWorkload[g.Workload] = w
			order = append(order, g.Workload)
		}
		w.Guests = append(w.Guests, g)
		vmOf[g] = vm
	}

	var out []Workload
	for _, name := range order {
		w := byWorkload[name]
		var mine []corev1.Service
		for _, s := range services {
			if s.Labels[render.LabelComponent] == name {
				mine = append(mine, s)
			}
		}
		if len(mine) > 0 {
			// A qemu socket link joins exactly two guests.
			if len(w.Guests) != 2 {
				return nil, fmt.Errorf("workload %s: the lab links exactly two guests, it has %d VMs (render with --vm-count 1)", name, len(w.Guests))
			}
			for i, g := range w.Guests {
				g.NIC = &NIC{
					MAC:      fmt.Sprintf("52:54:00:12:34:%02x", i+1),
					Address:  fmt.Sprintf("%s%d/24", labNetwork, i+1),
					Port:     port + i,
					PeerPort: port + 1 - i,
				}
			}
			port += 2
			for _, s := range mine {
				sel := labels.SelectorFromSet(s.Spec.Selector)
				for i, g := range w.Guests {
					if !sel.Matches(labels.Set(vmOf[g].Spec.Template.ObjectMeta.Labels)) {
						continue
					}
					svc := s.Name + "." + s.Namespace + ".svc.cluster.local"
					host := fmt.Sprintf("%s%d %s", labNetwork, i+1, svc)
					if s.Spec.ClusterIP == corev1.ClusterIPNone {
						// A headless Service also names each VM it
						// selects: <vm>.<service>.<namespace>.svc....
						host += " " + g.Name + "." + svc
					}
					for _, h := range w.Guests {
						h.Hosts = append(h.Hosts, host)
					}
				}
			}
		}
		out = append(out, *w)
	}
	return out, nil
}

func guestOf(vm kubevirtv1.VirtualMachine, secrets map[string][]byte) (*Guest, error) {
	tmpl := vm.Spec.Template
	if tmpl == nil {
		return nil, fmt.Errorf("virtual machine %s has no template", vm.Name)
	}
	g := &Guest{
		Name:     vm.Name,
		Workload: vm.Labels[render.LabelComponent],
		Role:     vm.Labels[render.LabelRole],
		CPUs:     1,
	}
	if c := tmpl.Spec.Domain.CPU; c != nil && c.Cores > 0 {
		g.CPUs = int(c.Cores)
	}
	mem := tmpl.Spec.Domain.Resources.Requests[corev1.ResourceMemory]
	g.MemoryMiB = mem.Value() >> 20
	if g.MemoryMiB == 0 {
		return nil, fmt.Errorf("virtual machine %s requests no memory", vm.Name)
	}
	sizes := map[string]int64{}
	for _, dvt := range vm.Spec.DataVolumeTemplates {
		if st := dvt.Spec.Storage; st != nil {
			q := st.Resources.Requests[corev1.ResourceStorage]
			sizes[dvt.Name] = q.Value()
		}
	}
	volumes := map[string]kubevirtv1.Volume{}
	for _, v := range tmpl.Spec.Volumes {
		volumes[v.Name] = v
		if ci := v.CloudInitNoCloud; ci != nil && ci.UserDataSecretRef != nil {
			ud, ok := secrets[ci.UserDataSecretRef.Name]
			if !ok {
				return nil, fmt.Errorf("virtual machine %s: no Secret %s in the set", vm.Name, ci.UserDataSecretRef.Name)
			}
			g.UserData = ud
		}
	}
	if g.UserData == nil {
		return nil, fmt.Errorf("virtual machine %s has no cloud-init user data", vm.Name)
	}
	for _, d := range tmpl.Spec.Domain.Devices.Disks {
		v := volumes[d.Name]
		if v.DataVolume == nil {
			continue
		}
		if d.Serial == "" {
			return nil, fmt.Errorf("virtual machine %s: data disk %s has no serial", vm.Name, d.Name)
		}
		g.Disks = append(g.Disks, Disk{Name: d.Serial, SizeBytes: sizes[v.DataVolume.Name]})
	}
	sort.Slice(g.Disks, func(i, j int) bool { return g.Disks[i].Name < g.Disks[j].Name })
	return g, nil
}

// Select keeps the workloads named in the comma-separated list; "" keeps
// all.
func Select(ws []Workload, list string) ([]Workload, error) {
	if list == "" {
		return ws, nil
	}
	var out []Workload
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(ws, func(w Workload) bool { return w.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("no workload %q in the render", name)
		}
		out = append(out, ws[i])
	}
	return out, nil
}
