package guestlab

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// A workload that rendered no VM (a user workload whose roles all have
// count 0) is reported as a failure of that workload, not a panic that
// loses every other workload's result.
func TestRunReportsAWorkloadWithoutGuests(t *testing.T) {
	res := Run(context.Background(), []Workload{{Name: "empty"}, {Name: "also-empty"}}, Options{Slots: 1, Timeout: time.Second, Log: io.Discard, WorkDir: t.TempDir()})
	if len(res) != 2 || res[0].Workload != "empty" || res[1].Workload != "also-empty" {
		t.Fatalf("results %+v, want one per workload in the order given", res)
	}
	for _, r := range res {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "no VM") {
			t.Errorf("%s: error %v, want one saying the workload rendered no VM", r.Workload, r.Err)
		}
	}
}
