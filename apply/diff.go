package apply

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kdiff "k8s.io/kubectl/pkg/cmd/diff"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/internal/kube"
	"github.com/virtwork/virtwork/inventory"
)

// DiffOptions for Diff: --name, -n, --force-conflicts, --adopt, --workers.
type DiffOptions struct {
	Name           string
	Namespace      string
	ForceConflicts bool
	Adopt          bool
	Workers        int
}

// Diff writes to w, as a unified diff per object, what Apply would change:
// each object's live state against a server-side dry run of applying it,
// and the deletion of what an apply would prune. Secret data is masked
// (changed values show as changed, never their content). It reports
// whether there are differences.
func Diff(ctx context.Context, kc *kube.Client, objs []*unstructured.Unstructured, opts DiffOptions, w io.Writer) (bool, error) {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	inv, err := inventory.New(opts.Name, opts.Namespace)
	if err != nil {
		return false, err
	}
	e := newEngine(kc, "diff", true, nil)
	nsObj, items, err := e.prepare(objs, inv.Namespace)
	if err != nil {
		return false, err
	}
	prev, _, err := inventory.NewClient(kc.Dynamic, inv).Load(ctx)
	if err != nil {
		return false, e.explain(err)
	}
	desired := make(object.ObjMetadataSet, len(items))
	for i, it := range items {
		desired[i] = it.id
	}
	toPrune := prev.Diff(desired)
	lives, err := e.listFull(ctx, inv.Namespace, groupKinds(desired, toPrune))
	if err != nil {
		return false, err
	}
	info := inv.Info()
	policy := cliinv.PolicyMustMatch
	if opts.Adopt {
		policy = cliinv.PolicyAdoptAll
	}

	type pair struct {
		id       object.ObjMetadata
		from, to *unstructured.Unstructured
		note     string
	}
	// In a namespace that does not exist yet the server cannot dry-run
	// anything: every object is new, as written.
	nsMissing := false
	if _, err := kc.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).
		Get(ctx, inv.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		nsMissing = true
	}
	pairs := make([]pair, len(items))
	var firstErr error
	var errOnce sync.Once
	forEach(ctx, opts.Workers, len(items), func(ctx context.Context, i int) {
		it := items[i]
		live := lives[it.id]
		pairs[i] = pair{id: it.id, from: live}
		if live != nil {
			if can, _ := cliinv.CanApply(info, live, policy); !can {
				pairs[i].note = "owned by " + inventory.Owner(live.GetAnnotations()[cliinv.OwningInventoryKey]) + ": apply would leave it alone"
				pairs[i].to = live
				return
			}
		}
		obj := it.obj.DeepCopy()
		cliinv.AddInventoryIDAnnotation(obj, info)
		if nsMissing {
			pairs[i].to = obj
			return
		}
		out, err := kc.Dynamic.Resource(it.gvr).Namespace(it.id.Namespace).Apply(ctx, it.id.Name, obj, metav1.ApplyOptions{
			FieldManager: fieldManager(inv), Force: opts.ForceConflicts, DryRun: []string{metav1.DryRunAll},
		})
		if err != nil {
			errOnce.Do(func() { firstErr = e.explain(fmt.Errorf("dry-run apply of %s: %w", refOf(it.id), err)) })
			return
		}
		pairs[i].to = out
	})
	if firstErr != nil {
		return false, firstErr
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if nsObj != nil {
		if p, ok := e.diffNamespace(ctx, nsObj, inv); ok {
			pairs = append([]pair{{id: object.ObjMetadata{GroupKind: namespaceGK, Name: nsObj.GetName()}, from: p[0], to: p[1]}}, pairs...)
		}
	}
	for _, id := range toPrune {
		if live := lives[id]; live != nil {
			if can, _ := cliinv.CanPrune(info, live, cliinv.PolicyMustMatch); can {
				pairs = append(pairs, pair{id: id, from: live})
			}
		}
	}

	changed := false
	for _, p := range pairs {
		if p.note != "" {
			fmt.Fprintf(w, "# %s: %s\n", refOf(p.id), p.note)
			continue
		}
		text, err := unifiedDiff(p.id, p.from, p.to)
		if err != nil {
			return changed, err
		}
		if text != "" {
			changed = true
			if _, err := io.WriteString(w, text); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// diffNamespace returns the live Namespace and a dry run of what apply
// would do to it (see ensureNamespace); not ok when apply would leave it as
// it is (it existed before virtwork) or the user may not read it (a
// namespace-scoped user).
func (e *engine) diffNamespace(ctx context.Context, ns *unstructured.Unstructured, inv inventory.Inventory) ([2]*unstructured.Unstructured, bool) {
	client := e.kc.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	live, err := client.Get(ctx, ns.GetName(), metav1.GetOptions{})
	createdBy := inv.ID()
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return [2]*unstructured.Unstructured{}, false
	case live.GetAnnotations()[inventory.CreatedByAnnotation] == "":
		return [2]*unstructured.Unstructured{}, false
	default:
		createdBy = live.GetAnnotations()[inventory.CreatedByAnnotation]
	}
	ns = ns.DeepCopy()
	annotations := ns.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[inventory.CreatedByAnnotation] = createdBy
	ns.SetAnnotations(annotations)
	out, err := client.Apply(ctx, ns.GetName(), ns, metav1.ApplyOptions{FieldManager: FieldManager, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return [2]*unstructured.Unstructured{}, false
	}
	return [2]*unstructured.Unstructured{live, out}, true
}

// listFull reads whole objects of the given kinds in the namespace.
func (e *engine) listFull(ctx context.Context, namespace string, gks []schema.GroupKind) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	return listPaged(ctx, e, namespace, gks, func(gvr schema.GroupVersionResource, opts metav1.ListOptions) ([]*unstructured.Unstructured, string, error) {
		list, err := e.kc.Dynamic.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		items := make([]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			items[i] = &list.Items[i]
		}
		return items, list.GetContinue(), nil
	})
}

// unifiedDiff renders from → to (either may be nil) as a unified diff of
// their YAML, with server-managed metadata left out and Secret data masked;
// "" when they are the same.
func unifiedDiff(id object.ObjMetadata, from, to *unstructured.Unstructured) (string, error) {
	from, to = normalize(from, to == nil), normalize(to, from == nil)
	if id.GroupKind == secretGK {
		var err error
		if from != nil {
			if from, err = normalizeSecret(from); err != nil {
				return "", err
			}
		}
		if to != nil {
			if to, err = normalizeSecret(to); err != nil {
				return "", err
			}
		}
		// kubectl's masker covers data only; annotations may hold a copy.
		maskSecretAnnotations(from, to)
		// A nil *Unstructured in an interface is not nil: pass nil itself.
		var f, t runtime.Object
		if from != nil {
			f = from
		}
		if to != nil {
			t = to
		}
		m, err := kdiff.NewMasker(f, t)
		if err != nil {
			return "", fmt.Errorf("masking %s: %w", refOf(id), err)
		}
		from, _ = m.From().(*unstructured.Unstructured)
		to, _ = m.To().(*unstructured.Unstructured)
	}
	a, err := toYAML(from)
	if err != nil {
		return "", err
	}
	b, err := toYAML(to)
	if err != nil {
		return "", err
	}
	if a == b {
		return "", nil
	}
	name := strings.TrimPrefix(refOf(id).String(), "/")
	ud := difflib.UnifiedDiff{FromFile: "live/" + name, ToFile: "virtwork/" + name, Context: 3}
	// A side that does not exist is /dev/null with no lines, as diff -N
	// and git show created and deleted files.
	if from == nil {
		ud.FromFile = "/dev/null"
	} else {
		ud.A = difflib.SplitLines(a)
	}
	if to == nil {
		ud.ToFile = "/dev/null"
	} else {
		ud.B = difflib.SplitLines(b)
	}
	return difflib.GetUnifiedDiffString(ud)
}

// normalize drops what the server maintains and a diff reader does not
// want to see; for an object that does not exist on the other side, also
// the identity fields the server made up.
func normalize(u *unstructured.Unstructured, alone bool) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	u = u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	if alone {
		unstructured.RemoveNestedField(u.Object, "metadata", "uid")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	}
	return u
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	return string(b), err
}
