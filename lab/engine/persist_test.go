package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// The catalogue is written through internal/atomicfile: mode 0600, no
// temporary file left, and read back as written.
func TestCatalogueSavedAtomically(t *testing.T) {
	dir := t.TempDir()
	i, err := Open(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.saveLocked(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, catalogFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("catalogue: %v %v", fi, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != catalogFile {
			t.Errorf("unexpected file left in the data directory: %s", e.Name())
		}
	}
	c, err := loadCatalog(dir)
	if err != nil || c == nil {
		t.Fatalf("loadCatalog = %v, %v", c, err)
	}
}
