package checks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/milink/milink/resources/host"
)

// The SQL Server → managed instance direction is a TCP connection opened
// on the SQL Server's host, through its transport: never from the machine
// milink runs on, which may sit in another network altogether.

// ProbeTimeout bounds one TCP connect on the host.
const ProbeTimeout = 5 * time.Second

// probeScript connects with bash's /dev/tcp: bash and coreutils' timeout
// are on every host SQL Server on Linux supports (RHEL, SLES, Ubuntu),
// where nc, ncat or telnet often are not. The address and port are the
// script's positional parameters ($1, $2), never part of its text, so no
// address can change what runs; $0 names bash's complaints.
const probeScript = `exec 3<>"/dev/tcp/$1/$2"`

// ProbeArgv is the Linux command: a connect bounded by timeout(1), which
// exits 124 when the time is up.
func ProbeArgv(address string, port int, timeout time.Duration) []string {
	secs := int((timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return []string{"timeout", strconv.Itoa(secs), "bash", "-c", probeScript, "milink-probe", address, strconv.Itoa(port)}
}

// ProbeScriptWindows is the PowerShell of the Windows host: the
// procedure's tnc (Test-NetConnection), quiet, printing True or False.
// Test-NetConnection has no timeout of its own; the transport's context
// bounds it.
func ProbeScriptWindows(address string, port int) string {
	return fmt.Sprintf(`$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if (Test-NetConnection -ComputerName %s -Port %d -InformationLevel Quiet -WarningAction SilentlyContinue) { 'True' } else { 'False' }
`, host.PSQuote(address), port)
}

// ProbeCommand is what the probe runs on a host of the given OS.
func ProbeCommand(os, address string, port int, timeout time.Duration) []string {
	if os == "windows" {
		return host.PowerShellArgv(ProbeScriptWindows(address, port))
	}
	return ProbeArgv(address, port, timeout)
}

// ProbeText is the probe as a plan shows it.
func ProbeText(os, address string, port int, timeout time.Duration) string {
	if os == "windows" {
		return ProbeScriptWindows(address, port)
	}
	return host.CommandText(ProbeArgv(address, port, timeout))
}

// probeOutcome is how one TCP connect on the host ended.
type probeOutcome struct {
	connected bool
	// why a connect failed ("connection refused", "no answer within 5s"),
	// or why the probe could not run at all (notRun).
	why    string
	notRun bool
}

// probe opens a TCP connection to address:port from the host t reaches.
func probe(ctx context.Context, t host.Transport, address string, port int, timeout time.Duration) probeOutcome {
	windows := t.OS() == "windows"
	argv := ProbeCommand(t.OS(), address, port, timeout)
	cctx := ctx
	if windows {
		// Test-NetConnection waits for the OS's own connect timeout (about
		// 21 s); PowerShell's start-up takes seconds too.
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, timeout+30*time.Second)
		defer cancel()
	}
	out, err := t.Exec(cctx, host.Command{Argv: argv})
	stderr := strings.TrimSpace(string(out.Stderr))
	if ctx.Err() != nil {
		return probeOutcome{notRun: true, why: "interrupted: " + context.Cause(ctx).Error()}
	}
	if windows {
		switch strings.TrimSpace(string(out.Stdout)) {
		case "True":
			return probeOutcome{connected: true}
		case "False":
			return probeOutcome{why: "Test-NetConnection returned False"}
		}
		if errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return probeOutcome{why: fmt.Sprintf("no answer within %s", timeout+30*time.Second)}
		}
		return probeOutcome{notRun: true, why: "Test-NetConnection did not run: " + firstLine(stderr, err)}
	}
	switch {
	case err == nil:
		return probeOutcome{connected: true}
	case out.ExitCode == 124:
		return probeOutcome{why: fmt.Sprintf("no answer within %s (packets dropped on the way?)", timeout)}
	case out.ExitCode == 1 && strings.Contains(stderr, "/dev/tcp"):
		// bash: connect: Connection refused / Name or service not known
		return probeOutcome{why: bashReason(stderr)}
	case out.ExitCode == 126 || out.ExitCode == 127 || out.ExitCode == -1:
		return probeOutcome{notRun: true, why: "cannot open a connection on the host (timeout and bash are needed): " + firstLine(stderr, err)}
	}
	return probeOutcome{why: firstLine(stderr, err)}
}

// bashReason is the reason in bash's first complaint about /dev/tcp:
// "milink-probe: connect: Connection refused", or "milink-probe: line 1:
// mi.example: Name or service not known" (the second line, about
// /dev/tcp/..., repeats it less precisely).
func bashReason(stderr string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
	if i := strings.LastIndex(first, ": "); i >= 0 {
		return strings.TrimSpace(first[i+2:])
	}
	return first
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" && err != nil {
		return err.Error()
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
