//go:build !windows

package atomicfile

import "os"

// rename replaces newpath by oldpath in one step (rename(2) is atomic).
func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
