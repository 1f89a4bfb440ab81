package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// A run's end that cannot be written to the database (the file stayed
// locked, or broke, while the run went on) is kept as PATH.pending/ID.json
// and merged into the database by the next Open, List or Get, so the
// cluster work of the run is never lost from the record. A file is written
// whole and renamed into place, so a merge never sees half of one.

// PendingDir is where the ends of runs that could not be written to the
// database at path wait to be merged.
func PendingDir(path string) string { return path + ".pending" }

// keepPending writes run to the pending directory.
func (db *DB) keepPending(run *Run) error {
	dir := PendingDir(db.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(run)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+run.ID+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	file := filepath.Join(dir, run.ID+".json")
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// pendingFiles lists the pending runs' files (none when the directory is
// absent, the usual case).
func (db *DB) pendingFiles() []string {
	entries, err := os.ReadDir(PendingDir(db.path))
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			files = append(files, filepath.Join(PendingDir(db.path), n))
		}
	}
	return files
}

// mergePendingTx stores the pending runs in tx and returns the files to
// remove once tx is committed. A file that does not hold a run is renamed
// to FILE.broken, kept for a look but not read again.
func (db *DB) mergePendingTx(tx *bolt.Tx, files []string) ([]string, error) {
	var merged []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // merged meanwhile by another process
		}
		var run Run
		if err == nil {
			err = json.Unmarshal(b, &run)
		}
		if err == nil && run.ID != strings.TrimSuffix(filepath.Base(file), ".json") {
			err = fmt.Errorf("holds run %q", run.ID)
		}
		if err != nil {
			os.Rename(file, file+".broken")
			continue
		}
		if err := db.store(tx, &run); err != nil {
			return nil, fmt.Errorf("history database %s: merging %s: %w", db.path, file, err)
		}
		merged = append(merged, file)
	}
	return merged, nil
}

// mergePending merges the pending runs, if any, in a write transaction of
// its own.
func (db *DB) mergePending() error {
	files := db.pendingFiles()
	if len(files) == 0 {
		return nil
	}
	var merged []string
	err := db.update(func(tx *bolt.Tx) error {
		var err error
		merged, err = db.mergePendingTx(tx, files)
		return err
	})
	removeAll(merged)
	return err
}

func removeAll(files []string) {
	for _, f := range files {
		os.Remove(f)
	}
}
