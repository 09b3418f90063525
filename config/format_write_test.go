package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fmt rewrites a file through internal/atomicfile: its permissions are
// kept, and nothing but the file is left in the directory.
func TestFormatDirRewriteKeepsModeAndLeavesNoTemp(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
	}{
		{"private", 0o600},
		{"group readable", 0o640},
		{"world readable", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "main"+FileSuffix)
			if err := os.WriteFile(path, []byte("sql_server \"a\" {\naddress=\"127.0.0.1\"\n}\n"), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // whatever the umask
				t.Fatal(err)
			}
			changed, _, diags, err := FormatDir(dir, false)
			if err != nil || diags.HasErrors() || len(changed) != 1 {
				t.Fatalf("FormatDir = %v %v %v", changed, diags, err)
			}
			got, _ := os.ReadFile(path)
			if !strings.Contains(string(got), `address = "127.0.0.1"`) {
				t.Errorf("not formatted:\n%s", got)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && fi.Mode().Perm() != tt.mode {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.mode)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("directory holds %d entries, want only the file", len(ents))
			}
		})
	}
}
