//go:build unix

package host

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Ctrl-C (the context cancelled with the signal as its cause) during an
// ordinary command stops it, and the error says so, not "signal: killed".
func TestLocalRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("interrupt signal received")) })
	start := time.Now()
	_, err := Local{}.Exec(ctx, Command{Argv: []string{"sleep", "5"}})
	if err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("ran %s after the cancel", time.Since(start))
	}
	if strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "interrupt signal received") {
		t.Errorf("error %q", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
}

// Under Shielded, cancelling the parent context does not stop a command
// that has started: it runs to its end and succeeds.
func TestLocalRunShielded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	out, err := Local{}.Exec(Shielded(ctx), Command{Argv: []string{"sh", "-c", "sleep 0.4; echo done"}})
	if err != nil {
		t.Fatalf("shielded command: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the parent was not cancelled while the command ran")
	}
	if strings.TrimSpace(string(out.Stdout)) != "done" {
		t.Errorf("stdout %q", out.Stdout)
	}
}

// The terminal's Ctrl-C goes to the foreground process group: a shielded
// command must be in another one, an ordinary command in milink's.
func TestLocalRunProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pgid := func(ctx context.Context) int {
		t.Helper()
		out, _, err := Local{}.Run(ctx, []string{"cat", "/proc/self/stat"})
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ppid pgrp ...
		s := string(out)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		n, err := strconv.Atoi(fields[2])
		if err != nil {
			t.Fatalf("stat %q: %v", s, err)
		}
		return n
	}
	own := syscall.Getpgrp()
	if got := pgid(context.Background()); got != own {
		t.Errorf("ordinary command in process group %d, want %d", got, own)
	}
	if got := pgid(Shielded(context.Background())); got == own {
		t.Errorf("shielded command in milink's process group %d", got)
	}
}

func TestLocalExec(t *testing.T) {
	tests := []struct {
		name    string
		cmd     Command
		want    Output
		wantErr bool
	}{
		{"exit 0", Command{Argv: []string{"sh", "-c", "echo out; echo err >&2"}}, Output{Stdout: []byte("out\n"), Stderr: []byte("err\n")}, false},
		{"exit 3", Command{Argv: []string{"sh", "-c", "echo why >&2; exit 3"}}, Output{Stderr: []byte("why\n"), ExitCode: 3}, true},
		{"stdin", Command{Argv: []string{"cat"}, Stdin: []byte("fed in")}, Output{Stdout: []byte("fed in")}, false},
		{"no such program", Command{Argv: []string{"/nonexistent/milink-test-program"}}, Output{ExitCode: -1}, true},
		{"no argv", Command{}, Output{ExitCode: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Local{}.Exec(context.Background(), tt.cmd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if string(got.Stdout) != string(tt.want.Stdout) || string(got.Stderr) != string(tt.want.Stderr) || got.ExitCode != tt.want.ExitCode {
				t.Errorf("got %q %q %d, want %q %q %d", got.Stdout, got.Stderr, got.ExitCode, tt.want.Stdout, tt.want.Stderr, tt.want.ExitCode)
			}
		})
	}
	if (Local{}).OS() != runtime.GOOS {
		t.Errorf("OS() = %q", Local{}.OS())
	}
}

// WriteFile replaces atomically and keeps what SQL Server relies on: the
// old file's mode and owner, and a symbolic link at the path.
func TestLocalWriteFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		setup    func(t *testing.T, path string) // what is at path before
		perm     fs.FileMode
		wantMode fs.FileMode
		wantLink bool // path is still a symbolic link afterwards
		wantErr  string
	}{
		{name: "new file, default mode", wantMode: 0o644},
		{name: "new file, given mode", perm: 0o600, wantMode: 0o600},
		{name: "existing file keeps its mode", perm: 0o600, wantMode: 0o640,
			setup: func(t *testing.T, path string) { write(t, path, "old", 0o640) }},
		{name: "symbolic link kept, its target replaced", wantMode: 0o640, wantLink: true,
			setup: func(t *testing.T, path string) {
				target := filepath.Join(filepath.Dir(path), "real.conf")
				write(t, target, "old", 0o640)
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "a directory is not replaced", wantErr: "not a regular file",
			setup: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "missing directory", wantErr: "no such file or directory",
			setup: func(t *testing.T, path string) {
				if err := os.Remove(filepath.Dir(path)); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etc")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "mssql.conf")
			if tt.setup != nil {
				tt.setup(t, path)
			}
			before, _ := os.ReadDir(dir)
			err := Local{}.WriteFile(ctx, path, []byte("new\n"), tt.perm)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "writing ") {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Local{}.ReadFile(ctx, path)
			if err != nil || string(got) != "new\n" {
				t.Fatalf("read back %q, %v", got, err)
			}
			fi, err := Local{}.Stat(ctx, path)
			if err != nil || fi.Mode().Perm() != tt.wantMode {
				t.Errorf("mode %v, %v; want %v", fi.Mode().Perm(), err, tt.wantMode)
			}
			if lfi, err := os.Lstat(path); err != nil || (lfi.Mode()&fs.ModeSymlink != 0) != tt.wantLink {
				t.Errorf("after the write, %s is %v (%v); want a symbolic link: %v", path, lfi.Mode(), err, tt.wantLink)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != max(len(before), 1) {
				t.Errorf("files left behind: %v", after)
			}
		})
	}
}

// As root (CI), a rewritten file keeps an owner other than milink's: SQL
// Server runs as mssql and must still read its mssql.conf.
func TestLocalWriteFileKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file another owner")
	}
	path := filepath.Join(t.TempDir(), "mssql.conf")
	write(t, path, "old", 0o600)
	const uid, gid = 4242, 4343
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := (Local{}).WriteFile(context.Background(), path, []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != 0o600 {
		t.Errorf("owner %d:%d mode %v, want %d:%d 0600", st.Uid, st.Gid, fi.Mode().Perm(), uid, gid)
	}
}

func write(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}
