// Package atomicfile replaces files so that a reader, or the next run after
// a crash, sees either the old content or the new one, never a mixture or
// an empty file.
//
// WriteFile writes to a temporary file in the target's directory, fsyncs
// it, sets the requested mode, renames it over the target and fsyncs the
// directory so that the rename itself survives a power cut (Windows cannot
// sync a directory; there the rename is as durable as the OS makes it).
//
// The temporary file is named
//
//	.BASE.tmp-RANDOM
//
// beside the target (BASE is the target's file name, RANDOM 16 hex digits),
// for example .milink.state.json.tmp-3f2a9c0d1b4e5f60. A process killed
// between creating and renaming it leaves it behind; RemoveTemps finds and
// removes exactly those leftovers of one target and nothing else.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Option adjusts WriteFile.
type Option func(*options)

type options struct {
	beforeRename func(tmp string) error
}

// BeforeRename runs fn after the temporary file is completely written,
// synced and closed, just before it replaces the target. An error from fn
// aborts the write: the temporary file is removed and the target is left
// as it was. It serves to keep a backup of the old file at the last moment,
// and tests use it to simulate a crash at the worst point.
func BeforeRename(fn func(tmp string) error) Option {
	return func(o *options) { o.beforeRename = fn }
}

// TempPrefix is what the name of every temporary file WriteFile creates
// for path begins with: "." + base name + ".tmp-".
func TempPrefix(path string) string {
	return "." + filepath.Base(path) + ".tmp-"
}

// WriteFile atomically replaces path with data, with permissions perm
// (set explicitly, so the umask does not matter). On error the target is
// unchanged and no temporary file is left behind, unless the process dies
// first; see RemoveTemps.
func WriteFile(path string, data []byte, perm fs.FileMode, opts ...Option) (err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	f, tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	// Chmod before the rename: the file must never be visible under its
	// final name with a wider mode than asked for.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if o.beforeRename != nil {
		if err := o.beforeRename(tmp); err != nil {
			return err
		}
	}
	if err := rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return SyncDir(dir)
}

// createTemp creates the temporary file for path with O_EXCL, so that two
// writers never share one, and mode 0600 until WriteFile sets the final
// mode.
func createTemp(path string) (*os.File, string, error) {
	prefix := filepath.Join(filepath.Dir(path), TempPrefix(path))
	for range 100 {
		var b [8]byte
		// crypto/rand.Read does not fail on supported platforms.
		_, _ = rand.Read(b[:])
		name := prefix + hex.EncodeToString(b[:])
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("creating a temporary file %s*: too many collisions", prefix)
}

// SyncDir makes the creation, renaming or removal of an entry of dir
// durable. On Windows, where a directory cannot be opened for syncing, it
// does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to fsync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// IsTemp reports whether name (a base name) is a temporary file that
// WriteFile creates for path.
func IsTemp(path, name string) bool {
	return strings.HasPrefix(name, TempPrefix(path)) && len(name) > len(TempPrefix(path))
}

// RemoveTemps removes the temporary files WriteFile left beside path when
// a process was killed before renaming them, and returns their paths. It
// touches nothing but path's own temporaries, in path's directory. Call it
// only while no other process may be writing path (for example while
// holding a lock on it): a live writer's temporary file looks the same.
func RemoveTemps(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("looking for leftover temporary files of %s: %w", path, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTemp(path, e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("removing leftover temporary files of %s: %w", path, err)
	}
	return removed, nil
}
