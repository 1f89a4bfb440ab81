package guestlab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// RenderArgs are the virtwork arguments the lab renders with: every
// built-in workload for Debian, sized for emulated guests on a small
// machine through the settings any user has (a smaller pgbench scale
// factor and shorter pgbench and fio runs, one vCPU and 1 GiB per guest).
var RenderArgs = []string{
	"render", "--guest-os", "debian", "--namespace", "guestlab",
	"--vm-count", "1", "--cpu-cores", "1", "--memory", "1Gi", "--disk-size", "5Gi",
	"--param", "database.scale=2", "--param", "database.duration=60", "--param", "disk.runtime=40",
}

// Render runs `virtwork render` (the binary at virtwork) with args and
// returns the objects it printed. VIRTWORK_* variables of the caller are
// left out, so only args decide the result.
func Render(virtwork string, args []string) ([]*unstructured.Unstructured, error) {
	cmd := exec.Command(virtwork, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIRTWORK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", virtwork, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("reading the render: %w", err)
		}
		if obj != nil {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
	return out, nil
}
