//go:build windows

package atomicfile

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// rename replaces newpath by oldpath. On Windows the replacement fails
// while another process has newpath open without FILE_SHARE_DELETE, which
// is how Go opens files: a reader of the target (a waiting milink reading
// a lock record, an antivirus scanner) blocks it for a moment. Those
// errors are retried for up to a second rather than failing the write.
func rename(oldpath, newpath string) error {
	deadline := time.Now().Add(time.Second)
	pause := time.Millisecond
	for {
		err := os.Rename(oldpath, newpath)
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
		if pause < 50*time.Millisecond {
			pause *= 2
		}
	}
}

func transient(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
