package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Transport is how milink reaches a host: it runs programs there and reads
// and writes its files. Linux and Windows do everything through it, so a
// transport that reaches the host over the network (ssh) needs no change
// in them. Local is this machine.
//
// Paths are the host's own. Errors about files match fs.ErrNotExist,
// fs.ErrPermission and so on with errors.Is, whatever the transport.
type Transport interface {
	// Exec runs cmd.Argv[0] with the other arguments, without a shell. The
	// error is nil only when the program ran and exited 0; Output holds
	// what it printed either way. A cancelled ctx stops the program, and
	// the error then matches ctx's (see Shielded for commands that must
	// not be stopped halfway).
	Exec(ctx context.Context, cmd Command) (Output, error)
	// ReadFile returns the contents of the file at path.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces the file at path with data atomically: a reader,
	// or a crash, sees the old file or the new one, never a part of one.
	// An existing file keeps its owner and mode; a new one gets perm (0644
	// when perm is 0).
	WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error
	// Stat describes the file at path, following symbolic links.
	Stat(ctx context.Context, path string) (fs.FileInfo, error)
	// OS is the host's operating system as GOOS names it: "linux",
	// "windows".
	OS() string
}

// Command is a program to run on a host.
type Command struct {
	Argv  []string // the program and its arguments; never through a shell
	Stdin []byte   // given to the program's standard input; nil gives none
}

// Output is what a program printed, and how it ended.
type Output struct {
	Stdout, Stderr []byte
	// ExitCode is the program's exit status, or -1 when it did not run to
	// an exit of its own (it could not start, or was stopped).
	ExitCode int
}

// Exists reports whether path exists on the host reached by t. An error
// other than "does not exist" (a permission, a broken connection) is
// returned rather than taken for "no".
func Exists(ctx context.Context, t Transport, path string) (bool, error) {
	_, err := t.Stat(ctx, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// execArgv runs argv through t. A failure's error starts with what (the
// command, or what a script does) and ends with the program's stderr,
// where the reason usually is.
func execArgv(ctx context.Context, t Transport, argv []string, what string) error {
	out, err := t.Exec(ctx, Command{Argv: argv})
	if err != nil {
		if msg := trimOutput(out.Stderr); msg != "" {
			return fmt.Errorf("%s: %w: %s", what, err, msg)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Runner runs programs only; it is what Linux and Windows took before
// Transport. Transitional: resources/sqlserver still sets the drivers'
// Runner fields (and its lab test implements Runner); once it sets
// Transport instead, Runner, runnerTransport and those fields go.
type Runner interface {
	Run(ctx context.Context, argv []string) (stdout, stderr []byte, err error)
}

// transportOf is the transport a driver uses: t, or this machine when t is
// nil, with its programs run by r instead when r is set.
func transportOf(t Transport, r Runner) Transport {
	if t == nil {
		t = Local{}
	}
	if r != nil {
		return runnerTransport{Transport: t, r: r}
	}
	return t
}

// runnerTransport runs programs with a Runner and reaches files through
// the transport it wraps.
type runnerTransport struct {
	Transport
	r Runner
}

func (rt runnerTransport) Exec(ctx context.Context, cmd Command) (Output, error) {
	if cmd.Stdin != nil {
		return Output{ExitCode: -1}, errors.New("a Runner cannot give a program standard input; use a Transport")
	}
	stdout, stderr, err := rt.r.Run(ctx, cmd.Argv)
	code := 0
	if err != nil {
		code = -1 // a Runner does not say
	}
	return Output{Stdout: stdout, Stderr: stderr, ExitCode: code}, err
}
