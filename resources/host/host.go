// Package host reaches the machine SQL Server runs on and does there what
// cannot be done in T-SQL: startup settings (mssql.conf on Linux, the
// registry on Windows) and the service restart. It reaches that machine
// only through a Transport, so the drivers (Linux, Windows) work the same
// whether milink runs there (Local) or reaches it over the network.
package host

import (
	"strings"

	"github.com/milink/milink/resources"
)

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
