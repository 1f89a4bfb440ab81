// Package inventory keeps the record of which objects a virtwork instance
// applied: one ConfigMap per instance (--name) and namespace, in cli-utils'
// inventory format, so that apply can prune what left the set and destroy can
// remove exactly what virtwork created and nothing else.
//
// Where the inventory lives: in the workload namespace itself, so that a user
// whose RBAC covers only that namespace can apply and destroy. The Namespace
// object is never recorded in the inventory; apply creates it when missing
// and destroy deletes it only when asked (--delete-namespace), after every
// recorded object is gone and the inventory ConfigMap has been removed. So
// nothing virtwork does deletes the inventory's namespace while the inventory
// is still in use (cli-utils v0.37.2's ClusterClient.Replace dereferences nil
// when the inventory vanished mid-run; virtwork writes the ConfigMap through
// Client below, which reports a missing inventory as an error instead).
package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinv "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// DefaultName is the instance name when --name is not given.
const DefaultName = "virtwork"

// Labels on the inventory ConfigMap besides cli-utils' inventory-id label,
// so that instances can be listed.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	InstanceLabel  = "virtwork/instance"
)

// CreatedByAnnotation marks a Namespace that virtwork created (never one
// that existed before): its value is the inventory id of the instance whose
// apply created it. Only such a namespace may be deleted by destroy
// --delete-namespace; render's managed-by label says nothing about who
// created a namespace.
const CreatedByAnnotation = "virtwork/created-by"

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Inventory identifies one virtwork instance: a name within a namespace.
type Inventory struct {
	Name      string
	Namespace string
}

// New validates an instance name and namespace.
func New(name, namespace string) (Inventory, error) {
	if name == "" {
		name = DefaultName
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return Inventory{}, fmt.Errorf("invalid --name %q: %s", name, strings.Join(errs, "; "))
	}
	if namespace == "" {
		return Inventory{}, errors.New("no namespace: pass -n/--namespace")
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return Inventory{}, fmt.Errorf("invalid namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	return Inventory{Name: name, Namespace: namespace}, nil
}

// ConfigMapName is the inventory ConfigMap's name.
func (i Inventory) ConfigMapName() string { return "virtwork-inventory-" + i.Name }

// ID is the inventory id: "<namespace>.<name>", readable in the
// config.k8s.io/owning-inventory annotation of every applied object, and
// derived from the instance alone so that it never changes between runs and
// destroy needs nothing but the name and namespace. Namespaces and names are
// DNS labels (no dots), so the id is unambiguous; ids longer than a label
// value allows end in a hash.
func (i Inventory) ID() string {
	id := i.Namespace + "." + i.Name
	if len(id) <= validation.LabelValueMaxLength {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return id[:validation.LabelValueMaxLength-17] + "-" + hex.EncodeToString(sum[:])[:16]
}

// Owner describes the inventory an id names, for "owned by ..." messages.
func Owner(id string) string {
	if id == "" {
		return "no inventory (created by someone else)"
	}
	if ns, name, ok := strings.Cut(id, "."); ok && validation.IsDNS1123Label(ns) == nil && validation.IsDNS1123Label(name) == nil {
		return fmt.Sprintf("virtwork instance %q in namespace %q", name, ns)
	}
	return fmt.Sprintf("inventory %q", id)
}

// MaxEntryBytes bounds the inventory's entries (see CheckFits), with room
// to spare under etcd's default request limit of 1.5 MiB (--max-request-bytes
// 1572864), which one ConfigMap must fit in. Measured against the local
// cluster (kube-apiserver v1.37.2, etcd defaults): a ConfigMap of N entries
// of K-byte keys is accepted up to N*(K+6..7) ≈ 1,572,000 bytes (19,368
// entries of 75 bytes; 11,731 of 127), and refused above with "etcdserver:
// request is too large".
const MaxEntryBytes = 1_400_000

// entryOverhead is what an entry costs besides its key (measured, rounded up).
const entryOverhead = 8

// CheckFits reports a set of objects that one inventory ConfigMap cannot
// record: an entry longer than a ConfigMap key may be, or entries that
// together exceed MaxEntryBytes. Apply checks before changing anything,
// so that it never fails at the inventory write once objects exist.
func (i Inventory) CheckFits(objs object.ObjMetadataSet) error {
	total := 0
	for _, id := range objs {
		key := id.String()
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return fmt.Errorf("%s %q cannot be recorded in the inventory: its entry %q is %d characters, more than a ConfigMap key may have (%d): shorten its name or the namespace",
				id.GroupKind.Kind, id.Name, key, len(key), validation.DNS1123SubdomainMaxLength)
		}
		total += len(key) + entryOverhead
	}
	if total > MaxEntryBytes {
		return fmt.Errorf("%d objects are more than one inventory can record (about %d bytes of entries; the limit is %d, under etcd's 1.5 MiB per object): split the set across namespaces (-n), one instance each",
			len(objs), total, MaxEntryBytes)
	}
	return nil
}

// ConfigMap is an empty inventory ConfigMap for the instance.
func (i Inventory) ConfigMap() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetName(i.ConfigMapName())
	u.SetNamespace(i.Namespace)
	u.SetLabels(map[string]string{
		common.InventoryLabel: i.ID(),
		ManagedByLabel:        "virtwork",
		InstanceLabel:         i.Name,
	})
	return u
}

// Info is the instance's inventory as cli-utils' inventory.Info, for its
// policy functions (CanApply, CanPrune, AddInventoryIDAnnotation).
func (i Inventory) Info() cliinv.Info { return cliinv.WrapInventoryInfoObj(i.ConfigMap()) }

// Client reads and writes one instance's inventory ConfigMap. It uses
// optimistic concurrency: two runs writing the same inventory at once get a
// conflict error rather than losing each other's records.
type Client struct {
	inv  Inventory
	cms  dynamic.ResourceInterface
	live *unstructured.Unstructured // as last read or written; nil if absent
	bad  []BadEntry                 // entries the last Load skipped
}

// NewClient returns a Client for inv.
func NewClient(dyn dynamic.Interface, inv Inventory) *Client {
	return &Client{inv: inv, cms: dyn.Resource(configMaps).Namespace(inv.Namespace)}
}

// Load reads the inventory: the recorded objects and whether it exists.
func (c *Client) Load(ctx context.Context) (object.ObjMetadataSet, bool, error) {
	live, err := c.cms.Get(ctx, c.inv.ConfigMapName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.live = nil
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading inventory ConfigMap %s/%s: %w", c.inv.Namespace, c.inv.ConfigMapName(), err)
	}
	if id := live.GetLabels()[common.InventoryLabel]; id != c.inv.ID() {
		return nil, false, fmt.Errorf("ConfigMap %s/%s is not the inventory of virtwork instance %q (its inventory id is %q, want %q): rename or remove it, or pick another --name",
			c.inv.Namespace, c.inv.ConfigMapName(), c.inv.Name, id, c.inv.ID())
	}
	objs, bad := c.parse(live)
	c.live, c.bad = live, bad
	return objs, true, nil
}

// BadEntry is an inventory entry that names nothing virtwork can act on:
// a key that does not parse, or an object outside the inventory's
// namespace (a cluster-scoped kind, another namespace).
type BadEntry struct {
	Key, Reason string
}

// Report says what is wrong with the entry and how to remove it.
func (b BadEntry) Report(inv Inventory) string {
	path := strings.NewReplacer("~", "~0", "/", "~1").Replace(b.Key)
	return fmt.Sprintf(`inventory entry %q: %s; skipped, and dropped at the next inventory write (to remove it now: kubectl patch configmap -n %s %s --type json -p '[{"op":"remove","path":"/data/%s"}]')`,
		b.Key, b.Reason, inv.Namespace, inv.ConfigMapName(), path)
}

// BadEntries are the entries the last Load skipped.
func (c *Client) BadEntries() []BadEntry { return c.bad }

// parse reads the entries of an inventory ConfigMap (cli-utils' format:
// one data key per object, namespace_name_group_kind), keeping aside those
// that cannot name an object of the instance, so that one hand-edited or
// foreign entry does not block status, apply and destroy.
func (c *Client) parse(live *unstructured.Unstructured) (object.ObjMetadataSet, []BadEntry) {
	data, _, _ := unstructured.NestedStringMap(live.Object, "data")
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var objs object.ObjMetadataSet
	var bad []BadEntry
	for _, k := range keys {
		id, err := object.ParseObjMetadata(k)
		switch {
		case err != nil || id.Name == "" || id.GroupKind.Kind == "":
			bad = append(bad, BadEntry{k, "not namespace_name_group_kind"})
		case id.Namespace == "":
			bad = append(bad, BadEntry{k, "a cluster-scoped object; virtwork manages only objects in namespace " + c.inv.Namespace})
		case id.Namespace != c.inv.Namespace:
			bad = append(bad, BadEntry{k, "an object in namespace " + id.Namespace + "; this inventory holds only objects in namespace " + c.inv.Namespace})
		default:
			objs = append(objs, id)
		}
	}
	return objs, bad
}

// Save records objs as the inventory, creating the ConfigMap if Load found
// none. Call Load first.
func (c *Client) Save(ctx context.Context, objs object.ObjMetadataSet) error {
	base := c.live
	if base == nil {
		base = c.inv.ConfigMap()
	}
	storage := cliinv.WrapInventoryObj(base.DeepCopy())
	if err := storage.Store(objs, nil); err != nil {
		return err
	}
	next, err := storage.GetObject()
	if err != nil {
		return err
	}
	var saved *unstructured.Unstructured
	if c.live == nil {
		saved, err = c.cms.Create(ctx, next, metav1.CreateOptions{FieldManager: "virtwork"})
	} else {
		saved, err = c.cms.Update(ctx, next, metav1.UpdateOptions{FieldManager: "virtwork"})
	}
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return fmt.Errorf("inventory ConfigMap %s/%s was changed by someone else during this run (another virtwork run for instance %q?): run again once it is done",
			c.inv.Namespace, c.inv.ConfigMapName(), c.inv.Name)
	case apierrors.IsNotFound(err) && c.live == nil:
		return fmt.Errorf("namespace %s does not exist: create it, or apply a set that includes it (virtwork render does)", c.inv.Namespace)
	case apierrors.IsNotFound(err) && c.live != nil:
		return fmt.Errorf("inventory ConfigMap %s/%s vanished during this run (deleted by someone else?): run again to recreate it",
			c.inv.Namespace, c.inv.ConfigMapName())
	case err != nil:
		return fmt.Errorf("writing inventory ConfigMap %s/%s: %w", c.inv.Namespace, c.inv.ConfigMapName(), err)
	}
	c.live, c.bad = saved, nil
	return nil
}

// Delete removes the inventory ConfigMap as this client last read or wrote
// it: a version changed since (by another run) is not deleted, and the
// conflict is an error.
func (c *Client) Delete(ctx context.Context) error {
	opts := metav1.DeleteOptions{}
	if c.live != nil {
		uid, rv := types.UID(c.live.GetUID()), c.live.GetResourceVersion()
		opts.Preconditions = &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}
	}
	err := c.cms.Delete(ctx, c.inv.ConfigMapName(), opts)
	if apierrors.IsConflict(err) {
		return fmt.Errorf("inventory ConfigMap %s/%s was changed by someone else during this run (another virtwork run for instance %q?): it was kept; run destroy again once that run is done",
			c.inv.Namespace, c.inv.ConfigMapName(), c.inv.Name)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting inventory ConfigMap %s/%s: %w", c.inv.Namespace, c.inv.ConfigMapName(), err)
	}
	c.live = nil
	return nil
}
