//go:build windows

package state

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLockFile takes an exclusive LockFileEx lock on the first byte of f
// without waiting; errLocked when another handle holds it. Windows releases
// it when the handle closes, including when the process dies.
func tryLockFile(f *os.File) error {
	var ol windows.Overlapped
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

// releaseLockFile drops the lock by closing f, then removes the lock file
// if nobody else has it open. Windows cannot delete a file another handle
// has open (Go opens files without FILE_SHARE_DELETE), so the removal
// cannot pull the file from under a process that is about to lock it; when
// it fails, the file stays, which is harmless (its content means nothing).
func releaseLockFile(f *os.File, path string) error {
	err := f.Close()
	_ = os.Remove(path)
	return err
}
