package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Local is the Transport of the machine milink runs on.
type Local struct{}

var _ Transport = Local{}

// Exec runs the program without a shell. A cancelled ctx kills it; the
// error then says the run was interrupted, not how the program died
// ("signal: killed" is what milink did to it, not what went wrong). Under a
// Shielded context the program runs in its own process group, so a Ctrl-C
// at the terminal does not reach it.
func (Local) Exec(ctx context.Context, c Command) (Output, error) {
	if len(c.Argv) == 0 {
		return Output{ExitCode: -1}, errors.New("no program to run")
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if shielded(ctx) {
		ownProcessGroup(cmd)
	}
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = &stoppedError{cause: context.Cause(ctx), ctxErr: ctx.Err()}
	}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode() // -1 when a signal ended it
	}
	return Output{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: code}, err
}

// Run is Exec for an argv alone, making Local a Runner too. Transitional,
// like Runner.
func (l Local) Run(ctx context.Context, argv []string) ([]byte, []byte, error) {
	out, err := l.Exec(ctx, Command{Argv: argv})
	return out.Stdout, out.Stderr, err
}

// ReadFile reads the file. ctx is not consulted: a local read does not hang.
func (Local) ReadFile(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

// Stat describes the file, following symbolic links.
func (Local) Stat(_ context.Context, path string) (fs.FileInfo, error) {
	return os.Stat(path)
}

// OS is the operating system milink was built for, which is this one.
func (Local) OS() string { return runtime.GOOS }

// WriteFile writes data to a temporary file in the same directory, syncs
// it, gives it the old file's mode and (where the platform has owners and
// milink may set them) owner, and renames it over path, so a crash never
// leaves half a file and SQL Server, which runs as mssql, can still read
// it. A symbolic link at path is kept: the file it points to is replaced.
func (Local) WriteFile(_ context.Context, path string, data []byte, perm fs.FileMode) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	if perm == 0 {
		perm = 0o644
	}
	old, err := os.Stat(path)
	switch {
	case err == nil:
		if !old.Mode().IsRegular() {
			return fmt.Errorf("writing %s: not a regular file", path)
		}
		perm = old.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	default:
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := writeTemp(path, data, perm, old); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeTemp(path string, data []byte, perm fs.FileMode, old fs.FileInfo) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".milink-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// CreateTemp made it 0600 whatever the umask; set the mode explicitly.
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return err
	}
	if old != nil {
		keepOwner(tmp.Name(), old)
	}
	return os.Rename(tmp.Name(), path)
}

// stoppedError is a program milink stopped because its context ended. It
// matches the context's error (context.Canceled) whatever the cause is.
type stoppedError struct{ cause, ctxErr error }

func (e *stoppedError) Error() string   { return "stopped before it finished: " + e.cause.Error() }
func (e *stoppedError) Unwrap() []error { return []error{e.cause, e.ctxErr} }

type shieldKey struct{}

// Shielded returns a context for a command that must not be cut short
// once it has started (the service restart: killed halfway, it can leave
// SQL Server stopped). It keeps ctx's values but is never cancelled; and
// since the terminal sends Ctrl-C to milink's whole process group, Local
// also starts the command in a group of its own. A command that needs the
// terminal (sudo asking for a password) cannot read it from there.
// A transport over a network must keep the same promise its own way.
func Shielded(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), shieldKey{}, true)
}

func shielded(ctx context.Context) bool {
	v, _ := ctx.Value(shieldKey{}).(bool)
	return v
}
