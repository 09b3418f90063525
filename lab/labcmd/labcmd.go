// Package labcmd is `milink lab`: starting, inspecting and stopping the
// simulated environment of package lab from the command line.
package labcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one `milink lab` subcommand.
type command struct {
	name    string
	usage   string // after "milink lab NAME"
	summary string
	help    string
	run     func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
	flags   func(fs *flag.FlagSet) // declares the flags; run reads them via closures
}

// usageErr is a mistake in how a command was called (a missing or extra
// argument, a bad flag value). It exits 1 like every other error (the README's
// exit codes keep 2 for plan -detailed-exitcode), but points to the help
// instead of prefixing the command's name.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func commands() []*command {
	return []*command{upCommand(), serveCommand(), downCommand(), statusCommand(), restartCommand(),
		faultCommand(), logCommand(), linkCommand(), tokenCommand(), profilesCommand()}
}

// Main runs `milink lab ARGS...` and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			// Not asked for: the overview explains what is missing.
			printOverview(stderr, cmds)
			return 1
		}
		printOverview(stdout, cmds)
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return runCommand(ctx, c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "Error: unknown command %q\nRun \"milink lab -h\" for the list of commands.\n", args[0])
	return 1
}

// Serve runs `milink lab serve ARGS...`, the lab's background process.
func Serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runCommand(ctx, serveCommand(), args, stdout, stderr)
}

func printOverview(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `Usage: milink lab COMMAND [flags]

The lab is a simulated SQL Server (sql01, on 127.0.0.2) and Azure SQL Managed
Instance (mi01, on 127.0.0.3) that speak real TDS, and an HTTPS Azure Resource
Manager and Entra for mi01 and its network ("arm", on 127.0.0.1), for trying
milink out and for its tests. Its state lives in ./.milink-lab/.

Commands:
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	// demo lives in cmd/milink (it runs plan and apply), but belongs here.
	fmt.Fprintf(w, "  %-9s %s\n", "demo", "start a fresh lab, plan, apply, plan again (no changes), stop")
	fmt.Fprint(w, "\nRun \"milink lab COMMAND -h\" for a command's flags.\n")
}

func runCommand(ctx context.Context, c *command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("milink lab "+c.name, flag.ContinueOnError)
	// Silent while parsing: the flag package would print the usage itself
	// (to stderr, before we print it again); we print help and errors below.
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: milink lab %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprint(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	fs.SetOutput(stderr)
	if err != nil {
		return usageFailed(stderr, c, err)
	}
	if err := c.run(ctx, fs, pos, stdout, stderr); err != nil {
		var ue usageErr
		if errors.As(err, &ue) {
			return usageFailed(stderr, c, err)
		}
		fmt.Fprintf(stderr, "milink lab %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// parseInterspersed lets flags follow positional arguments
// (`milink lab fault sql01 -latency 50ms`), which the flag package alone
// does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageFailed explains a usage mistake in one line and where the help is,
// rather than burying it above the whole usage text.
func usageFailed(stderr io.Writer, c *command, err error) int {
	fmt.Fprintf(stderr, "Error: %v\nRun \"milink lab %s -h\" for its flags.\n", err, c.name)
	return 1
}

// usageError is a usage mistake of the command being run.
func usageError(format string, args ...any) error {
	return usageErr{fmt.Sprintf(format, args...)}
}
