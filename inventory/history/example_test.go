package history_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/virtwork/virtwork/apply/event"
	"github.com/virtwork/virtwork/inventory/history"
)

// How apply and destroy record a run: open the database before touching
// the cluster (a broken one stops the command there unless --no-history),
// start the Recorder, tee its Sink next to the printer, and Finish with
// what the engine returned, also when it failed or was interrupted.
func Example() {
	dir, _ := os.MkdirTemp("", "history")
	defer os.RemoveAll(dir)
	getenv := func(k string) (string, bool) {
		if k == history.EnvDB {
			return filepath.Join(dir, "history.db"), true
		}
		return "", false
	}

	flags := history.DBFlags{} // embedded in the command next to config.Flags; --history-db, --no-history
	db, err := flags.Open(getenv)
	if err != nil {
		fmt.Println("virtwork:", err) // nothing applied yet
		return
	}
	rec, err := history.Start(db, history.Meta{Command: "apply", Namespace: "load", Name: "virtwork",
		InventoryID: "load.virtwork", User: history.CurrentUser()})
	if err != nil {
		fmt.Println("virtwork:", err)
		return
	}
	printer := func(event.Event) {}
	sink := event.Tee(printer, rec.Sink())

	// apply.Apply(ctx, kc, objs, opts, sink) sends events like these.
	t0 := time.Now()
	sink(event.Event{Time: t0, Type: event.TypeObject, Object: &event.Object{
		Ref: event.Ref{Kind: "VirtualMachine", Namespace: "load", Name: "cpu-1"}, Result: event.Created}})
	sink(event.Event{Time: t0, Type: event.TypeSummary, Summary: &event.Summary{Command: event.CommandApply,
		Outcome: event.Failure, Error: "1 VM failed", VMs: []event.VM{{Name: "cpu-1", Status: event.VMFailed,
			Message: "ErrImagePull", Applied: t0}}}})
	engineErr := errors.New("1 VM failed")

	run, err := rec.Finish(engineErr)
	if err != nil {
		fmt.Println("virtwork: warning: the run was not recorded:", err)
	}
	fmt.Println(run.Outcome, run.Error, run.VMCount, run.Counts)

	runs, _ := db.List(history.Filter{Namespace: "load"})
	fmt.Println(len(runs), runs[0].ID == rec.ID())
	// Output:
	// failed 1 VM failed 1 map[created:1]
	// 1 true
}
