package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

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
	st, err := g.backend(a.statePath).Load(ctx)
	if err != nil {
		return g.errorf("%v", err)
	}
	if err := v.state(st); err != nil {
		return g.errorf("%v", err)
	}
	return exitOK
}

func (g *globals) backend(path string) state.Backend {
	if path == "" {
		path = filepath.Join(g.dir(), "milink.state.json")
	}
	return state.NewLocal(path)
}

const stateHelp = `state <list | show ADDRESS> [options]

  list           List the addresses milink manages.
  show ADDRESS   Show one object's recorded attributes (secrets appear only
                 as (sensitive)).`

func cmdState(ctx context.Context, g *globals, args []string) int {
	fs := newFlags(g, "state", stateHelp)
	statePath := fs.String("state", "", "Path of the state file (default DIR/milink.state.json).")
	noColor := fs.Bool("no-color", false, "Never use colour.")
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
	if sub != "list" && sub != "show" {
		return g.errorf("unknown state subcommand %q (want list or show)", sub)
	}
	st, err := g.backend(*statePath).Load(ctx)
	if err != nil {
		return g.errorf("%v", err)
	}
	switch sub {
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
milink which died left behind, given the ID the refused command printed;
a remote state backend, where a lock outlives its holder, breaks the lock
itself.`

func cmdForceUnlock(ctx context.Context, g *globals, args []string) int {
	fs := newFlags(g, "force-unlock", unlockHelp)
	statePath := fs.String("state", "", "Path of the state file (default DIR/milink.state.json).")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return g.errorf("force-unlock takes exactly one lock ID (unexpected argument %q)", fs.Arg(1))
	}
	if fs.NArg() != 1 {
		return g.errorf("force-unlock needs the lock ID, which the command refused the lock printed: milink force-unlock ID")
	}
	if err := g.backend(*statePath).ForceUnlock(ctx, fs.Arg(0)); err != nil {
		return g.errorf("%v", err)
	}
	fmt.Fprintln(g.io.out, "The lock record was released.")
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
