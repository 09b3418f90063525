// Command milink prepares a SQL Server and its network for the Azure SQL
// Managed Instance link, declaratively: `milink plan` shows what would
// change, `milink apply` makes it so. This package parses flags and prints;
// the work is done in config, plan, state and the resource drivers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/milink/milink/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes, documented in the README.
const (
	exitOK      = 0 // success; with -detailed-exitcode: no changes
	exitError   = 1 // any error: configuration, connection, apply failure
	exitChanges = 2 // -detailed-exitcode only: the plan has changes
)

func main() {
	os.Exit(runProcess(os.Args[1:]))
}

// runProcess is milink as a process: signals handled, standard streams.
func runProcess(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C stops gracefully: the step under way ends (a
		// restart finishes), what completed is saved in the state, the
		// lock is released. The second one quits at once.
		<-sigs
		fmt.Fprintln(os.Stderr, "\nInterrupt received: stopping after the step under way (press Ctrl-C again to quit at once).")
		cancel()
		<-sigs
		os.Exit(130)
	}()
	defer cancel()
	return run(ctx, args, newIO(os.Stdin, os.Stdout, os.Stderr))
}

// stdio is where a command reads and writes; tests substitute their own.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	outFile  *os.File // for terminal detection; nil when not a file
	errFile  *os.File
	getenv   func(string) string
	environ  func() []string
}

func newIO(in *os.File, out, errw *os.File) *stdio {
	return &stdio{in: in, out: out, err: errw, outFile: out, errFile: errw, getenv: os.Getenv, environ: os.Environ}
}

type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, g *globals, args []string) int
}

func commands() []command {
	return []command{
		{"plan", "Show what apply would change", cmdPlan},
		{"apply", "Make the environment match the configuration", cmdApply},
		{"check", "Run the connectivity checks in both directions", cmdCheck},
		{"show", "Show the state, or a saved plan", cmdShow},
		{"validate", "Check the configuration without connecting to anything", cmdValidate},
		{"fmt", "Rewrite configuration files in the canonical format", cmdFmt},
		{"graph", "Print the dependency graph (DOT), of the configuration or a saved plan", cmdGraph},
		{"state", "Inspect, pull or push the state (list, show, pull, push)", cmdState},
		{"force-unlock", "Release the lock a milink that died left behind", cmdForceUnlock},
		{"lab", "Run the built-in lab: a simulated SQL Server and managed instance", cmdLab},
		{"version", "Print the milink version", cmdVersion},
	}
}

// globals are the options that come before the subcommand.
type globals struct {
	io    *stdio
	chdir string
	// json, set by a command run with -json, collects the errors it
	// reports, printed on stdout as one JSON document if it fails; for
	// apply -json, it streams them as events instead.
	json *jsonReport
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: milink [-chdir=DIR] <command> [options]

milink prepares a SQL Server instance and its network for the Azure SQL
Managed Instance link. Describe the environment in *.milink.hcl files; plan
shows the ordered changes, apply carries them out (restarting SQL Server at
most once) and records the result in milink.state.json.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, `
Global options:
  -chdir=DIR   Work in DIR (configuration, state) instead of the current directory.
  -help        Show this help; "milink <command> -help" shows a command's.
  -version     Print the version.

Start here: "milink lab demo" runs the whole thing against the built-in lab.
Logs: MILINK_LOG=debug|trace (to stderr), MILINK_LOG_PATH=FILE.
`)
}

func run(ctx context.Context, args []string, sio *stdio) int {
	g := &globals{io: sio}
	fs := flag.NewFlagSet("milink", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.chdir, "chdir", "", "")
	showVersion := fs.Bool("version", false, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(sio.err, "milink: %v\n\n", err)
		usage(sio.err)
		return exitError
	}
	rest := fs.Args()
	if *showVersion {
		return cmdVersion(ctx, g, rest)
	}
	if *help || len(rest) == 0 {
		usage(sio.out)
		if len(rest) == 0 && !*help {
			return exitError
		}
		return exitOK
	}
	if g.chdir != "" {
		st, err := os.Stat(g.chdir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return g.errorf("-chdir=%s: the directory does not exist", g.chdir)
		case err != nil:
			return g.errorf("-chdir=%s: %v", g.chdir, err)
		case !st.IsDir():
			return g.errorf("-chdir=%s: not a directory", g.chdir)
		}
	}
	for _, c := range commands() {
		if c.name == rest[0] {
			code := c.run(ctx, g, rest[1:])
			if g.json != nil && code == exitError {
				// A pipeline reading -json output gets JSON, even on
				// failure.
				g.json.write(sio.out)
			}
			return code
		}
	}
	fmt.Fprintf(sio.err, "milink: unknown command %s\n\n", config.ShortenValues(fmt.Sprintf("%q", rest[0])))
	usage(sio.err)
	return exitError
}

// dir is the configuration directory.
func (g *globals) dir() string {
	if g.chdir != "" {
		return g.chdir
	}
	return "."
}

// cmdFlags is a subcommand's flag set with its help text.
type cmdFlags struct {
	*flag.FlagSet
	g    *globals
	help string
}

// newFlags makes a subcommand's flag set whose -help prints the given text.
func newFlags(g *globals, name, help string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// parse prints: help asked for goes to stdout, mistakes to stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, g: g, help: help}
}

// usage prints the command's help and its options.
func (f *cmdFlags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: milink %s\n\nOptions:\n", strings.TrimSpace(f.help))
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// parse parses args and reports whether the command should go on; if not,
// the exit code to return.
func (f *cmdFlags) parse(args []string) (bool, int) {
	err := f.Parse(args)
	switch {
	case err == nil:
		return true, 0
	case errors.Is(err, flag.ErrHelp):
		f.usage(f.g.io.out)
		return false, exitOK
	}
	// Go's flag package quotes the value it refused, whatever its size.
	f.g.errorf("%v", err)
	if strings.Contains(err.Error(), "-chdir") {
		fmt.Fprintf(f.g.io.err, "-chdir is a global option: it goes before the command, as in: milink -chdir=DIR %s\n", f.Name())
	} else {
		fmt.Fprintf(f.g.io.err, "Run \"milink %s -help\" for its options.\n", f.Name())
	}
	return false, exitError
}

func cmdVersion(_ context.Context, g *globals, args []string) int {
	if len(args) > 0 {
		return g.errorf("version takes no arguments (got %q)", args[0])
	}
	fmt.Fprintf(g.io.out, "milink %s\n", version)
	return exitOK
}

// errorf prints one clear error line. What it quotes from the user is
// shortened: a value of 100,000 characters is not echoed in full.
func (g *globals) errorf(format string, a ...any) int {
	msg := config.ShortenValues(fmt.Sprintf(format, a...))
	fmt.Fprintf(g.io.err, "Error: %s\n", msg)
	g.json.add(config.JSONDiagnostic{Severity: "error", Summary: msg})
	return exitError
}

// noArgs refuses the positional arguments of a command that takes none,
// naming the first; hint says what was perhaps meant.
func (f *cmdFlags) noArgs(hint string) (bool, int) {
	if f.NArg() == 0 {
		return true, 0
	}
	return false, f.g.errorf("%s takes no arguments (got %q)%s", f.Name(), f.Arg(0), hint)
}
