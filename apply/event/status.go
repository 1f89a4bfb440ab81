package event

// StatusReport is the live state of an instance's objects.
type StatusReport struct {
	Name        string         `json:"name"`
	Namespace   string         `json:"namespace"`
	InventoryID string         `json:"inventoryID"`
	Exists      bool           `json:"exists"` // the inventory exists
	Objects     []ObjectStatus `json:"objects"`
	// BadEntries report inventory entries that name nothing virtwork can
	// act on (malformed, cluster-scoped, another namespace), with how to
	// remove them.
	BadEntries []string `json:"badEntries,omitempty"`
}

// ObjectStatus is one object's live status, as the apply wait computes it.
type ObjectStatus struct {
	Ref      Ref    `json:"ref"`
	Status   string `json:"status"` // Current, InProgress, Failed, Terminating, NotFound
	Message  string `json:"message,omitempty"`
	Workload string `json:"workload,omitempty"`
	Role     string `json:"role,omitempty"`
	// Owner is set when the object now belongs to another inventory.
	Owner string `json:"owner,omitempty"`
}

// Counts tallies the objects by status.
func (r *StatusReport) Counts() map[string]int {
	out := map[string]int{}
	for _, o := range r.Objects {
		out[o.Status]++
	}
	return out
}
