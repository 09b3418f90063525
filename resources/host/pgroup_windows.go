//go:build windows

package host

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a new process group, which the console's
// Ctrl-C does not reach.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
