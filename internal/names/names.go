// Package names holds the label names virtwork puts on what it renders and
// reads back when it applies, reports and records: the one place render,
// apply, results and the history share, so that none of them imports
// another to agree on a label.
package names

// Labels on everything virtwork renders. Services select VMs by
// LabelComponent (plus LabelRole for multi-role workloads); KubeVirt copies
// the VM template's labels onto the launcher pod, which is what a Service
// actually selects.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	LabelRole      = "virtwork/role"
	// AppName is the value of LabelName and LabelManagedBy.
	AppName = "virtwork"
)

// AnnotationFigures on a VirtualMachine says which figures its exporter
// serves, as its role declares them: FiguresGuest for a role that declares
// no metrics of its own and so runs no tool that writes any (the network
// server), whose VMs report by answering with their guest figures. Absent,
// the VM writes its workload's figures. results reads it, so that it never
// has to guess from what the exporters happen to serve.
const (
	AnnotationFigures = "virtwork/figures"
	FiguresGuest      = "guest"
)
