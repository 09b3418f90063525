package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
	}{
		{"private", 0o600},
		{"readable", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "mssql.conf")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := writeFileAtomic(path, []byte("[sqlagent]\n"), tt.mode); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			fi, _ := os.Stat(path)
			if string(got) != "[sqlagent]\n" || fi.Mode().Perm() != tt.mode {
				t.Errorf("got %q mode %v", got, fi.Mode().Perm())
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("left %d entries, want 1", len(ents))
			}
		})
	}
}
