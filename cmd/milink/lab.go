package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/milink/milink/examples"
	"github.com/milink/milink/lab/labcmd"
)

// cmdLab runs the lab's own commands, and `lab demo`, which shows milink's
// main job end to end against it.
func cmdLab(ctx context.Context, g *globals, args []string) int {
	if len(args) > 0 && args[0] == "demo" {
		return cmdLabDemo(ctx, g, args[1:])
	}
	if g.chdir != "" {
		if err := os.Chdir(g.chdir); err != nil {
			return g.errorf("%v", err)
		}
	}
	return labcmd.Main(ctx, args, g.io.out, g.io.err)
}

const demoHelp = `lab demo [-dir DIR] [-keep] [-address A]

Runs milink's main job against the built-in lab, end to end: starts a
simulated SQL Server 2019 (sql01) and managed instance (mi01), writes the
configuration of examples/lab into DIR, then runs 'milink plan',
'milink apply -auto-approve' (one restart of sql01) and 'milink plan'
again, which shows no changes. The lab is stopped at the end unless -keep.`

func cmdLabDemo(ctx context.Context, g *globals, args []string) int {
	fs := newFlags(g, "lab demo", demoHelp)
	dir := fs.String("dir", "", "Directory for the demo's configuration, lab and state (default: a new temporary directory).")
	keep := fs.Bool("keep", false, "Leave the lab running at the end (stop it with: milink -chdir=DIR lab down).")
	address := fs.String("address", "", "First loopback address of the lab (default the lab's, 127.0.0.2).")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if ok, code := fs.noArgs(""); !ok {
		return code
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "milink-demo-")
		if err != nil {
			return g.errorf("%v", err)
		}
		*dir = d
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return g.errorf("%v", err)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return g.errorf("%v", err)
	}
	if err := examples.WriteLab(abs); err != nil {
		return g.errorf("writing the example configuration: %v", err)
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(g.io.out, "\n==> "+format+"\n\n", a...)
	}
	sub := func(args ...string) int {
		return run(ctx, append([]string{"-chdir=" + abs}, args...), g.io)
	}
	say("Starting the lab in %s", abs)
	upArgs := []string{"lab", "up"}
	if *address != "" {
		upArgs = append(upArgs, "-address", *address)
	}
	if code := sub(upArgs...); code != exitOK {
		return code
	}
	stopLab := func() {
		if *keep {
			fmt.Fprintf(g.io.out, "\nThe lab is still running. Stop it with: milink -chdir=%s lab down\n", abs)
			return
		}
		say("Stopping the lab")
		sub("lab", "down")
	}
	say("milink plan: what would change")
	if code := sub("plan"); code != exitOK {
		stopLab()
		return code
	}
	say("milink apply -auto-approve: carry it out")
	if code := sub("apply", "-auto-approve"); code != exitOK {
		stopLab()
		return code
	}
	say("milink plan -detailed-exitcode: nothing is left to do (the links' live status is shown)")
	code := sub("plan", "-detailed-exitcode")
	stopLab()
	if code != exitOK {
		return g.errorf("the second plan still has changes (exit %d); the environment did not converge", code)
	}
	fmt.Fprintf(g.io.out, "\nDone: sql01 is prepared and linked to mi01 (sales and payroll). Configuration and state are in %s.\n", abs)
	return exitOK
}
