package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// badAdvice are phrases no lock message may contain: the local lock is
// held by a live process whenever it is reported held, and removing or
// breaking it would let two runs write the state at once.
var badAdvice = []string{"by hand", "force-unlock", "remove", "delete"}

func assertNoBadAdvice(t *testing.T, msg string) {
	t.Helper()
	for _, bad := range badAdvice {
		if strings.Contains(strings.ToLower(msg), bad) {
			t.Errorf("lock message contains %q:\n%s", bad, msg)
		}
	}
}

func TestLockExcludesAndNamesHolder(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	held, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + ".lock", path + ".lock.info"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, fi)
		}
	}
	var reports []string
	var mu sync.Mutex
	pctx := WithProgress(ctx, func(m string) { mu.Lock(); reports = append(reports, m); mu.Unlock() })
	start := time.Now()
	_, err = b.Lock(pctx, "plan", 300*time.Millisecond)
	waited := time.Since(start)
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock: %v", err)
	}
	if waited < 250*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", waited)
	}
	msg := err.Error()
	for _, want := range []string{held.ID(), "apply", strconv.Itoa(os.Getpid()), "@", "-lock-timeout", "operating system releases the lock"} {
		if !strings.Contains(msg, want) {
			t.Errorf("lock error lacks %q:\n%s", want, msg)
		}
	}
	assertNoBadAdvice(t, msg)
	if le.Info.ID != held.ID() || le.Info.Operation != "apply" || le.InfoErr != nil {
		t.Errorf("LockError = %+v", le)
	}
	mu.Lock()
	if len(reports) == 0 || !strings.Contains(reports[0], held.ID()) {
		t.Errorf("no visible wait report naming the holder: %q", reports)
	}
	mu.Unlock()

	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := held.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	for _, f := range []string{path + ".lock", path + ".lock.info"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Unlock left %s", f)
		}
	}
	again, err := b.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	_ = again.Unlock()
}

func TestLockWaitsForRelease(t *testing.T) {
	ctx := context.Background()
	b, _ := newLocal(t)
	var wg sync.WaitGroup
	results := make(chan error, 2)
	held := make(chan Lock, 2)
	// Two goroutines race; exactly one wins at once, the other waits and
	// gets the lock when the first releases it.
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := b.Lock(ctx, "apply", 5*time.Second)
			if err != nil {
				results <- err
				return
			}
			held <- l
			time.Sleep(100 * time.Millisecond)
			results <- l.Unlock()
		}()
	}
	wg.Wait()
	close(results)
	close(held)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	ids := map[string]bool{}
	for l := range held {
		ids[l.ID()] = true
	}
	if len(ids) != 2 {
		t.Errorf("want two distinct lock IDs, got %v", ids)
	}
}

func TestLockCanceledByContext(t *testing.T) {
	b, _ := newLocal(t)
	held, err := b.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Lock(ctx, "plan", time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	assertNoBadAdvice(t, err.Error())
}

// writeStaleRecord puts the record of a holder that is gone beside path,
// as a killed milink leaves it.
func writeStaleRecord(t *testing.T, path, id string) {
	t.Helper()
	rec := fmt.Sprintf(`{"id":%q,"operation":"apply","who":"dba@elsewhere","created":"2026-03-01T12:00:00Z","pid":999999,"path":%q}`, id, path)
	if err := os.WriteFile(path+".lock.info", []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestForceUnlock(t *testing.T) {
	const staleID = "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name string
		// setup returns the ID of the live lock it took, if any.
		setup      func(t *testing.T, b *local, path string) string
		id         string // "" means the live lock's ID
		wantErr    []string
		wantRecord bool // the record file is still there afterwards
	}{
		{
			name:    "not locked",
			setup:   func(*testing.T, *local, string) string { return "" },
			id:      "x",
			wantErr: []string{"not locked"},
		},
		{
			name: "live lock, its own ID",
			setup: func(t *testing.T, b *local, _ string) string {
				l, err := b.Lock(context.Background(), "apply", 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = l.Unlock() })
				return l.ID()
			},
			wantErr:    []string{"refused", "held by a running process", "cannot be broken", "operating system releases it"},
			wantRecord: true,
		},
		{
			name: "live lock, another ID",
			setup: func(t *testing.T, b *local, _ string) string {
				l, err := b.Lock(context.Background(), "apply", 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = l.Unlock() })
				return l.ID()
			},
			id:         "wrong-id",
			wantErr:    []string{"refused", "not \"wrong-id\"", "cannot be broken"},
			wantRecord: true,
		},
		{
			name: "live lock without a record",
			setup: func(t *testing.T, b *local, path string) string {
				f, err := b.acquire()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = releaseLockFile(f, b.lockPath()) })
				return ""
			},
			id:      staleID,
			wantErr: []string{"refused", "cannot identify", "cannot be broken"},
		},
		{
			name: "stale record of a dead holder, its ID",
			setup: func(t *testing.T, _ *local, path string) string {
				writeStaleRecord(t, path, staleID)
				return ""
			},
			id: staleID,
		},
		{
			name: "stale record of a dead holder, another ID",
			setup: func(t *testing.T, _ *local, path string) string {
				writeStaleRecord(t, path, staleID)
				return ""
			},
			id:         "99999999-0000-4000-8000-000000000000",
			wantErr:    []string{"not locked"},
			wantRecord: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, path := newLocal(t)
			live := tt.setup(t, b, path)
			id := tt.id
			if id == "" {
				id = live
			}
			err := b.ForceUnlock(context.Background(), id)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ForceUnlock: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("ForceUnlock succeeded")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
			}
			if _, err := os.Stat(path + ".lock.info"); (err == nil) != tt.wantRecord {
				t.Errorf("record exists = %v, want %v", err == nil, tt.wantRecord)
			}
			// A live lock is still held after any force-unlock.
			l, err := b.Lock(context.Background(), "plan", 0)
			if (live != "" || tt.name == "live lock without a record") == (err == nil) {
				t.Errorf("Lock after ForceUnlock: %v (live lock: %v)", err, live != "")
			}
			if err == nil {
				_ = l.Unlock()
			}
		})
	}
}

// A record that is missing or not milink's while the lock is held: the
// message says the holder is unknown and to wait, never to remove
// anything. The same record with nobody holding the lock is stale and
// does not stop anyone.
func TestLockUnreadableRecord(t *testing.T) {
	tests := []struct {
		name   string
		record *string // nil: no record file
	}{
		{"no record", nil},
		{"empty record", ptr("")},
		{"garbage record", ptr("{not json")},
		{"record without an ID", ptr(`{"who":"x"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, path := newLocal(t)
			if tt.record != nil {
				if err := os.WriteFile(path+".lock.info", []byte(*tt.record), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Held: an unidentified holder.
			f, err := b.acquire()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = b.Lock(context.Background(), "plan", 0)
			var le *LockError
			if !errors.As(err, &le) || le.InfoErr == nil {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			for _, want := range []string{"cannot identify", "unknown", "-lock-timeout"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			if tt.record != nil && !strings.Contains(msg, path+".lock.info") {
				t.Errorf("error does not name the record:\n%s", msg)
			}
			assertNoBadAdvice(t, msg)
			if tt.record == nil && time.Since(start) < recordSettleTries*recordSettlePause {
				t.Errorf("a missing record was reported after %v, without looking again", time.Since(start))
			}
			if err := releaseLockFile(f, b.lockPath()); err != nil {
				t.Fatal(err)
			}
			// Not held: the record is stale and replaced.
			l, err := b.Lock(context.Background(), "plan", 0)
			if err != nil {
				t.Fatalf("Lock with a stale record: %v", err)
			}
			if rec, err := b.readRecord(); err != nil || rec.ID != l.ID() {
				t.Errorf("record after Lock: %+v %v", rec, err)
			}
			_ = l.Unlock()
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultPath)
	h := startHelper(t, "hold-lock", path)
	id := h.expect(t, "LOCKED")

	b := NewLocal(path)
	_, err := b.Lock(context.Background(), "plan", 200*time.Millisecond)
	if err == nil {
		t.Fatal("took a lock another process holds")
	}
	for _, want := range []string{id, "PID:       " + strconv.Itoa(h.cmd.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	assertNoBadAdvice(t, err.Error())

	// Release in the other process while we wait: the wait succeeds.
	done := make(chan error, 1)
	go func() {
		l, err := b.Lock(context.Background(), "plan", 10*time.Second)
		if err == nil {
			err = l.Unlock()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_ = h.stdin.Close()
	if err := <-done; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper exit: %v", err)
	}
}

// kill -9 of the holder: the operating system releases the lock, so the
// next Lock succeeds at once with no force-unlock, notes the dead holder,
// and replaces its record.
func TestLockFreeAfterKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultPath)
	h := startHelper(t, "hold-lock", path)
	id := h.expect(t, "LOCKED")
	b := NewLocal(path).(*local)
	if _, err := b.Lock(context.Background(), "plan", 0); err == nil {
		t.Fatal("took a lock a live process holds")
	}
	h.kill9(t)

	var notes []string
	ctx := WithProgress(context.Background(), func(m string) { notes = append(notes, m) })
	l, err := b.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	if joined := strings.Join(notes, "\n"); !strings.Contains(joined, id) || !strings.Contains(joined, "ended without releasing") {
		t.Errorf("the dead holder was not noted: %q", notes)
	}
	if rec, err := b.readRecord(); err != nil || rec.ID != l.ID() || rec.Operation != "plan" {
		t.Errorf("record = %+v %v, want ours", rec, err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// Two processes take and release the lock as fast as they can, many
// times: never both at once, and no refusal ever shows a garbled record,
// names the wrong holder, or advises removing or breaking the lock.
func TestLockRaceBetweenProcesses(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	path := filepath.Join(t.TempDir(), DefaultPath)
	var hs []*helper
	for range 2 {
		h := startHelper(t, "race", path, "MILINK_STATE_HELPER_ROUNDS="+strconv.Itoa(rounds))
		h.expect(t, "READY")
		hs = append(hs, h)
	}
	for _, h := range hs {
		_, _ = h.stdin.Write([]byte("go\n"))
	}
	won, lost, unknown := 0, 0, 0
	for i, h := range hs {
		for {
			line, err := h.out.ReadString('\n')
			if err != nil {
				t.Fatalf("helper %d: %v", i, err)
			}
			if n, ok := strings.CutPrefix(line, "DONE "); ok {
				var w, l, u int
				if _, err := fmt.Sscan(n, &w, &l, &u); err != nil {
					t.Fatalf("helper %d: %q", i, line)
				}
				won, lost, unknown = won+w, lost+l, unknown+u
				break
			}
			t.Errorf("helper %d: %s", i, strings.TrimSpace(line))
		}
	}
	t.Logf("%d rounds: won %d, refused %d (holder unidentified: %d)", 2*rounds, won, lost, unknown)
	if won+lost != 2*rounds || won == 0 {
		t.Errorf("won %d + lost %d != %d", won, lost, 2*rounds)
	}
	if lost == 0 {
		t.Error("the two processes never contended: the test proved nothing")
	}
	if unknown > 0 {
		t.Errorf("%d refusals could not name the holder", unknown)
	}
}
