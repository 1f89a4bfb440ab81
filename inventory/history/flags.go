package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Environment variables, read through the getenv the CLI passes.
const (
	EnvDB        = "VIRTWORK_HISTORY_DB"
	EnvNoHistory = "VIRTWORK_NO_HISTORY"
)

// DBFlags are the history flags of apply and destroy; the CLI embeds the
// struct (kong tags) next to config.Flags.
type DBFlags struct {
	DB        *string `name:"history-db" placeholder:"PATH" help:"Run history database (env VIRTWORK_HISTORY_DB; default $XDG_STATE_HOME/virtwork/history.db, else ~/.local/state/virtwork/history.db). See 'virtwork history'."`
	NoHistory bool    `name:"no-history" help:"Do not record this run (env VIRTWORK_NO_HISTORY=true); the way to go on when the history database is broken or locked."`
}

// Open resolves the flags and environment and opens the database (see
// Open); it returns nil and no error when history is turned off. Call it
// before any cluster work: a broken or locked database stops the command
// there, and the error says how to go on.
func (f DBFlags) Open(getenv func(string) (string, bool)) (*DB, error) {
	return f.OpenWithDefault(getenv, "", false)
}

// OpenWithDefault is Open with the config file's settings (historyDb,
// noHistory) below the flags and the environment: the path is --history-db,
// else VIRTWORK_HISTORY_DB, else fileDB (when not ""), else DefaultPath;
// history is off with --no-history, else as VIRTWORK_NO_HISTORY says when
// set, else as fileNoHistory says. A relative fileDB is taken as it is
// (relative to the working directory).
func (f DBFlags) OpenWithDefault(getenv func(string) (string, bool), fileDB string, fileNoHistory bool) (*DB, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	off := f.NoHistory
	if !off {
		off = fileNoHistory
		if v, ok := getenv(EnvNoHistory); ok && v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: want true or false", EnvNoHistory, v)
			}
			off = b
		}
	}
	if off {
		return nil, nil
	}
	path, err := ResolvePathWithDefault(f.DB, getenv, fileDB)
	if err != nil {
		return nil, err
	}
	return open(path, true)
}

// ResolvePath returns the database path: flag, else VIRTWORK_HISTORY_DB,
// else DefaultPath.
func ResolvePath(flag *string, getenv func(string) (string, bool)) (string, error) {
	return ResolvePathWithDefault(flag, getenv, "")
}

// ResolvePathWithDefault returns the database path: flag, else
// VIRTWORK_HISTORY_DB, else fileDB (the config file's historyDb, when not
// ""), else DefaultPath.
func ResolvePathWithDefault(flag *string, getenv func(string) (string, bool), fileDB string) (string, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if flag != nil {
		if *flag == "" {
			return "", errors.New("--history-db: empty path")
		}
		return *flag, nil
	}
	if v, ok := getenv(EnvDB); ok && v != "" {
		return v, nil
	}
	if fileDB != "" {
		return fileDB, nil
	}
	return DefaultPath(getenv)
}

// DefaultPath is $XDG_STATE_HOME/virtwork/history.db, else
// ~/.local/state/virtwork/history.db (the XDG base directory default).
func DefaultPath(getenv func(string) (string, bool)) (string, error) {
	if v, ok := getenv("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "virtwork", "history.db"), nil
	}
	home, ok := getenv("HOME")
	if !ok || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no place for the run history: set XDG_STATE_HOME or HOME, pass --history-db PATH, or pass --no-history")
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "virtwork", "history.db"), nil
}
