//go:build unix

package labcmd

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// stopStarted asks a lab that has opened its control API to go down, as
// "down" does on every OS, and signals only a process that has not.
func TestStopStarted(t *testing.T) {
	t.Run("control API open: asked through it, not signalled", func(t *testing.T) {
		// The "lab process" is this test process: a signal would reach us.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		defer signal.Stop(sigs)
		l, err := lab.Open(lab.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctl, err := lab.StartControl(l)
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		self, err := os.FindProcess(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		stopStarted(l.Dir(), self)
		select {
		case <-ctl.Down():
		case <-time.After(5 * time.Second):
			t.Fatal("the lab was not asked to go down")
		}
		select {
		case <-sigs:
			t.Fatal("the lab process was signalled although its control API answered")
		case <-time.After(100 * time.Millisecond):
		}
	})
	t.Run("no control API: terminated", func(t *testing.T) {
		cmd := exec.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Skip("no `sleep` to run:", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		stopStarted(t.TempDir(), cmd.Process)
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
				t.Fatalf("the process ended with %v, want SIGTERM", err)
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Fatal("the process was not stopped")
		}
	})
}
