package host

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

const (
	testConf = "/var/opt/mssql/mssql.conf"
	testTool = "/opt/mssql/bin/mssql-conf"
)

// Linux reaches mssql.conf and mssql-conf only through its Transport: every
// case runs against a host in memory.
func TestLinuxThroughTransport(t *testing.T) {
	tool := fakeFile{data: []byte("#!/bin/sh\n"), mode: 0o755}
	conf := func(s string, mode fs.FileMode) fakeFile { return fakeFile{data: []byte(s), mode: mode} }
	tests := []struct {
		name      string
		files     map[string]fakeFile
		errs      map[string]error
		exec      func([]string) (Output, error)
		set       func(context.Context, *Linux) error
		ran       [][]string    // programs run, in order
		conf      *fakeFile     // mssql.conf afterwards; nil: absent
		writes    int           // WriteFile calls
		wantErr   string        // "" for none
		runner    *recordRunner // set as the transitional Runner
		runnerRan [][]string    // what it ran
	}{
		{
			name:  "tool present: hadr through mssql-conf, file untouched",
			files: map[string]fakeFile{testTool: tool, testConf: conf("[hadr]\nhadrenabled = 0\n", 0o600)},
			set:   setHadr(true),
			ran:   [][]string{{testTool, "set", "hadr.hadrenabled", "1"}},
			conf:  &fakeFile{data: []byte("[hadr]\nhadrenabled = 0\n"), mode: 0o600},
		},
		{
			name:  "tool present: trace flags on, then off",
			files: map[string]fakeFile{testTool: tool},
			set:   setFlags([]int{9567, 1800}, []int{3226}),
			ran:   [][]string{{testTool, "traceflag", "1800", "9567", "on"}, {testTool, "traceflag", "3226", "off"}},
		},
		{
			name:    "tool fails: its stderr in the error",
			files:   map[string]fakeFile{testTool: tool},
			exec:    failWith(1, "This program must be run as superuser or as a user with membership in the mssql group.\n"),
			set:     setHadr(true),
			ran:     [][]string{{testTool, "set", "hadr.hadrenabled", "1"}},
			wantErr: testTool + " set hadr.hadrenabled 1: exit status 1: This program must be run as superuser",
		},
		{
			name:   "tool not executable: the file is edited, mode kept",
			files:  map[string]fakeFile{testTool: {mode: 0o644}, testConf: conf("[network]\ntcpport = 1433\n", 0o640)},
			set:    setHadr(true),
			conf:   &fakeFile{data: []byte("[network]\ntcpport = 1433\n\n[hadr]\nhadrenabled = 1\n"), mode: 0o640},
			writes: 1,
		},
		{
			name:   "no tool, no file: created 0644",
			set:    setFlags([]int{1800}, nil),
			conf:   &fakeFile{data: []byte("[traceflag]\ntraceflag0 = 1800\n"), mode: 0o644},
			writes: 1,
		},
		{
			name:  "no tool, already as wanted: nothing written",
			files: map[string]fakeFile{testConf: conf("[hadr]\nhadrenabled = 1\n", 0o600)},
			set:   setHadr(true),
			conf:  &fakeFile{data: []byte("[hadr]\nhadrenabled = 1\n"), mode: 0o600},
		},
		{
			name:   "no tool: flags read, merged, edited in place",
			files:  map[string]fakeFile{testConf: conf("[traceflag]\ntraceflag0 = 3226\ntraceflag1 = 1800\n", 0o600)},
			set:    setFlags([]int{9567}, []int{3226}),
			conf:   &fakeFile{data: []byte("[traceflag]\ntraceflag1 = 1800\ntraceflag2 = 9567\n"), mode: 0o600},
			writes: 1,
		},
		{
			name:    "tool cannot be looked for: nothing guessed, nothing changed",
			errs:    map[string]error{testTool: fs.ErrPermission},
			files:   map[string]fakeFile{testConf: conf("", 0o644)},
			set:     setHadr(true),
			conf:    &fakeFile{data: []byte{}, mode: 0o644},
			wantErr: "looking for mssql-conf: open " + testTool + ": permission denied",
		},
		{
			name:    "file unreadable",
			errs:    map[string]error{testConf: fs.ErrPermission},
			set:     setFlags([]int{1800}, nil),
			wantErr: "reading " + testConf + ": open " + testConf + ": permission denied",
		},
		{
			name: "restart",
			set:  func(ctx context.Context, l *Linux) error { return l.Restart(ctx) },
			ran:  [][]string{{"systemctl", "restart", "mssql-server"}},
		},
		{
			name:    "restart fails",
			exec:    failWith(1, "Failed to restart mssql-server.service: Interactive authentication required.\n"),
			set:     func(ctx context.Context, l *Linux) error { return l.Restart(ctx) },
			ran:     [][]string{{"systemctl", "restart", "mssql-server"}},
			wantErr: "systemctl restart mssql-server: exit status 1: Failed to restart mssql-server.service: Interactive authentication required.",
		},
		{
			name:      "transitional Runner: runs the programs, the transport keeps the files",
			files:     map[string]fakeFile{testTool: tool},
			set:       setHadr(false),
			runner:    &recordRunner{},
			runnerRan: [][]string{{testTool, "set", "hadr.hadrenabled", "0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.files)
			for p, err := range tt.errs {
				f.errs[p] = err
			}
			f.exec = tt.exec
			l := &Linux{Conf: testConf, Tool: testTool, RestartCommand: []string{"systemctl", "restart", "mssql-server"}, Transport: f}
			if tt.runner != nil {
				l.Runner = tt.runner
			}
			err := tt.set(context.Background(), l)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want it to start with %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(f.ran, tt.ran) {
				t.Errorf("ran %q, want %q", f.ran, tt.ran)
			}
			if tt.runner != nil && !reflect.DeepEqual(tt.runner.argv, tt.runnerRan) {
				t.Errorf("runner ran %q, want %q", tt.runner.argv, tt.runnerRan)
			}
			got, ok := f.files[testConf]
			switch {
			case tt.conf == nil && ok:
				t.Errorf("mssql.conf written: %q", got.data)
			case tt.conf != nil && (!ok || string(got.data) != string(tt.conf.data) || got.mode != tt.conf.mode):
				t.Errorf("mssql.conf = %q %v (exists %v), want %q %v", got.data, got.mode, ok, tt.conf.data, tt.conf.mode)
			}
			if len(f.writes) != tt.writes {
				t.Errorf("%d writes, want %d", len(f.writes), tt.writes)
			}
		})
	}
}

func setHadr(on bool) func(context.Context, *Linux) error {
	return func(ctx context.Context, l *Linux) error { _, err := l.SetHadr(ctx, on); return err }
}

func setFlags(on, off []int) func(context.Context, *Linux) error {
	return func(ctx context.Context, l *Linux) error { _, err := l.SetTraceFlags(ctx, on, off); return err }
}

func TestLinuxReadStartupThroughTransport(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]fakeFile
		errs    map[string]error
		want    Startup
		wantErr string
	}{
		{name: "missing file: defaults"},
		{name: "settings", files: map[string]fakeFile{testConf: {data: []byte("[hadr]\nhadrenabled = 1\n[traceflag]\ntraceflag0 = 9567\n")}},
			want: Startup{Hadr: true, TraceFlags: []int{9567}}},
		{name: "unreadable", errs: map[string]error{testConf: fs.ErrPermission}, wantErr: "reading " + testConf},
		{name: "malformed", files: map[string]fakeFile{testConf: {data: []byte("[hadr]\nhadrenabled = perhaps\n")}},
			wantErr: testConf + ": line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.files)
			for p, err := range tt.errs {
				f.errs[p] = err
			}
			got, err := (&Linux{Conf: testConf, Transport: f}).ReadStartup(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDetectTool(t *testing.T) {
	tests := []struct {
		name    string
		tool    string
		file    *fakeFile
		err     error
		want    bool
		wantErr bool
	}{
		{name: "executable", tool: testTool, file: &fakeFile{mode: 0o755}, want: true},
		{name: "executable by its owner only", tool: testTool, file: &fakeFile{mode: 0o700}, want: true},
		{name: "not executable", tool: testTool, file: &fakeFile{mode: 0o644}},
		{name: "a directory", tool: testTool, file: &fakeFile{mode: fs.ModeDir | 0o755}},
		{name: "absent", tool: testTool},
		{name: "no path configured"},
		{name: "cannot look", tool: testTool, err: fs.ErrPermission, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(nil)
			if tt.file != nil {
				f.files[testTool] = *tt.file
			}
			if tt.err != nil {
				f.errs[testTool] = tt.err
			}
			l := &Linux{Tool: tt.tool, Transport: f}
			got, err := l.DetectTool(context.Background())
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("DetectTool = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if l.ToolPresent() != tt.want {
				t.Errorf("ToolPresent disagrees with DetectTool")
			}
		})
	}
}

// Windows runs its scripts through the Transport: powershell.exe with the
// golden script as -Command, or a configured restart command as given.
func TestWindowsThroughTransport(t *testing.T) {
	def := &Windows{}
	tests := []struct {
		name    string
		w       Windows
		do      func(context.Context, *Windows) error
		exec    func([]string) (Output, error)
		ran     [][]string
		wantErr string
	}{
		{name: "hadr", do: func(ctx context.Context, w *Windows) error { _, err := w.SetHadr(ctx, true); return err },
			ran: [][]string{PowerShellArgv(def.HadrScript(true))}},
		{name: "trace flags", do: func(ctx context.Context, w *Windows) error {
			_, err := w.SetTraceFlags(ctx, []int{1800}, nil)
			return err
		},
			ran: [][]string{PowerShellArgv(def.TraceFlagsScript([]int{1800}, nil))}},
		{name: "restart script", do: restartWindows, ran: [][]string{PowerShellArgv(def.RestartScript())}},
		{name: "restart command", w: Windows{RestartCommand: []string{"cluster.exe", "resource", "SQL Server", "/restart"}}, do: restartWindows,
			ran: [][]string{{"cluster.exe", "resource", "SQL Server", "/restart"}}},
		{name: "script fails: named by what it does, stderr kept",
			do:      func(ctx context.Context, w *Windows) error { _, err := w.SetHadr(ctx, true); return err },
			exec:    failWith(1, "SQL Server instance MSSQLSERVER is not installed on WIN01\n"),
			ran:     [][]string{PowerShellArgv(def.HadrScript(true))},
			wantErr: "powershell.exe (setting HADR_Enabled): exit status 1: SQL Server instance MSSQLSERVER is not installed on WIN01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(nil)
			f.os, f.exec = "windows", tt.exec
			w := tt.w
			w.Transport = f
			err := tt.do(context.Background(), &w)
			if (tt.wantErr == "") != (err == nil) || err != nil && err.Error() != tt.wantErr {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(f.ran, tt.ran) {
				t.Errorf("ran %q, want %q", f.ran, tt.ran)
			}
		})
	}
}

func restartWindows(ctx context.Context, w *Windows) error { return w.Restart(ctx) }

func TestExists(t *testing.T) {
	f := newFake(map[string]fakeFile{"/a": {mode: 0o644}})
	f.errs["/locked/b"] = fs.ErrPermission
	for path, want := range map[string]struct {
		ok  bool
		err error
	}{"/a": {true, nil}, "/b": {false, nil}, "/locked/b": {false, fs.ErrPermission}} {
		ok, err := Exists(context.Background(), f, path)
		if ok != want.ok || !errors.Is(err, want.err) || (err == nil) != (want.err == nil) {
			t.Errorf("Exists(%s) = %v, %v; want %v, %v", path, ok, err, want.ok, want.err)
		}
	}
}
