//go:build windows

package labcmd

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// detachedProcess is DETACHED_PROCESS, which package syscall does not name.
const detachedProcess = 0x00000008

// errorInvalidParameter is what OpenProcess answers for a process id that
// does not exist (any more).
const errorInvalidParameter = syscall.Errno(87)

// detach starts the lab without a console and in a process group of its
// own: closing the console window milink ran in, or pressing Ctrl-C or
// Ctrl-Break there, does not stop the lab, which outlives this command.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | detachedProcess}
}

// terminate stops a lab process that cannot be asked through its control
// API (it has not opened it yet). A process without a console receives no
// console events, so there is nothing gentler than TerminateProcess.
func terminate(p *os.Process) error {
	return p.Kill()
}

// processGone reports whether pid has exited: its handle is signalled, or
// no process has that id any more. One that exists but may not be opened
// (another user's) is still running.
func processGone(pid int) bool {
	h, err := syscall.OpenProcess(syscall.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return errors.Is(err, errorInvalidParameter)
	}
	defer syscall.CloseHandle(h)
	ev, err := syscall.WaitForSingleObject(h, 0)
	return err == nil && ev == syscall.WAIT_OBJECT_0
}
