// Package child starts helper processes (servers, emulators) that die with
// the process that started them.
package child

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd in its own process group with SIGKILL as its
// parent-death signal, and returns a channel that receives cmd.Wait's
// result once the child has exited.
//
// Linux sends the parent-death signal when the thread that forked the child
// ends, not the process, and Go ends a thread whose goroutine exits while
// locked to it (code entering a network namespace does so on purpose). So
// the fork happens on a thread locked to a goroutine that lives exactly as
// long as the child: no other goroutine can end that thread.
func Start(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
