// Package host reaches the machine SQL Server runs on and does there what
// cannot be done in T-SQL: startup settings (mssql.conf on Linux, the
// registry on Windows) and the service restart.
package host

import (
	"bytes"
	"context"
	"os/exec"
	"strings"

	"github.com/milink/milink/resources"
)

// Runner runs a program on the host. Local runs it on this machine; ssh and
// WinRM transports implement the same interface later.
type Runner interface {
	Run(ctx context.Context, argv []string) (stdout, stderr []byte, err error)
}

// Local runs programs on this machine.
type Local struct{}

// Run executes argv[0] with the remaining arguments, without a shell. A
// cancelled ctx kills the program; the error then says the run was
// interrupted, not how the program died ("signal: killed" is what milink
// did to it, not what went wrong). Under a Shielded context the program
// runs in its own process group, so a Ctrl-C at the terminal does not
// reach it.
func (Local) Run(ctx context.Context, argv []string) ([]byte, []byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if shielded(ctx) {
		ownProcessGroup(cmd)
	}
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = &stoppedError{cause: context.Cause(ctx), ctxErr: ctx.Err()}
	}
	return out.Bytes(), errb.Bytes(), err
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
func Shielded(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), shieldKey{}, true)
}

func shielded(ctx context.Context) bool {
	v, _ := ctx.Value(shieldKey{}).(bool)
	return v
}

// Startup is what SQL Server reads only when it starts.
type Startup struct {
	Hadr       bool
	TraceFlags []int // sorted, unique
}

// CommandText renders argv for people and plans: arguments that need it are
// single-quoted the POSIX shell way, so the text can be pasted into a shell.
func CommandText(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandStep describes a program run on the host.
func commandStep(on string, argv []string) resources.Step {
	return resources.Step{Kind: "command", On: on, Text: CommandText(argv)}
}

// trimOutput trims a program's stderr to what fits in an error message.
func trimOutput(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}
