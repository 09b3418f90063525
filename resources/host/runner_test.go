//go:build unix

package host

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Ctrl-C (the context cancelled with the signal as its cause) during an
// ordinary command stops it, and the error says so, not "signal: killed".
func TestLocalRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("interrupt signal received")) })
	start := time.Now()
	_, _, err := Local{}.Run(ctx, []string{"sleep", "5"})
	if err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("ran %s after the cancel", time.Since(start))
	}
	if strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "interrupt signal received") {
		t.Errorf("error %q", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
}

// Under Shielded, cancelling the parent context does not stop a command
// that has started: it runs to its end and succeeds.
func TestLocalRunShielded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	out, _, err := Local{}.Run(Shielded(ctx), []string{"sh", "-c", "sleep 0.4; echo done"})
	if err != nil {
		t.Fatalf("shielded command: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the parent was not cancelled while the command ran")
	}
	if strings.TrimSpace(string(out)) != "done" {
		t.Errorf("stdout %q", out)
	}
}

// The terminal's Ctrl-C goes to the foreground process group: a shielded
// command must be in another one, an ordinary command in milink's.
func TestLocalRunProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pgid := func(ctx context.Context) int {
		t.Helper()
		out, _, err := Local{}.Run(ctx, []string{"cat", "/proc/self/stat"})
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ppid pgrp ...
		s := string(out)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		n, err := strconv.Atoi(fields[2])
		if err != nil {
			t.Fatalf("stat %q: %v", s, err)
		}
		return n
	}
	own := syscall.Getpgrp()
	if got := pgid(context.Background()); got != own {
		t.Errorf("ordinary command in process group %d, want %d", got, own)
	}
	if got := pgid(Shielded(context.Background())); got == own {
		t.Errorf("shielded command in milink's process group %d", got)
	}
}
