package testcluster

import (
	"errors"
	"testing"
)

// Run is Main without the os.Exit, for a TestMain that wraps m.Run in
// something else (testscript.Main re-executes the test binary as the
// commands under test, and only the parent may start a cluster).
func Run(m *testing.M, opts Options) int { return runMain(m, opts) }

// Shared returns the cluster Run or Main started, or why there is none.
func Shared() (*Cluster, error) {
	if shared == nil && sharedErr == nil {
		return nil, errNoMain
	}
	return shared, sharedErr
}

var errNoMain = errors.New("testcluster: no cluster; call testcluster.Main or Run from TestMain")
