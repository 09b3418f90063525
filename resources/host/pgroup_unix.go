//go:build unix

package host

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a new process group, out of reach of the
// terminal's SIGINT.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
