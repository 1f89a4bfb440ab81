package history

import (
	"slices"
	"testing"

	"github.com/virtwork/virtwork/internal/config"
)

// A run's guest OS and workload parameters change what the VMs do, so
// the history keeps them.
func TestConfigKeepsGuestOSAndParams(t *testing.T) {
	c := ConfigOf(&config.Config{Namespace: "ns", GuestOS: "debian", Params: []config.Param{
		{Workload: "database", Key: "scale", Value: "2", Source: "--param"},
		{Workload: "database", Key: "duration", Value: "60", Source: "VIRTWORK_PARAMS"},
	}})
	if c.GuestOS != "debian" || !slices.Equal(c.Params, []string{"database.scale=2", "database.duration=60"}) {
		t.Errorf("guest OS %q params %q", c.GuestOS, c.Params)
	}
}
