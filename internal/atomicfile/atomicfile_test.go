package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing []byte // nil: no file before
		oldMode  fs.FileMode
		perm     fs.FileMode
	}{
		{"new private", nil, 0, 0o600},
		{"new readable", nil, 0, 0o644},
		{"replace keeps nothing of the old", []byte("old content that is longer"), 0o644, 0o600},
		{"replace widens as asked", []byte("x"), 0o600, 0o640},
		{"empty data", []byte("x"), 0o600, 0o600},
	}
	// The mode is set explicitly, whatever the umask says.
	setUmask(t, 0o077)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file.json")
			if tt.existing != nil {
				if err := os.WriteFile(path, tt.existing, tt.oldMode); err != nil {
					t.Fatal(err)
				}
			}
			data := []byte("new content\n")
			if tt.name == "empty data" {
				data = nil
			}
			if err := WriteFile(path, data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(data) {
				t.Fatalf("content = %q, %v; want %q", got, err, data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			if names := listDir(t, dir); !slices.Equal(names, []string{"file.json"}) {
				t.Errorf("directory holds %v, want only file.json", names)
			}
		})
	}
}

func TestWriteFileBeforeRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("good"), 0o600); err != nil {
		t.Fatal(err)
	}
	var seen string
	err := WriteFile(path, []byte("new"), 0o600, BeforeRename(func(tmp string) error {
		seen = tmp
		if filepath.Dir(tmp) != dir {
			t.Errorf("temporary file %s is not beside the target", tmp)
		}
		if !IsTemp(path, filepath.Base(tmp)) {
			t.Errorf("temporary file %s does not follow the documented pattern", tmp)
		}
		data, err := os.ReadFile(tmp)
		if err != nil || string(data) != "new" {
			t.Errorf("temporary file not complete before the rename: %q %v", data, err)
		}
		return errors.New("simulated crash")
	}))
	if err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("err = %v", err)
	}
	if seen == "" {
		t.Fatal("hook not called")
	}
	if got, _ := os.ReadFile(path); string(got) != "good" {
		t.Errorf("target changed by an aborted write: %q", got)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("aborted write left %v", names)
	}
}

func TestWriteFileErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "f.json")
	err := WriteFile(path, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want it to name %s", err, path)
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "milink.state.json")
	mine := []string{
		".milink.state.json.tmp-0123456789abcdef",
		".milink.state.json.tmp-42", // what os.CreateTemp made in older versions
	}
	others := []string{
		"milink.state.json",
		"milink.state.json.backup",
		".milink.state.json.tmp-",                   // the bare prefix is not a temporary file
		".milink.state.json.tmpx",                   // not the pattern
		"milink.state.json.tmp-1",                   // no leading dot
		".milink.state.json.lock.info.tmp-00000000", // another target's temporary
		".other.json.tmp-1",
	}
	for _, n := range append(slices.Clone(mine), others...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory with a matching name is not ours to remove.
	if err := os.Mkdir(filepath.Join(dir, ".milink.state.json.tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveTemps(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range removed {
		got = append(got, filepath.Base(p))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(mine))
	if !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	left := listDir(t, dir)
	for _, n := range others {
		if !slices.Contains(left, n) {
			t.Errorf("%s was removed", n)
		}
	}
	if !slices.Contains(left, ".milink.state.json.tmp-dir") {
		t.Error("a directory was removed")
	}
}

// A write whose process dies before the rename leaves a temporary file; a
// later WriteFile does not trip over it and RemoveTemps cleans it up.
func TestLeftoverFromKilledWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	f, tmp, err := createTemp(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("{half")
	_ = f.Close()
	if err := WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveTemps(path)
	if err != nil || len(removed) != 1 || removed[0] != tmp {
		t.Fatalf("RemoveTemps = %v, %v; want [%s]", removed, err, tmp)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"plan.json"}) {
		t.Errorf("left %v", names)
	}
}
