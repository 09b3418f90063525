//go:build !(unix && !aix && !hurd) && !windows

package state

import (
	"fmt"
	"os"
	"runtime"
)

// tryLockFile: this platform has no lock that the operating system
// releases when the process dies, and a lock that can outlive its holder
// is what this backend exists to avoid.
func tryLockFile(*os.File) error {
	return fmt.Errorf("the local state backend cannot lock files on %s", runtime.GOOS)
}

func releaseLockFile(f *os.File, path string) error {
	err := f.Close()
	_ = os.Remove(path)
	return err
}
