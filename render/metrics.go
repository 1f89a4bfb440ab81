package render

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// The exporter every VM runs (see the README's "Results"), and the objects
// that let Prometheus and 'virtwork results' find it.
const (
	// MetricsServiceName names the headless Service (and the
	// ServiceMonitor) of the VMs' exporters.
	MetricsServiceName = "virtwork-metrics"
	// MetricsPort is the exporter's port, named MetricsPortName.
	MetricsPort     = 9100
	MetricsPortName = "metrics"
	// LabelMetrics marks the metrics Service, which the ServiceMonitor
	// selects (the workloads' own Services carry the same app labels).
	LabelMetrics = "virtwork/metrics"
)

// metricsService is a headless Service over every VM of the namespace's
// virtwork instances on the exporter's port: headless, so Prometheus (or
// anyone resolving it) gets one endpoint per VM rather than one address
// balancing between them.
func (r *renderer) metricsService() (*unstructured.Unstructured, error) {
	return object("#Service", map[string]any{
		"name":      MetricsServiceName,
		"namespace": r.ns,
		"labels":    map[string]any{LabelName: AppName, LabelManagedBy: AppName, LabelMetrics: "exporter"},
		"selector":  map[string]any{LabelName: AppName, LabelManagedBy: AppName},
		"headless":  true,
		"ports":     []any{map[string]any{"name": MetricsPortName, "port": MetricsPort}},
	})
}

// serviceMonitor has the Prometheus Operator (on OpenShift: user workload
// monitoring) scrape every endpoint of the metrics Service.
func (r *renderer) serviceMonitor() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "ServiceMonitor",
		"metadata": map[string]any{
			"name":      MetricsServiceName,
			"namespace": r.ns,
			"labels": map[string]any{
				LabelName:      AppName,
				LabelManagedBy: AppName,
			},
		},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{
				LabelName:    AppName,
				LabelMetrics: "exporter",
			}},
			"endpoints": []any{map[string]any{
				"port":     MetricsPortName,
				"path":     "/metrics",
				"interval": "30s",
			}},
		},
	}}
}
