// Package testenv decides what a test does when something it needs from
// the machine (a tool, the real schemas, root) is missing: skip on a
// developer's machine, fail under CI, where .ci/install-deps.sh installs
// everything and a skip would pass a check that never ran.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Required reports whether missing prerequisites fail tests: $CI or
// $VIRTWORK_REQUIRE_CLUSTER is set.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("VIRTWORK_REQUIRE_CLUSTER") != ""
}

// Missing skips the test with the message, or fails it under CI.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s (CI is set: a missing prerequisite fails the test instead of skipping it)", msg)
	}
	tb.Skip(msg)
}
