package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLockExcludesAndNamesHolder(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	held, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".lock")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", err, fi)
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
	for _, want := range []string{held.ID(), "apply", strconv.Itoa(os.Getpid()), "milink force-unlock " + held.ID(), "@"} {
		if !strings.Contains(msg, want) {
			t.Errorf("lock error lacks %q:\n%s", want, msg)
		}
	}
	if le.Info.ID != held.ID() || le.Info.Operation != "apply" {
		t.Errorf("LockError.Info = %+v", le.Info)
	}
	mu.Lock()
	if len(reports) == 0 || !strings.Contains(reports[0], held.ID()) {
		t.Errorf("no visible wait report naming the holder: %q", reports)
	}
	mu.Unlock()

	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Unlock left the lock file")
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
}

func TestForceUnlock(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	if err := b.ForceUnlock(ctx, "x"); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("ForceUnlock of an unlocked state: %v", err)
	}
	held, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "wrong-id", held.ID()[:8]} {
		if err := b.ForceUnlock(ctx, wrong); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("ForceUnlock(%q) = %v, want refusal", wrong, err)
		}
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatal("a refused force-unlock removed the lock")
	}
	if err := b.ForceUnlock(ctx, held.ID()); err != nil {
		t.Fatal(err)
	}
	other, err := b.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The original holder must not remove a lock that is now someone else's.
	if err := held.Unlock(); err == nil || !strings.Contains(err.Error(), "not ours") {
		t.Errorf("stale Unlock = %v", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatal("stale Unlock removed another holder's lock")
	}
	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestLockUnreadableRecord(t *testing.T) {
	b, path := newLocal(t)
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := b.Lock(context.Background(), "plan", 0)
	if err == nil || !strings.Contains(err.Error(), "could not be read") || !strings.Contains(err.Error(), path+".lock") {
		t.Fatalf("err = %v", err)
	}
}

func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultPath)
	h := startHelper(t, "hold-lock", path)
	id := h.expect(t, "LOCKED")
	cmd := h.cmd

	b := NewLocal(path)
	_, err := b.Lock(context.Background(), "plan", 200*time.Millisecond)
	if err == nil {
		t.Fatal("took a lock another process holds")
	}
	for _, want := range []string{id, "PID:       " + strconv.Itoa(cmd.Process.Pid), "milink force-unlock " + id} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

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
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper exit: %v", err)
	}
}
