package history

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// details is what the details bucket holds per run.
type details struct {
	Objects  []Object  `json:"objects,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	VMs      []VM      `json:"vms,omitempty"`
}

// Put writes run (its figures computed from its details), replacing a
// record with the same id. A succeeded destroy also gets RemovedRuns.
func (db *DB) Put(run *Run) error {
	if run.ID == "" {
		return errors.New("history: run without an id")
	}
	return db.update(func(tx *bolt.Tx) error { return db.store(tx, run) })
}

// store is Put in a transaction.
func (db *DB) store(tx *bolt.Tx, run *Run) error {
	run.summarize()
	if run.Command == "destroy" && !run.DryRun && run.Outcome == Succeeded && run.InventoryID != "" {
		run.RemovedRuns = removedBy(tx, run)
	}
	return putRun(tx, run)
}

func putRun(tx *bolt.Tx, run *Run) error {
	head := *run
	head.Objects, head.Problems, head.VMs = nil, nil, nil
	hb, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	var db bytes.Buffer
	zw := gzip.NewWriter(&db)
	if err := json.NewEncoder(zw).Encode(details{Objects: run.Objects, Problems: run.Problems, VMs: run.VMs}); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tx.Bucket(bucketRuns).Put([]byte(run.ID), hb); err != nil {
		return err
	}
	return tx.Bucket(bucketDetails).Put([]byte(run.ID), db.Bytes())
}

// removedBy lists the apply runs whose objects destroy run removed: those
// of its inventory since the last destroy of it that succeeded.
func removedBy(tx *bolt.Tx, run *Run) []string {
	var ids []string
	c := tx.Bucket(bucketRuns).Cursor()
	k, v := c.Seek([]byte(run.ID))
	if k == nil {
		k, v = c.Last()
	}
	for ; k != nil; k, v = c.Prev() {
		if string(k) >= run.ID {
			continue
		}
		var r Run
		if json.Unmarshal(v, &r) != nil || r.InventoryID != run.InventoryID || r.DryRun {
			continue
		}
		if r.Command == "destroy" && r.Outcome == Succeeded {
			break
		}
		if r.Command == "apply" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Filter selects runs; empty fields match all.
type Filter struct {
	Namespace, Name string
	Outcome         Outcome
	// Limit caps the number of runs returned (0: all).
	Limit int
}

func (f Filter) match(r *Run) bool {
	return (f.Namespace == "" || r.Namespace == f.Namespace) &&
		(f.Name == "" || r.Name == f.Name) &&
		(f.Outcome == "" || r.Outcome == f.Outcome)
}

// List returns the runs that match f, newest first, without their details
// (Objects, Problems, VMs).
func (db *DB) List(f Filter) ([]*Run, error) {
	// Best effort: should the merge fail, the view below says why.
	_ = db.mergePending()
	var out []*Run
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := db.decode(k, v)
			if err != nil {
				return err
			}
			if !f.match(r) {
				continue
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Get returns the run whose id is or starts with id, with its details
// (objects in SortObjects order).
func (db *DB) Get(id string) (*Run, error) {
	if id == "" {
		return nil, errors.New("empty run id")
	}
	_ = db.mergePending() // as in List
	var run *Run
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		var matches []string
		var key, val []byte
		for k, v := c.Seek([]byte(id)); k != nil && bytes.HasPrefix(k, []byte(id)); k, v = c.Next() {
			if len(matches) == 0 {
				key, val = k, v
			}
			matches = append(matches, string(k))
			if string(k) == id { // an exact id wins over longer ones
				key, val, matches = k, v, matches[:1]
				break
			}
		}
		switch {
		case len(matches) == 0:
			return fmt.Errorf("%w %q in %s ('virtwork history' lists the runs)", ErrNotFound, id, db.path)
		case len(matches) > 1:
			return fmt.Errorf("run id %q is ambiguous: it starts %s; give more of it", id, strings.Join(matches[:min(len(matches), 5)], ", "))
		}
		r, err := db.decode(key, val)
		if err != nil {
			return err
		}
		if d := tx.Bucket(bucketDetails).Get(key); d != nil {
			var det details
			zr, err := gzip.NewReader(bytes.NewReader(d))
			if err == nil {
				err = json.NewDecoder(zr).Decode(&det)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return db.corrupt(fmt.Errorf("details of run %s: %v", key, err))
			}
			r.Objects, r.Problems, r.VMs = det.Objects, det.Problems, det.VMs
			SortObjects(r.Objects)
		}
		run = r
		return nil
	})
	return run, err
}

// Prune deletes the runs that started before cutoff and returns how many.
// The file does not shrink: bbolt reuses the freed pages for later runs.
func (db *DB) Prune(cutoff time.Time) (int, error) {
	n := 0
	err := db.update(func(tx *bolt.Tx) error {
		runs, dets := tx.Bucket(bucketRuns), tx.Bucket(bucketDetails)
		var doomed [][]byte
		c := runs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := db.decode(k, v)
			if err != nil {
				return err
			}
			if r.Start.Before(cutoff) {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		for _, k := range doomed {
			if err := runs.Delete(k); err != nil {
				return err
			}
			if err := dets.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

func (db *DB) decode(k, v []byte) (*Run, error) {
	r := new(Run)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, db.corrupt(fmt.Errorf("run %s: %v", k, err))
	}
	r.markAbandoned()
	return r, nil
}

// markAbandoned shows a run still "running" whose process on this machine
// is gone as Unknown: the process was killed before it could write the end
// (an interrupt that virtwork saw is recorded as such), so how the run
// ended is not known. The record itself is left as it is.
func (r *Run) markAbandoned() {
	if r.Outcome != Running || r.PID <= 0 || r.Host == "" {
		return
	}
	if h, _ := os.Hostname(); h != r.Host {
		return
	}
	if !processAlive(r.PID) {
		r.Outcome = Unknown
		r.Error = fmt.Sprintf("virtwork (pid %d) ended without writing the end of the run", r.PID)
	}
}

// kindOrder ranks the kinds virtwork renders in the order it applies them;
// other kinds come after, by name.
var kindOrder = map[string]int{"Namespace": 1, "Secret": 2, "Service": 3, "VirtualMachine": 4}

// SortObjects orders objects by kind (Namespace, Secret, Service,
// VirtualMachine, then other kinds alphabetically), then namespace, name
// and group: events arrive in whatever order the parallel apply finished
// them, a record reads better, and compares, in a fixed one.
func SortObjects(objs []Object) {
	rank := func(kind string) int {
		if r, ok := kindOrder[kind]; ok {
			return r
		}
		return len(kindOrder) + 1
	}
	slices.SortStableFunc(objs, func(a, b Object) int {
		return cmp.Or(
			cmp.Compare(rank(a.Kind), rank(b.Kind)),
			strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Group, b.Group))
	})
}
