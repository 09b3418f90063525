package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/milink/milink/internal/atomicfile"
)

// DefaultPath is the state file's name in the configuration directory.
const DefaultPath = "milink.state.json"

// local stores the state in a file beside the configuration; the previous
// state is kept as PATH.backup. Locking is in lock_local.go.
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
