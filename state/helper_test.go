package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The helper process is this test binary re-executed with
// MILINK_STATE_HELPER set to a mode; it acts on the state at
// MILINK_STATE_HELPER_PATH and reports on stdout, one line per event, so
// that a test can kill it (-9) at a known point.
const (
	helperModeEnv = "MILINK_STATE_HELPER"
	helperPathEnv = "MILINK_STATE_HELPER_PATH"
)

var helperModes = map[string]func(path string) int{
	// hold-lock takes the lock, says LOCKED ID, and releases it when
	// stdin closes.
	"hold-lock": func(path string) int {
		l, err := NewLocal(path).Lock(context.Background(), "apply", 0)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		fmt.Println("LOCKED", l.ID())
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		if err := l.Unlock(); err != nil {
			fmt.Println("ERR", err)
			return 4
		}
		return 0
	},
	// race waits for a line on stdin, then takes and releases the lock
	// MILINK_STATE_HELPER_ROUNDS times as fast as it can, without waiting
	// when it is held. Every refusal whose message is wrong (a garbled
	// record, advice to remove or force-unlock the lock) is a BAD line;
	// two holders at once are an OVERLAP line. It ends with DONE won lost
	// unknown.
	"race": func(path string) int {
		rounds, _ := strconv.Atoi(os.Getenv("MILINK_STATE_HELPER_ROUNDS"))
		fmt.Println("READY x")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		b := NewLocal(path)
		inside := path + ".inside"
		won, lost, unknown := 0, 0, 0
		for range rounds {
			l, err := b.Lock(context.Background(), "apply", 0)
			if err != nil {
				lost++
				var le *LockError
				msg := err.Error()
				switch {
				case !errors.As(err, &le):
					fmt.Printf("BAD not a LockError: %q\n", msg)
				case le.InfoErr != nil && !errors.Is(le.InfoErr, fs.ErrNotExist):
					fmt.Printf("BAD garbled record: %q\n", msg)
				case strings.Contains(msg, "by hand") || strings.Contains(msg, "force-unlock") || strings.Contains(msg, "remove"):
					fmt.Printf("BAD advice: %q\n", msg)
				case le.InfoErr != nil:
					unknown++
				case le.Info.PID == os.Getpid():
					fmt.Printf("BAD record names this process: %q\n", msg)
				}
				continue
			}
			won++
			if f, err := os.OpenFile(inside, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
				fmt.Println("OVERLAP", err)
			} else {
				_ = f.Close()
			}
			if rec, err := b.(*local).readRecord(); err != nil || rec.ID != l.ID() {
				fmt.Printf("BAD own record: %+v %v\n", rec, err)
			}
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
			_ = os.Remove(inside)
			if err := l.Unlock(); err != nil {
				fmt.Println("BAD unlock:", err)
			}
		}
		fmt.Println("DONE", won, lost, unknown)
		return 0
	},
	// record-then-hang loads the state, records MILINK_STATE_HELPER_ROUNDS
	// changes one by one (database.dbN, then removing hadr.sql01), says
	// RECORDED SERIAL after each, and stops forever: it is to be killed
	// before it compacts or unlocks.
	"record-then-hang": func(path string) int {
		rounds, _ := strconv.Atoi(os.Getenv("MILINK_STATE_HELPER_ROUNDS"))
		b := NewLocal(path)
		ctx := context.Background()
		s, err := b.Load(ctx)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		for i := range rounds {
			addr := fmt.Sprintf("database.db%d", i)
			s.Set(Resource{Address: addr, Kind: "database", Attributes: map[string]any{"n": float64(i)}})
			if err := b.Record(ctx, s, addr); err != nil {
				fmt.Println("ERR", err)
				return 3
			}
			fmt.Println("RECORDED", s.Serial)
		}
		s.Remove("hadr.sql01")
		if err := b.Record(ctx, s, "hadr.sql01"); err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		fmt.Println("RECORDED", s.Serial)
		select {}
	},
	// compact-then-hang records one change, then compacts and stops
	// forever after the new state file is in place and before the journal
	// is removed.
	"compact-then-hang": func(path string) int {
		b := NewLocal(path).(*local)
		ctx := context.Background()
		s, err := b.Load(ctx)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		s.Set(Resource{Address: "database.late", Kind: "database", Attributes: map[string]any{}})
		if err := b.Record(ctx, s, "database.late"); err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		b.beforeJournalRemove = func() {
			fmt.Println("COMPACTED", s.Serial)
			select {}
		}
		_ = b.compactJournal()
		return 5
	},
	// hang-in-save saves the state and stops, forever, after the
	// temporary file is written and before it replaces the state.
	"hang-in-save": func(path string) int {
		b := NewLocal(path).(*local)
		s, err := b.Load(context.Background())
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		b.afterWrite = func(tmp string) error {
			fmt.Println("WRITTEN", tmp)
			select {}
		}
		_ = b.Save(context.Background(), s)
		return 5
	},
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	fn, ok := helperModes[mode]
	if !ok {
		fmt.Println("ERR unknown helper mode", mode)
		os.Exit(2)
	}
	os.Exit(fn(os.Getenv(helperPathEnv)))
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelper starts the helper in mode on path; it is killed when the
// test ends if it is still running.
func startHelper(t *testing.T, mode, path string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperPathEnv+"="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return h
}

// expect reads the helper's next line, which must start with prefix, and
// returns the rest.
func (h *helper) expect(t *testing.T, prefix string) string {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := h.out.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil || !strings.HasPrefix(r.line, prefix+" ") {
			t.Fatalf("helper said %q (%v), want %s ...", r.line, r.err, prefix)
		}
		return strings.TrimSpace(strings.TrimPrefix(r.line, prefix+" "))
	case <-time.After(30 * time.Second):
		t.Fatalf("helper said nothing for 30s, want %s", prefix)
	}
	return ""
}

// kill9 kills the helper the way a crash or kill -9 would: no deferred
// function, no cleanup, runs.
func (h *helper) kill9(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
}
