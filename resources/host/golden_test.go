package host

import (
	"path/filepath"
	"testing"

	goldenfile "github.com/milink/milink/internal/golden"
)

// golden compares got with testdata/golden/name (go test -update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), []byte(got))
}
