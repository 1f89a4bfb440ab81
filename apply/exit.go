package apply

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/virtwork/virtwork/apply/event"
)

// Exit statuses of apply, destroy, status and diff.
const (
	ExitOK = 0
	// ExitError: the command could not do its work (bad input, cluster
	// unreachable, permission denied, KubeVirt not installed).
	ExitError = 1
	// ExitDiff: diff found differences (as diff(1) and kubectl diff). diff
	// reports errors with ExitDiffError.
	ExitDiff      = 1
	ExitDiffError = 2
	// ExitFailed: objects failed to apply or delete, or VMs failed
	// (ErrImagePull, DataVolume failed, ...).
	ExitFailed = 3
	// ExitTimeout: waiting ran out of time (--timeout) and nothing failed.
	ExitTimeout = 4
	// ExitInterrupted: the run was interrupted (Ctrl-C, SIGTERM).
	ExitInterrupted = 130
)

// ExitCode maps the result of Apply or Destroy to an exit status.
func ExitCode(s *event.Summary, err error) int {
	if s == nil {
		switch {
		case errors.Is(err, context.Canceled):
			// Interrupted before the run started (reading the
			// inventory, taking the lease).
			return ExitInterrupted
		case err != nil:
			return ExitError
		}
		return ExitOK
	}
	switch s.Outcome {
	case event.Succeeded:
		return ExitOK
	case event.TimedOut:
		return ExitTimeout
	case event.Interrupted:
		return ExitInterrupted
	}
	// Failed: a run error that stopped the run is an error (also when
	// the objects in flight failed with it: no server, no permission);
	// failed objects or VMs are failures.
	if err != nil && (s.Counts[event.Failed] == 0 || fatal(err) || apierrors.IsUnauthorized(err)) {
		return ExitError
	}
	return ExitFailed
}
