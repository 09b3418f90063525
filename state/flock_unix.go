//go:build unix && !aix && !hurd

package state

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockFile takes an exclusive flock(2) on f without waiting; errLocked
// when another open file holds it. flock, not fcntl: an fcntl lock belongs
// to the process, so a second Lock in the same process (or closing any
// other descriptor of the file) would silently share or drop it; a flock
// belongs to the open file and conflicts even within one process. The
// kernel drops it when the last descriptor closes, which includes the
// process dying (kill -9).
func tryLockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		default:
			return err
		}
	}
}

// releaseLockFile removes the lock file, if it is still the one f holds,
// then drops the lock by closing f. Removing while still holding is what
// makes the removal safe: whoever opened the old file meanwhile notices
// that it is no longer at path after locking it, and starts again (see
// acquire).
func releaseLockFile(f *os.File, path string) error {
	var rmErr error
	if mine, err := f.Stat(); err == nil {
		if cur, err := os.Stat(path); err == nil && os.SameFile(mine, cur) {
			if err := os.Remove(path); err != nil {
				rmErr = err
			}
		}
	}
	// The lock is released by the close whatever the removal did; a lock
	// file left behind is harmless (its content means nothing).
	return errors.Join(rmErr, f.Close())
}
