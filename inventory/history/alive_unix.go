//go:build unix

package history

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists here.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
