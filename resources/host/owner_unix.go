//go:build unix

package host

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives the new file the old one's owner; failing is fine when
// milink is not root (then it could only have written its own file anyway).
func keepOwner(path string, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		_ = os.Chown(path, int(st.Uid), int(st.Gid))
	}
}
