package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/milink/milink/internal/atomicfile"
)

// The local backend's lock is two files beside the state:
//
//   - PATH.lock carries the lock itself: a kernel lock (flock on Unix,
//     LockFileEx on Windows) on that file. Its content means nothing; its
//     mere presence means nothing either. The operating system releases the
//     lock when the holder ends, however it ends — kill -9 included — so
//     no lock can outlive its process, and none ever needs removing by hand.
//   - PATH.lock.info is the record of the holder (ID, operation, who, when,
//     pid) for the "locked by ..." message. The holder writes it after
//     taking the lock, through atomicfile (a rename), so a reader sees a
//     complete record or none, never an empty or half-written one; the
//     holder removes it before releasing the lock. A record without a
//     holder is what a killed holder leaves: stale, and replaced by the
//     next holder.

// errLocked is what tryLockFile returns when another holds the lock.
var errLocked = errors.New("held by another process")

func (l *local) lockPath() string   { return l.path + ".lock" }
func (l *local) recordPath() string { return l.path + ".lock.info" }

// recordSettle bounds how long a waiting process looks again for a holder's
// record that is not there: a holder writes it right after taking the lock
// and removes it right before releasing, so its absence is usually a
// matter of milliseconds.
const (
	recordSettleTries = 10
	recordSettlePause = 20 * time.Millisecond
)

// Lock takes the kernel lock on PATH.lock, then writes the record. While
// another process holds it, it retries with a growing pause (up to a
// second) until timeout, reporting through WithProgress; a timeout of 0
// tries once. After taking the lock it removes what a killed holder left:
// the stale record (reported), temporary files.
func (l *local) Lock(ctx context.Context, op string, timeout time.Duration) (Lock, error) {
	info := LockInfo{
		ID:        uuid.NewString(),
		Operation: op,
		Who:       whoami(),
		Created:   time.Now().UTC().Truncate(time.Second),
		PID:       os.Getpid(),
		Path:      l.path,
	}
	record, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("locking state %s: encoding the lock record: %w", l.path, err)
	}
	record = append(record, '\n')
	start := time.Now()
	deadline := start.Add(timeout)
	pause := 25 * time.Millisecond
	lastReport := time.Time{}
	missing := 0
	for {
		f, err := l.acquire()
		if err == nil {
			return l.took(ctx, f, info, record)
		}
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("locking state %s: %w", l.path, err)
		}
		holder, infoErr := l.readRecord()
		wait := pause
		if errors.Is(infoErr, fs.ErrNotExist) && missing < recordSettleTries {
			// The holder is between taking the lock and writing its record,
			// or between removing it and releasing the lock: look again
			// shortly rather than report an unknown holder.
			missing++
			wait = recordSettlePause
		} else {
			lerr := &LockError{Path: l.path, Info: holder, InfoErr: infoErr, Waited: time.Since(start)}
			if timeout <= 0 || !time.Now().Before(deadline) {
				return nil, lerr
			}
			if time.Since(lastReport) >= 5*time.Second {
				lastReport = time.Now()
				progress(ctx, fmt.Sprintf("Waiting for the state lock held by %s; giving up in %s", lerr.holder(), time.Until(deadline).Round(time.Second)))
			}
			if rest := time.Until(deadline); rest < wait {
				wait = rest
			}
			if pause < time.Second {
				pause *= 2
			}
		}
		if infoErr == nil {
			missing = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			lerr := &LockError{Path: l.path, Info: holder, InfoErr: infoErr, Waited: time.Since(start), Canceled: true}
			return nil, fmt.Errorf("%w: %w", lerr, ctx.Err())
		case <-t.C:
		}
	}
}

// acquire opens PATH.lock and takes the kernel lock on it without waiting.
// The previous holder removes the file at Unlock while still holding it;
// whoever had opened it before then gets the lock on a file that is no
// longer at PATH.lock, which would exclude nobody. So after locking, the
// file at PATH.lock must be the one locked, or it starts again.
func (l *local) acquire() (*os.File, error) {
	for range 100 {
		f, err := os.OpenFile(l.lockPath(), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := tryLockFile(f); err != nil {
			_ = f.Close()
			return nil, err
		}
		mine, err1 := f.Stat()
		cur, err2 := os.Stat(l.lockPath())
		if err1 == nil && err2 == nil && os.SameFile(mine, cur) {
			return f, nil
		}
		_ = f.Close()
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, err2
		}
	}
	return nil, fmt.Errorf("%s keeps being replaced while it is locked", l.lockPath())
}

// took finishes taking the lock once the kernel lock is held: it clears
// what a killed holder left behind and writes this holder's record.
func (l *local) took(ctx context.Context, f *os.File, info LockInfo, record []byte) (Lock, error) {
	if stale, err := l.readRecord(); err == nil {
		progress(ctx, fmt.Sprintf("Note: the previous holder of the state lock (%s, lock ID %s) ended without releasing it, so the operating system did; if it was applying, the state records what it finished.", describeHolder(stale), stale.ID))
	}
	// Removing first (a quick unlink) and then writing the new record
	// means a waiting process sees no record, and looks again, rather than
	// the dead holder's during the write.
	if err := os.Remove(l.recordPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = releaseLockFile(f, l.lockPath())
		return nil, fmt.Errorf("locking state %s: removing a stale lock record: %w", l.path, err)
	}
	if _, err := atomicfile.RemoveTemps(l.recordPath()); err != nil {
		progress(ctx, fmt.Sprintf("Warning: %v", err))
	}
	if err := atomicfile.WriteFile(l.recordPath(), record, 0o600); err != nil {
		_ = releaseLockFile(f, l.lockPath())
		return nil, fmt.Errorf("locking state %s: writing the lock record: %w", l.path, err)
	}
	l.removeLeftovers(ctx)
	// What a killed run recorded goes into the state file now, and a torn
	// last line from its crash goes away. On failure (a corrupt journal)
	// the files stay as they are and Load says what is wrong.
	if err := l.compactJournal(); err != nil {
		progress(ctx, fmt.Sprintf("Warning: %v", err))
	}
	return &localLock{l: l, info: info, f: f}, nil
}

// removeLeftovers deletes the temporary files of a run killed while it
// was writing the state. Only the lock holder may do it: another writer's
// temporary file looks the same. A failure is reported, not fatal: the
// leftovers are garbage, not state.
func (l *local) removeLeftovers(ctx context.Context) {
	removed, err := atomicfile.RemoveTemps(l.path)
	if err != nil {
		progress(ctx, fmt.Sprintf("Warning: %v", err))
	}
	if len(removed) > 0 {
		progress(ctx, fmt.Sprintf("Removed %d temporary file(s) left by an interrupted run beside %s.", len(removed), l.path))
	}
}

// readRecord reads the holder's record. It is written by rename, so it is
// complete or absent; anything else was put there by something other than
// milink.
func (l *local) readRecord() (LockInfo, error) {
	var info LockInfo
	data, err := os.ReadFile(l.recordPath())
	if err != nil {
		return info, fmt.Errorf("reading lock record: %w", err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return LockInfo{}, fmt.Errorf("lock record %s is not one milink wrote: %w", l.recordPath(), err)
	}
	if info.ID == "" {
		return LockInfo{}, fmt.Errorf("lock record %s has no lock ID", l.recordPath())
	}
	return info, nil
}

// ForceUnlock exists for backends whose locks can outlive their holder
// (a lease on remote storage, held by a machine that vanished). The local
// backend's lock cannot: the operating system releases it when its process
// ends, and a lock held by a live process cannot be broken from outside —
// ForceUnlock refuses, naming the holder. What it can do is remove the
// record a killed holder left, when id is that record's ID.
func (l *local) ForceUnlock(ctx context.Context, id string) error {
	f, err := l.acquire()
	if errors.Is(err, errLocked) {
		holder, infoErr := l.readRecord()
		const cannot = "The local state lock cannot be broken while its process runs: the operating system releases it when that process ends. Wait for it (or let milink wait: -lock-timeout=5m), or stop that process."
		switch {
		case infoErr != nil:
			return fmt.Errorf("force-unlock refused: %s is locked by a running process milink cannot identify (%v).\n%s", l.path, infoErr, cannot)
		case holder.ID != id:
			return fmt.Errorf("force-unlock refused: the lock on %s has ID %s (%s), not %q.\n%s", l.path, holder.ID, describeHolder(holder), id, cannot)
		default:
			return fmt.Errorf("force-unlock refused: lock %s on %s is held by a running process (%s).\n%s", id, l.path, describeHolder(holder), cannot)
		}
	}
	if err != nil {
		return fmt.Errorf("force-unlock %s: %w", l.path, err)
	}
	// Nobody holds the lock; now we do, briefly, so no one takes it while
	// the stale record is removed.
	defer releaseLockFile(f, l.lockPath())
	stale, err := l.readRecord()
	if err != nil || id == "" || stale.ID != id {
		return fmt.Errorf("state %s is not locked: no running process holds its lock", l.path)
	}
	if err := os.Remove(l.recordPath()); err != nil {
		return fmt.Errorf("force-unlock %s: removing the record of lock %s, whose process ended: %w", l.path, id, err)
	}
	return nil
}

type localLock struct {
	l    *local
	info LockInfo
	f    *os.File
	once sync.Once
	err  error
}

func (k *localLock) ID() string { return k.info.ID }

// Unlock compacts the journal this run recorded into the state file,
// removes the record, then releases the kernel lock (removing PATH.lock
// where that is safe). A failed compaction is reported but loses nothing:
// the journal stays and is replayed. Calling Unlock again does nothing.
func (k *localLock) Unlock() error {
	k.once.Do(func() {
		var errs []error
		if err := k.l.compactJournal(); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(k.l.recordPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing the lock record: %w", err))
		}
		if err := releaseLockFile(k.f, k.l.lockPath()); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			k.err = fmt.Errorf("unlocking state %s: %w", k.l.path, err)
		}
	})
	return k.err
}

func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + host
}

// describeHolder is the one-line form of a record.
func describeHolder(i LockInfo) string {
	return fmt.Sprintf("%s by %s, pid %d, since %s", i.Operation, i.Who, i.PID, i.Created.Format(time.RFC3339))
}
