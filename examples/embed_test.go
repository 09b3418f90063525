package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteLab(t *testing.T) {
	dir := t.TempDir()
	if err := WriteLab(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "main.milink.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("lab", "main.milink.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("WriteLab wrote something other than examples/lab/main.milink.hcl")
	}
	if err := WriteLab(filepath.Join(dir, "missing")); err == nil {
		t.Error("writing into a missing directory should fail")
	}
}
