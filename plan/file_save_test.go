package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Save replaces a plan file atomically (temporary file, fsync, rename):
// mode 0600 whatever the old file had, nothing left beside it, and a
// failure names the file.
func TestSavePlanFileAtomic(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"new file", func(*testing.T, string) {}},
		{"replaces a readable file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("old plan, much longer than the new one would ever be ..."), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "p.plan")
			tt.prepare(t, path)
			p := &Plan{FormatVersion: FormatVersion, Lineage: "l", Serial: 3}
			if err := Save(path, p, "salt"); err != nil {
				t.Fatal(err)
			}
			got, salt, err := Load(path)
			if err != nil || got.Lineage != "l" || got.Serial != 3 || salt != "salt" {
				t.Fatalf("Load = %+v %q %v", got, salt, err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode: %v %v, want 0600", fi.Mode(), err)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("directory holds %d entries, want only the plan", len(ents))
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir", "p.plan")
	if err := Save(missing, &Plan{FormatVersion: FormatVersion}, "s"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Save into a missing directory: %v", err)
	}
}
