package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/state"
)

const showHelp = `show [options] [PLAN_FILE]

Without an argument, prints every object in the state (-json: the state
document). With a plan file from 'milink plan -out', prints that plan
(-json: as versioned JSON).`

func cmdShow(ctx context.Context, g *globals, args []string) int {
	a, ok, code := parseShow(g, args)
	if !ok {
		return code
	}
	v := newShowView(g, a)
	if a.fromFile {
		p, _, err := plan.Load(a.planFile)
		if err != nil {
			return g.errorf("%v", err)
		}
		if err := v.plan(p); err != nil {
			return g.errorf("%v", err)
		}
		return exitOK
	}
	b, code := g.stateOnly(a.statePath, a.workspace)
	if b == nil {
		return code
	}
	st, err := b.Load(ctx)
	if err != nil {
		return g.errorf("%v", err)
	}
	if err := v.state(st); err != nil {
		return g.errorf("%v", err)
	}
	return exitOK
}

const stateHelp = `state <list | show ADDRESS | pull | push FILE> [options]

  list           List the addresses milink manages.
  show ADDRESS   Show one object's recorded attributes (secrets appear only
                 as (sensitive)).
  pull           Print the state document (JSON), from wherever it lives.
  push FILE      Replace the stored state with FILE (a document from pull),
                 under the lock. Refused if FILE is of another lineage or
                 older than the stored state, unless -force.

The state is the configuration's backend (a backend "azurerm" block) or the
local file; -workspace (or MILINK_WORKSPACE) selects a workspace's state.`

func cmdState(ctx context.Context, g *globals, args []string) int {
	fs := newFlags(g, "state", stateHelp)
	statePath := fs.String("state", "", "Path of the state file (default DIR/milink.state.json).")
	workspace := fs.String("workspace", "", "Use this workspace's state (default: $MILINK_WORKSPACE, else default).")
	noColor := fs.Bool("no-color", false, "Never use colour.")
	force := fs.Bool("force", false, "push: replace even a state of another lineage or a newer serial.")
	lockTimeout := fs.Duration("lock-timeout", 0, "push: how long to wait for the state lock, e.g. 30s.")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.usage(g.io.err)
		return exitError
	}
	// Flags may also follow the subcommand.
	sub := rest[0]
	if ok, code := fs.parse(rest[1:]); !ok {
		return code
	}
	rest = fs.Args()
	switch sub {
	case "list", "show", "pull", "push":
	default:
		return g.errorf("unknown state subcommand %q (want list, show, pull or push)", sub)
	}
	if *lockTimeout < 0 {
		return g.errorf("-lock-timeout must not be negative (got %s)", *lockTimeout)
	}
	b, code := g.stateOnly(*statePath, *workspace)
	if b == nil {
		return code
	}
	if sub == "push" {
		if len(rest) != 1 {
			return g.errorf("state push needs exactly one file: milink state push FILE")
		}
		return statePush(ctx, g, b, rest[0], *force, *lockTimeout)
	}
	st, err := b.Load(ctx)
	if err != nil {
		return g.errorf("%v", err)
	}
	switch sub {
	case "pull":
		if len(rest) > 0 {
			return g.errorf("state pull takes no arguments (got %q)", rest[0])
		}
		data, err := state.Encode(st)
		if err != nil {
			return g.errorf("%v", err)
		}
		if _, err := g.io.out.Write(data); err != nil {
			return g.errorf("%v", err)
		}
		return exitOK
	case "list":
		if len(rest) > 0 {
			return g.errorf("state list takes no arguments (got %q)", rest[0])
		}
		render.StateList(g.io.out, st)
		return exitOK
	case "show":
		if len(rest) > 1 {
			return g.errorf("state show takes exactly one address (unexpected argument %q)", rest[1])
		}
		if len(rest) != 1 {
			return g.errorf("state show needs exactly one address, e.g. milink state show database.sales")
		}
		opts := render.Options{Color: render.UseColor(*noColor, g.io.outFile), Width: 100}
		if err := render.StateShow(g.io.out, st, rest[0], opts); err != nil {
			return g.errorf("%v", err)
		}
		return exitOK
	}
	return g.errorf("unknown state subcommand %q (want list or show)", sub)
}

const validateHelp = `validate [options]

Checks the configuration: syntax, attribute names and types, values,
references and variables. Connects to nothing.`

func cmdValidate(_ context.Context, g *globals, args []string) int {
	a, ok, code := parseValidate(g, args)
	if !ok {
		return code
	}
	w, code := g.openWorkspace(&a.common)
	if w == nil {
		return code
	}
	newValidateView(g, a).valid(w.cfg)
	return exitOK
}

const fmtHelp = `fmt [-check]

Rewrites *.milink.hcl files in the canonical layout. With -check, changes
nothing and exits 3 if any file needs formatting (listing them).`

func cmdFmt(_ context.Context, g *globals, args []string) int {
	fs := newFlags(g, "fmt", fmtHelp)
	check := fs.Bool("check", false, "List files that need formatting; exit 3 if any; change nothing.")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if ok, code := fs.noArgs("; to format another directory: milink -chdir=DIR fmt"); !ok {
		return code
	}
	changed, src, diags, err := config.FormatDir(g.dir(), *check)
	if len(diags) > 0 {
		// With snippets, as validate prints them.
		if werr := src.WriteDiagnostics(g.io.err, diags, false, 100); werr != nil {
			for _, d := range diags {
				fmt.Fprintln(g.io.err, d.Error())
			}
		}
		return exitError
	}
	if err != nil {
		return g.errorf("%v", err)
	}
	for _, f := range changed {
		fmt.Fprintln(g.io.out, f)
	}
	if *check && len(changed) > 0 {
		return 3
	}
	return exitOK
}

const unlockHelp = `force-unlock LOCK_ID

A local state's lock is held by the operating system for as long as the
milink holding it runs, and released when it ends, even by kill -9: no
command is needed after a crash, and a lock a running milink holds is never
broken. force-unlock removes the lock record (who, where, when) that a
milink which died left behind, given the ID the refused command printed.

On Azure Blob Storage (backend "azurerm") the lock is a lease that a killed
milink stops renewing, so it expires by itself within a minute; force-unlock
breaks it at once, but only when LOCK_ID is the ID of the lock held.`

func cmdForceUnlock(ctx context.Context, g *globals, args []string) int {
	fs := newFlags(g, "force-unlock", unlockHelp)
	statePath := fs.String("state", "", "Path of the state file (default DIR/milink.state.json).")
	workspace := fs.String("workspace", "", "Unlock this workspace's state (default: $MILINK_WORKSPACE, else default).")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return g.errorf("force-unlock takes exactly one lock ID (unexpected argument %q)", fs.Arg(1))
	}
	if fs.NArg() != 1 {
		return g.errorf("force-unlock needs the lock ID, which the command refused the lock printed: milink force-unlock ID")
	}
	b, code := g.stateOnly(*statePath, *workspace)
	if b == nil {
		return code
	}
	if err := b.ForceUnlock(ctx, fs.Arg(0)); err != nil {
		return g.errorf("%v", err)
	}
	fmt.Fprintf(g.io.out, "Lock %s on %s was released.\n", fs.Arg(0), b.Location())
	return exitOK
}

// blockCount says how many blocks of each kind a configuration has, in
// registration order: "1 sql_server, 1 master_key, 3 database".
func blockCount(cfg *config.Config) string {
	n := map[string]int{}
	for _, b := range cfg.Blocks {
		n[b.Type]++
	}
	var parts []string
	for _, t := range cfg.Registry.Types() {
		if n[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[t], t))
		}
	}
	if len(parts) == 0 {
		return "no blocks"
	}
	return strings.Join(parts, ", ")
}

// statePush replaces the stored state with the document in file, under
// the lock, by the rules of state.CheckPush.
func statePush(ctx context.Context, g *globals, b state.Backend, file string, force bool, timeout time.Duration) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return g.errorf("state push: %v", err)
	}
	next, err := state.Decode(data, file)
	if err != nil {
		return g.errorf("state push: %v", err)
	}
	waiting := state.WithProgress(ctx, func(msg string) { fmt.Fprintln(g.io.err, msg) })
	lk, err := b.Lock(waiting, "push", timeout)
	if err != nil {
		return g.errorf("%v", err)
	}
	defer lk.Unlock()
	cur, err := b.Load(ctx)
	if err != nil {
		return g.errorf("%v", err)
	}
	out, same, err := state.CheckPush(cur, next, force)
	if err != nil {
		return g.errorf("%v", err)
	}
	if same {
		fmt.Fprintf(g.io.out, "%s already holds this state (serial %d); nothing was written.\n", b.Location(), cur.Serial)
		return exitOK
	}
	if err := b.Replace(ctx, out); err != nil {
		return g.errorf("%v", err)
	}
	if err := lk.Unlock(); err != nil {
		return g.errorf("%v", err)
	}
	fmt.Fprintf(g.io.out, "Pushed %s to %s: lineage %s, serial %d.\n", file, b.Location(), out.Lineage, out.Serial)
	return exitOK
}
