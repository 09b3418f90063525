package lab

import (
	"crypto/rand"
	"encoding/hex"
	"os"

	"github.com/milink/milink/internal/atomicfile"
)

// writeFileAtomic writes data to path so that a reader never sees half a
// file (see internal/atomicfile).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// newPassword makes a password that meets SQL Server's complexity policy
// (at least 8 characters from three of: upper, lower, digits, symbols) and
// needs no quoting in a shell, a URL or a connection string.
func newPassword() string {
	return "Lab_" + randomHex(12) + "_Zz9"
}
