package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJSONShape(t *testing.T) {
	e := Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: TypeSummary, Summary: &Summary{
		Command: CommandApply, Outcome: Succeeded, Duration: Seconds(1500 * time.Millisecond),
		Counts: map[Result]int{Created: 2},
		VMs:    []VM{{Name: "cpu-1", Status: VMReady, TimeToReady: Seconds(250 * time.Millisecond)}},
	}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"type":"summary"`, `"duration":1.500`, `"counts":{"created":2}`, `"timeToReady":0.250`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	// Zero times are left out, not written as year 1.
	if strings.Contains(s, `"ready":"0001`) || strings.Contains(s, "agentConnected") {
		t.Errorf("zero times written: %s", s)
	}
}

func TestTeeSkipsNilSinks(t *testing.T) {
	var got []Type
	Tee(nil, func(e Event) { got = append(got, e.Type) })(Event{Type: TypeInit})
	if len(got) != 1 || got[0] != TypeInit {
		t.Errorf("got %v", got)
	}
}
