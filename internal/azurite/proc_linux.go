package azurite

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes Azurite die with the test binary, even when that
// is killed without running its cleanup.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
