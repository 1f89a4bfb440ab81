package apply

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/inventory"
)

// usableEntries returns the inventory entries the engine can act on, and
// a report for each one it cannot: those the inventory client skipped
// (malformed, outside the namespace) and those of a kind the cluster
// serves as cluster-scoped, which cannot be listed in the namespace.
// Kinds the cluster does not serve stay: they are reported as gone.
func (e *engine) usableEntries(inv inventory.Inventory, c *inventory.Client, ids object.ObjMetadataSet) (object.ObjMetadataSet, []string) {
	var reports []string
	for _, b := range c.BadEntries() {
		reports = append(reports, b.Report(inv))
	}
	var out object.ObjMetadataSet
	for _, id := range ids {
		if m, err := e.mapping(id.GroupKind, ""); err == nil && m.Scope.Name() != meta.RESTScopeNameNamespace {
			b := inventory.BadEntry{Key: id.String(), Reason: id.GroupKind.String() + " is a cluster-scoped kind; virtwork manages only objects in namespace " + inv.Namespace}
			reports = append(reports, b.Report(inv))
			continue
		}
		out = append(out, id)
	}
	return out, reports
}

// reportBadEntries reports the inventory entries skipped, as problems
// of the inventory ConfigMap.
func (e *engine) reportBadEntries(inv inventory.Inventory, reports []string) {
	for _, r := range reports {
		e.object(event.Ref{Kind: "ConfigMap", Namespace: inv.Namespace, Name: inv.ConfigMapName()}, event.Skipped, r, "")
	}
}
