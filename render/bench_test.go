package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue/parser"
	yamlv3 "gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/manifest"
	"github.com/virtwork/virtwork/internal/workload"
)

// benchSizes are the VM counts of the performance goals.
var benchSizes = []int{10, 100, 1000, 10000}

// benchInput is `virtwork render --workloads cpu --vm-count n` with the
// built-in workloads: n VMs plus a Namespace and one Secret.
func benchInput(b *testing.B, n int) (*config.Config, []workload.Workload) {
	b.Helper()
	ws, err := workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: config.DefaultNamespace}})
	if err != nil {
		b.Fatal(err)
	}
	return &config.Config{Namespace: config.DefaultNamespace, Workloads: []string{"cpu"}, VMCount: n}, ws
}

// BenchmarkRender measures render + encode of n cpu VMs (what `virtwork
// render` does after loading) and reports, from the same iterations, the
// ratio of that time to the encoding alone (goal: at most 2). The shaped
// runs (shaped-vms=N) add a VM overlay (--node-selector --dedicated-cpu), which loads
// the generated KubeVirt schema (cue/gen) once per render. The disk runs
// render the disk workload (a data disk each), disk-shaped adds the config
// file's dataVolume overlay (RWX Block) to them.
func BenchmarkRender(b *testing.B) {
	for _, mode := range []string{"", "shaped-", "disk-", "disk-shaped-"} {
		for _, n := range benchSizes {
			benchmarkRender(b, fmt.Sprintf("%svms=%d", mode, n), n, mode)
		}
	}
}

func benchmarkRender(b *testing.B, name string, n int, mode string) {
	b.Run(name, func(b *testing.B) {
		cfg, ws := benchInput(b, n)
		switch mode {
		case "shaped-":
			cfg.NodeSelector = map[string]string{"zone": "a"}
			cfg.DedicatedCPU = true
		case "disk-shaped-":
			dv, err := parser.ParseExpr("bench.yaml", `{spec: storage: {accessModes: ["ReadWriteMany"], volumeMode: "Block"}}`)
			if err != nil {
				b.Fatal(err)
			}
			cfg.DataVolume = dv
		}
		if strings.HasPrefix(mode, "disk-") {
			cfg.Workloads = []string{"disk"}
		}
		b.ReportAllocs()
		var encode time.Duration
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			objs, err := Render(cfg, ws)
			if err != nil {
				b.Fatal(err)
			}
			t := time.Now()
			if err := manifest.Encode(io.Discard, objs); err != nil {
				b.Fatal(err)
			}
			encode += time.Since(t)
		}
		total := time.Since(start)
		b.ReportMetric(float64(total)/float64(encode), "render/encode")
	})
}

// BenchmarkEncode measures encoding alone of the objects of n cpu VMs.
func BenchmarkEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			cfg, ws := benchInput(b, n)
			objs, err := Render(cfg, ws)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := manifest.Encode(io.Discard, objs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckVM measures Check of one rendered VM with a data disk,
// the cost that checking every stamped copy would add per VM.
func BenchmarkCheckVM(b *testing.B) {
	cfg := &config.Config{Workloads: []string{"database"}}
	var vm *unstructured.Unstructured
	for _, o := range mustRender(b, cfg, builtins(b)) {
		if o.GetKind() == "VirtualMachine" {
			vm = o
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(vm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncoders compares ways to write the same 1,000 cpu VMs as a
// YAML stream: manifest.Encode (the purpose-built emitter), kubectl's
// sigs.k8s.io/yaml (through encoding/json and yaml.v2), and yaml.v3
// encoding a node tree built with sorted keys.
func BenchmarkEncoders(b *testing.B) {
	cfg, ws := benchInput(b, 1000)
	objs, err := Render(cfg, ws)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("emitter", func(b *testing.B) {
		for b.Loop() {
			if err := manifest.Encode(io.Discard, objs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sigs.k8s.io-yaml", func(b *testing.B) {
		for b.Loop() {
			for i, o := range objs {
				y, err := sigsyaml.Marshal(o.Object)
				if err != nil {
					b.Fatal(err)
				}
				if i > 0 {
					io.WriteString(io.Discard, "---\n")
				}
				io.Discard.Write(y)
			}
		}
	})
	b.Run("yaml.v3-node", func(b *testing.B) {
		for b.Loop() {
			enc := yamlv3.NewEncoder(io.Discard)
			enc.SetIndent(2)
			for _, o := range objs {
				if err := enc.Encode(yamlNode(o.Object)); err != nil {
					b.Fatal(err)
				}
			}
			enc.Close()
		}
	})
}

// yamlNode builds a yaml.v3 node tree of a JSON-shaped value, keys sorted.
func yamlNode(v any) *yamlv3.Node {
	switch v := v.(type) {
	case map[string]any:
		n := &yamlv3.Node{Kind: yamlv3.MappingNode}
		for _, k := range sortedKeys(v) {
			n.Content = append(n.Content, &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: k}, yamlNode(v[k]))
		}
		return n
	case []any:
		n := &yamlv3.Node{Kind: yamlv3.SequenceNode}
		for _, item := range v {
			n.Content = append(n.Content, yamlNode(item))
		}
		return n
	case string:
		return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: v}
	case int64:
		return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
	case bool:
		return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
	case float64:
		return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v, 'g', -1, 64)}
	}
	return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!null", Value: "null"}
}
