package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/milink/milink/internal/atomicfile"
)

// DefaultPath is the state file's name in the configuration directory.
const DefaultPath = "milink.state.json"

// local stores the state in a file beside the configuration. The lock is a
// second file, PATH.lock, created with O_EXCL so that exactly one process
// can create it; the previous state is kept as PATH.backup.
type local struct {
	path string
	// afterWrite, when set (tests only), runs after the temporary file is
	// written and synced and before it replaces the state, to simulate a
	// crash or a failing disk at the worst moment.
	afterWrite func(tmp string) error
}

// NewLocal returns the file backend for path.
func NewLocal(path string) Backend {
	if path == "" {
		path = DefaultPath
	}
	return &local{path: path}
}

func (l *local) Load(ctx context.Context) (*State, error) {
	data, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	return Decode(data, l.path)
}

func (l *local) Save(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	if err := l.checkSuccession(s); err != nil {
		return err
	}
	next := *s
	next.Serial = s.Serial + 1
	data, err := Encode(&next)
	if err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	if err := l.writeAtomic(data); err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	s.Serial = next.Serial
	return nil
}

// checkSuccession refuses to overwrite a stored state that is corrupt, of
// another lineage, or newer than the one being saved: each means the
// caller's copy is not the successor of what is on disk, and writing it
// would lose someone's work.
func (l *local) checkSuccession(s *State) error {
	data, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("saving state: reading the current state: %w", err)
	}
	cur, err := Decode(data, l.path)
	if err != nil {
		return fmt.Errorf("refusing to overwrite: %w", err)
	}
	if cur.Lineage != s.Lineage {
		return fmt.Errorf("refusing to overwrite state %s: it has lineage %s, not %s (a different state)", l.path, cur.Lineage, s.Lineage)
	}
	if cur.Serial > s.Serial {
		return fmt.Errorf("refusing to overwrite state %s: it is at serial %d, newer than the %d this run read (someone else applied meanwhile)", l.path, cur.Serial, s.Serial)
	}
	return nil
}

// writeAtomic replaces the state file so that a reader (or a crash) sees
// either the old content or the new, never a mixture; the old file is kept
// as PATH.backup at the last moment, once the new one is safely written.
func (l *local) writeAtomic(data []byte) error {
	return atomicfile.WriteFile(l.path, data, 0o600, atomicfile.BeforeRename(func(tmp string) error {
		if l.afterWrite != nil {
			if err := l.afterWrite(tmp); err != nil {
				return err
			}
		}
		return l.keepBackup()
	}))
}

// keepBackup makes PATH.backup hold the current state, itself replaced
// atomically: a hard link is instant and shares no bytes to copy; where
// links are impossible the file is copied.
func (l *local) keepBackup() error {
	if _, err := os.Lstat(l.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	backup := l.path + ".backup"
	tmp := backup + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(l.path, tmp); err != nil {
		if err := copyFile(l.path, tmp); err != nil {
			return fmt.Errorf("keeping backup: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keeping backup: %w", err)
	}
	if err := os.Rename(tmp, backup); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keeping backup: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func (l *local) lockPath() string { return l.path + ".lock" }

// Lock creates PATH.lock with O_EXCL. While another holds it, it retries
// with a growing pause (up to a second) until timeout, reporting through
// WithProgress; a timeout of 0 tries once.
func (l *local) Lock(ctx context.Context, op string, timeout time.Duration) (Lock, error) {
	info := LockInfo{
		ID:        uuid.NewString(),
		Operation: op,
		Who:       whoami(),
		Created:   time.Now().UTC().Truncate(time.Second),
		PID:       os.Getpid(),
		Path:      l.path,
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("locking state: %w", err)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	pause := 25 * time.Millisecond
	lastReport := time.Time{}
	for {
		err := l.tryLock(data)
		if err == nil {
			l.removeLeftovers(ctx)
			return &localLock{l: l, info: info}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking state %s: %w", l.path, err)
		}
		holder, infoErr := l.readLock()
		lerr := &LockError{Path: l.path, Info: holder, InfoErr: infoErr, Waited: time.Since(start)}
		if timeout <= 0 || !time.Now().Before(deadline) {
			return nil, lerr
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			who := "an unknown process"
			if infoErr == nil {
				who = fmt.Sprintf("%s (%s, pid %d, lock ID %s)", holder.Who, holder.Operation, holder.PID, holder.ID)
			}
			progress(ctx, fmt.Sprintf("Waiting for the state lock held by %s; giving up in %s", who, time.Until(deadline).Round(time.Second)))
		}
		wait := pause
		if rest := time.Until(deadline); rest < wait {
			wait = rest
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			lerr.Canceled = true
			return nil, fmt.Errorf("%w: %w", lerr, ctx.Err())
		case <-t.C:
		}
		if pause < time.Second {
			pause *= 2
		}
	}
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

// tryLock creates the lock file and writes the holder into it. The record
// is written after creation, so a reader may briefly see an empty file;
// readLock reports that as unreadable rather than guessing.
func (l *local) tryLock(data []byte) error {
	f, err := os.OpenFile(l.lockPath(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(l.lockPath())
		return fmt.Errorf("writing lock record: %w", err)
	}
	return nil
}

func (l *local) readLock() (LockInfo, error) {
	var info LockInfo
	data, err := os.ReadFile(l.lockPath())
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return LockInfo{}, fmt.Errorf("lock file %s: %w", l.lockPath(), err)
	}
	return info, nil
}

func (l *local) ForceUnlock(ctx context.Context, id string) error {
	info, err := l.readLock()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state %s is not locked", l.path)
	}
	if err != nil {
		return fmt.Errorf("force-unlock: %w; if no milink is running, remove the lock file by hand", err)
	}
	if id == "" || info.ID != id {
		return fmt.Errorf("force-unlock refused: the lock on %s has ID %s (%s by %s, pid %d), not %q", l.path, info.ID, info.Operation, info.Who, info.PID, id)
	}
	if err := os.Remove(l.lockPath()); err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	return nil
}

type localLock struct {
	l    *local
	info LockInfo
	once sync.Once
	err  error
}

func (k *localLock) ID() string { return k.info.ID }

// Unlock removes the lock file if it is still ours. If it was
// force-unlocked and taken by someone else meanwhile, it is left alone.
func (k *localLock) Unlock() error {
	k.once.Do(func() {
		cur, err := k.l.readLock()
		if errors.Is(err, fs.ErrNotExist) {
			k.err = fmt.Errorf("unlocking state %s: the lock %s was already removed (force-unlock?)", k.l.path, k.info.ID)
			return
		}
		if err != nil {
			k.err = fmt.Errorf("unlocking state: %w", err)
			return
		}
		if cur.ID != k.info.ID {
			k.err = fmt.Errorf("unlocking state %s: the lock is now %s held by %s, not ours (%s); left alone", k.l.path, cur.ID, cur.Who, k.info.ID)
			return
		}
		if err := os.Remove(k.l.lockPath()); err != nil {
			k.err = fmt.Errorf("unlocking state: %w", err)
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
