package host

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// A host runs systemd when /run/systemd/system is a directory; a container
// usually has no such directory, and an unreadable one is an error, not
// "no systemd".
func TestSystemd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]fakeFile
		err     error
		want    bool
		wantErr bool
	}{
		{"systemd", map[string]fakeFile{systemdMarker: {mode: fs.ModeDir | 0o755}}, nil, true, false},
		{"container", nil, nil, false, false},
		{"a file, not the directory", map[string]fakeFile{systemdMarker: {mode: 0o644}}, nil, false, false},
		{"cannot look", nil, fs.ErrPermission, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.files)
			if tc.err != nil {
				f.errs[systemdMarker] = tc.err
			}
			got, err := (&Linux{Transport: f}).Systemd(context.Background())
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("Systemd() = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestClusterNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exec    func([]string) (Output, error)
		want    bool
		wantErr string
	}{
		{"node", func([]string) (Output, error) { return Output{Stdout: []byte("True\r\n")}, nil }, true, ""},
		{"not a node", func([]string) (Output, error) { return Output{Stdout: []byte("False\r\n")}, nil }, false, ""},
		{"no powershell", func([]string) (Output, error) {
			return Output{ExitCode: -1}, errors.New(`exec: "powershell.exe": executable file not found in $PATH`)
		}, false, "looking for the cluster service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(nil)
			f.exec = tc.exec
			got, err := (&Windows{Transport: f}).ClusterNode(context.Background())
			if got != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ClusterNode() = %v, %v", got, err)
			}
			if len(f.ran) != 1 || f.ran[0][0] != "powershell.exe" {
				t.Errorf("ran %v", f.ran)
			}
		})
	}
}

// Disabling may fall back to the registry; enabling never does on 2016.
func TestHadrScriptRefuses2016RegistryFallback(t *testing.T) {
	w := &Windows{}
	if s := w.HadrScript(true); !strings.Contains(s, "elseif ($instanceId -like 'MSSQL13.*') {\n    throw") {
		t.Errorf("enable script has no 2016 refusal:\n%s", s)
	}
	if s := w.HadrScript(false); strings.Contains(s, "MSSQL13") {
		t.Errorf("disable script refuses 2016:\n%s", s)
	}
	golden(t, "windows-cluster-node.ps1", w.ClusterNodeScript())
}
