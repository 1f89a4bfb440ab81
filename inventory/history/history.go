// Package history keeps the local record of virtwork runs (apply, destroy
// and their dry runs) in a go.etcd.io/bbolt file: what ran where, with which
// settings, how it ended, what happened to each object and how long each VM
// took to become ready.
//
// The file is opened only for short transactions (open, read or write,
// close), never for the length of a run: a Recorder keeps the run in memory
// and writes it when it starts (as "running") and when it ends. So two
// virtwork processes can record runs at the same time, and a lock held for
// longer than DefaultLockTimeout is reported (ErrLocked), not waited on;
// only the end of a run waits longer (DefaultFinishTimeout), and is kept
// in PATH.pending/ID.json for a later merge should the lock outlast that.
//
// Layout (schema version 1):
//
//	meta     schemaVersion -> decimal version
//	runs     run id -> JSON Run without Objects, VMs and Problems
//	details  run id -> gzip-compressed JSON of those three lists
//
// Run ids sort by start time, so a cursor walks runs in time order, and
// listing never decompresses the per-object and per-VM details.
package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout bounds how long opening the file waits for another
// process's transaction. Transactions take milliseconds, so a lock held
// this long means a stuck or foreign process.
const DefaultLockTimeout = 5 * time.Second

// DefaultFinishTimeout bounds the wait for the lock when a Recorder
// writes the end of a run. The cluster work is done by then, so waiting
// costs nothing but time; past it, the end is kept in PendingDir.
const DefaultFinishTimeout = 60 * time.Second

var (
	// ErrLocked: another process held the file longer than the lock timeout.
	ErrLocked = errors.New("history database is locked")
	// ErrCorrupt: the file is not a readable virtwork history database.
	ErrCorrupt = errors.New("history database is unreadable")
	// ErrNotFound: no run has the given id.
	ErrNotFound = errors.New("no such run")
)

var (
	bucketMeta    = []byte("meta")
	bucketRuns    = []byte("runs")
	bucketDetails = []byte("details")
	keyVersion    = []byte("schemaVersion")
)

// migrations[i] upgrades a database from schema version i to i+1; version 0
// is a new, empty file. A newer virtwork appends steps and so opens every
// older database; the steps run in the write transaction of Open.
var migrations = []func(tx *bolt.Tx) error{
	// 0 -> 1: the buckets.
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRuns, bucketDetails} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// SchemaVersion is the schema this virtwork writes.
func SchemaVersion() int { return len(migrations) }

// DB is a history database file. It holds no open file between calls; each
// method opens the file, runs one transaction and closes it again.
type DB struct {
	path string
	// recording is set for apply and destroy (DBFlags.Open), whose error
	// messages may suggest --no-history; the history commands have no
	// such flag.
	recording bool
	// LockTimeout bounds the wait for another process's lock
	// (DefaultLockTimeout when zero).
	LockTimeout time.Duration
	// FinishTimeout bounds it for the end of a run (DefaultFinishTimeout
	// when zero).
	FinishTimeout time.Duration
}

// Open checks the history database at path (bbolt's consistency check of
// every page), creating it (and its directory) when missing and upgrading
// an older schema, and returns a
// handle for later short transactions. It fails fast, before any cluster
// work, with ErrLocked or ErrCorrupt in a one-line error that names the
// file and the way out.
//
// Open is for the history commands: its errors do not suggest
// --no-history. apply and destroy open through DBFlags.Open, whose errors do.
func Open(path string) (*DB, error) { return open(path, false) }

func open(path string, recording bool) (*DB, error) {
	if path == "" {
		return nil, errors.New("history database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("history database %s: %w", path, err)
	}
	db := &DB{path: abs, recording: recording}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("history database %s: %w", abs, err)
	}
	var merged []string
	err = db.with(false, func(bdb *bolt.DB) error {
		// Migrate, and merge the ends of runs kept aside (see PendingDir).
		err := bdb.Update(func(tx *bolt.Tx) error {
			if err := db.migrate(tx); err != nil {
				return err
			}
			var err error
			merged, err = db.mergePendingTx(tx, db.pendingFiles())
			return err
		})
		if err != nil {
			return err
		}
		// Walk every page now, so that damage deep in the file stops the
		// command here rather than when the run's end is written.
		return bdb.View(func(tx *bolt.Tx) error {
			var first error
			for err := range tx.Check() { // drain: the check runs on until done
				if first == nil {
					first = db.corrupt(err)
				}
			}
			return first
		})
	})
	if err != nil {
		return nil, err
	}
	removeAll(merged)
	return db, nil
}

// Check reports whether the history database at path can be used for
// recording an apply or destroy (see Open and DBFlags.Open).
func Check(path string) error {
	_, err := open(path, true)
	return err
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// fileLocks serializes this process's opens of one file: bbolt's flock
// would also do it, but only by polling.
var fileLocks sync.Map // path -> *sync.Mutex

// brokenFiles remembers files on which bbolt.Open panicked. Such an open
// leaves the file mapped, and the mapping keeps bbolt's lock until the
// process ends; later calls get the same error at once rather than after
// the lock timeout.
var brokenFiles sync.Map // path -> error

func (db *DB) lockTimeout() time.Duration {
	if db.LockTimeout > 0 {
		return db.LockTimeout
	}
	return DefaultLockTimeout
}

// update runs fn in a write transaction, after bringing the schema up to
// date.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	return db.with(false, func(bdb *bolt.DB) error {
		return bdb.Update(func(tx *bolt.Tx) error {
			if err := db.migrate(tx); err != nil {
				return err
			}
			return fn(tx)
		})
	})
}

// view runs fn in a read transaction. Open has migrated the schema; a
// file replaced since then by an older or foreign one gives an error.
func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.with(true, func(bdb *bolt.DB) error {
		return bdb.View(func(tx *bolt.Tx) error {
			v, err := db.version(tx)
			if err != nil {
				return err
			}
			if v != SchemaVersion() {
				return db.versionError(v)
			}
			return fn(tx)
		})
	})
}

// with opens the file, runs fn and closes it. bbolt panics on some damaged
// pages, and reading a page of the mapped file past its end (a truncated
// file) faults; both become ErrCorrupt like its open errors, instead of
// killing the process in the middle of an apply. (bbolt works in the
// calling goroutine, which SetPanicOnFault covers.)
func (db *DB) with(readOnly bool, fn func(*bolt.DB) error) (err error) {
	mu, _ := fileLocks.LoadOrStore(db.path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if err, ok := brokenFiles.Load(db.path); ok {
		return err.(error)
	}
	if err := checkSize(db.path); err != nil {
		return db.corrupt(err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var bdb *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			err = db.corrupt(fmt.Errorf("%v", r))
			if bdb == nil {
				brokenFiles.Store(db.path, err)
			}
		}
	}()
	bdb, err = bolt.Open(db.path, 0o600, &bolt.Options{Timeout: db.lockTimeout(), ReadOnly: readOnly})
	if err != nil {
		return db.openError(err)
	}
	defer func() {
		if cerr := bdb.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("history database %s: %w", db.path, cerr)
		}
	}()
	return fn(bdb)
}

func (db *DB) openError(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		if db.recording {
			return kindError{ErrLocked, fmt.Sprintf("history database %s is locked by another virtwork process; retry, or pass --no-history", db.path)}
		}
		return kindError{ErrLocked, fmt.Sprintf("history database %s is locked by another virtwork process; retry when that process is done", db.path)}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return db.corrupt(err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("history database %s: %w (fix its permissions, or pass --history-db with another file%s)", db.path, err, db.orNoHistory())
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("history database %s: %v (pass --history-db with another file%s)", db.path, pe.Err, db.orNoHistory())
	}
	return db.corrupt(err)
}

// orNoHistory is the advice to record nothing, for apply and destroy.
func (db *DB) orNoHistory() string {
	if db.recording {
		return ", or pass --no-history"
	}
	return ""
}

func (db *DB) corrupt(cause error) error {
	return kindError{ErrCorrupt, fmt.Sprintf("history database %s is unreadable (%v); move it aside with 'mv %s %s.broken' (a new one is started on the next run), or pass --no-history to apply or destroy without recording",
		db.path, cause, db.path, db.path)}
}

// kindError is a whole message that errors.Is matches to its kind.
type kindError struct {
	kind error
	msg  string
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }

// version reads the schema version: 0 for a new file.
func (db *DB) version(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		foreign := false
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil })
		if foreign {
			return 0, db.corrupt(errors.New("a bbolt file, but not a virtwork history: it has no schema version"))
		}
		return 0, nil
	}
	v, err := strconv.Atoi(string(meta.Get(keyVersion)))
	if err != nil || v < 1 {
		return 0, db.corrupt(fmt.Errorf("bad schema version %q", meta.Get(keyVersion)))
	}
	return v, nil
}

func (db *DB) versionError(v int) error {
	if v > SchemaVersion() {
		return fmt.Errorf("history database %s has schema version %d, newer than this virtwork understands (%d); use a newer virtwork, or pass --history-db with another file%s",
			db.path, v, SchemaVersion(), db.orNoHistory())
	}
	return fmt.Errorf("history database %s has schema version %d, older than expected (%d); it was replaced while in use, retry", db.path, v, SchemaVersion())
}

// migrate brings the schema to SchemaVersion, or refuses a newer one.
func (db *DB) migrate(tx *bolt.Tx) error {
	v, err := db.version(tx)
	if err != nil {
		return err
	}
	if v > SchemaVersion() {
		return db.versionError(v)
	}
	if v == SchemaVersion() {
		return nil
	}
	for ; v < SchemaVersion(); v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("history database %s: upgrading schema version %d to %d: %w", db.path, v, v+1, err)
		}
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keyVersion, []byte(strconv.Itoa(v)))
}
