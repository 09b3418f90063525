//go:build unix

package labcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// detach starts the lab in a session of its own: it outlives this command
// and its terminal, and the Ctrl-C the terminal sends to its foreground
// process group does not reach it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// terminate stops a lab process that cannot be asked through its control
// API (it has not opened it yet). SIGTERM, not SIGKILL: serve handles it
// and still closes what it opened.
func terminate(p *os.Process) error {
	return p.Signal(syscall.SIGTERM)
}

// processGone reports whether pid has exited (a zombie counts as exited:
// it runs nothing any more and only waits for its parent to reap it).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		// With /proc mounted, the process went away after kill(2) saw it.
		// Without /proc (macOS, the BSDs) kill(2) is all there is to go
		// by, and it said the process exists.
		return errors.Is(err, fs.ErrNotExist) && procMounted()
	}
	// The state follows the parenthesised command name, which may contain spaces.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}
