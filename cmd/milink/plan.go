package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

const planHelp = `plan [options]

Reads the configuration (*.milink.hcl), observes every SQL Server it names
(one round trip each, concurrently), and prints the ordered changes apply
would make. Nothing is changed.

Exit codes: 0 success, 1 error; with -detailed-exitcode 0 no changes,
1 error, 2 changes present.`

func cmdPlan(ctx context.Context, g *globals, args []string) int {
	var c common
	fs := newFlags(g, "plan", planHelp)
	c.register(fs.FlagSet, true)
	out := fs.String("out", "", "Save the plan to this file, for 'milink apply FILE'.")
	asJSON := fs.Bool("json", false, "Print the plan as versioned JSON instead of text.")
	detailed := fs.Bool("detailed-exitcode", false, "Exit 2 when the plan has changes, 0 when it has none.")
	refreshOnly := fs.Bool("refresh-only", false, "Only show what changed outside milink since the last apply.")
	settle := g.reportJSON(args)
	if ok, code := fs.parse(args); !ok {
		return code
	}
	settle(*asJSON)
	if ok, code := c.check(g); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return g.errorf("plan takes no arguments (got %q); did you mean 'milink apply %s'?", fs.Arg(0), fs.Arg(0))
	}
	if *out != "" {
		// Fail before the work, not after printing the whole plan.
		if st, err := os.Stat(filepath.Dir(*out)); err != nil || !st.IsDir() {
			return g.errorf("-out=%s: the directory %s does not exist", *out, filepath.Dir(*out))
		}
	}
	w, code := g.openWorkspace(&c)
	if w == nil {
		return code
	}
	st, lk, code := w.lock(ctx, "plan")
	if st == nil {
		return code
	}
	defer lk.Unlock()

	sess := w.session()
	defer sess.Close()
	p, code := w.build(ctx, st, sess, *refreshOnly)
	if p == nil {
		return code
	}
	if *out != "" {
		// Saved before printing, so that with -json a failure to save
		// does not follow a plan already on stdout.
		if err := plan.Save(*out, p, st.Salt); err != nil {
			return g.errorf("%v", err)
		}
	}
	if *asJSON {
		if err := render.JSON(g.io.out, p); err != nil {
			return g.errorf("%v", err)
		}
	} else if *refreshOnly {
		render.Drift(g.io.out, p, w.renderOptions())
	} else {
		render.Plan(g.io.out, p, w.renderOptions())
	}
	if *out != "" && !*asJSON {
		fmt.Fprintf(g.io.out, "\nSaved the plan to %s. To carry it out exactly: milink apply %s\n", *out, *out)
	}
	if *detailed && (p.HasChanges() || (*refreshOnly && len(p.Drift) > 0)) {
		return exitChanges
	}
	return exitOK
}

// build observes and plans, printing diagnostics.
func (w *workspace) build(ctx context.Context, st *state.State, sess *plan.Session, refreshOnly bool) (*plan.Plan, int) {
	p, diags := plan.Build(ctx, w.cfg, st, sess, plan.Options{RefreshOnly: refreshOnly, MilinkVersion: version, Concurrency: w.opts.parallelism})
	w.diagnostics(diags)
	if diags.HasErrors() {
		fmt.Fprintln(w.g.io.err, "\nNothing was changed.")
		return nil, exitError
	}
	return p, exitOK
}

const applyHelp = `apply [options] [PLAN_FILE]

Plans as 'milink plan' does, shows the plan, asks for "yes", and carries it
out step by step, restarting each SQL Server at most once, then verifying it
came back with the new settings. The state is saved after every step.

With PLAN_FILE (from 'milink plan -out'), applies exactly that plan without
asking; it is refused if the state or configuration changed since.`

func cmdApply(ctx context.Context, g *globals, args []string) int {
	var c common
	fs := newFlags(g, "apply", applyHelp)
	c.register(fs.FlagSet, true)
	auto := fs.Bool("auto-approve", false, "Do not ask for confirmation.")
	refreshOnly := fs.Bool("refresh-only", false, "Record in the state what changed outside milink; change nothing on any server.")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if ok, code := c.check(g); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return g.errorf("apply takes at most one plan file (unexpected argument %q)", fs.Arg(1))
	}
	w, code := g.openWorkspace(&c)
	if w == nil {
		return code
	}
	st, lk, code := w.lock(ctx, "apply")
	if st == nil {
		return code
	}
	defer lk.Unlock()

	sess := w.session()
	defer sess.Close()

	var p *plan.Plan
	if fs.NArg() == 1 {
		saved, salt, err := plan.Load(fs.Arg(0))
		if err != nil {
			return g.errorf("%v", err)
		}
		// A plan made before any state existed carries the lineage and
		// salt it was made with; the state adopts them.
		if st.Serial == 0 && saved.Serial == 0 {
			st.Lineage, st.Salt = saved.Lineage, salt
		}
		if err := plan.CheckFresh(saved, st, w.cfg.Hash(st.Salt)); err != nil {
			return g.errorf("%v", err)
		}
		p = saved
	} else {
		p, code = w.build(ctx, st, sess, *refreshOnly)
		if p == nil {
			return code
		}
		if *refreshOnly {
			render.Drift(g.io.out, p, w.renderOptions())
		} else {
			render.Plan(g.io.out, p, w.renderOptions())
		}
		pending := p.HasChanges() || (*refreshOnly && len(p.Drift) > 0)
		if pending && !*auto {
			if !confirm(g.io.in, g.io.out) {
				fmt.Fprintln(g.io.err, "\nApply cancelled; nothing was changed.")
				return exitError
			}
		}
	}
	ev := &applyView{out: g.io.out, color: w.color}
	fmt.Fprintln(g.io.out)
	err := plan.ApplyWith(ctx, p, w.cfg, st, w.backend, sess, ev, plan.ApplyOptions{Parallelism: c.parallelism})
	if err != nil {
		if ctx.Err() != nil {
			// Ctrl-C: the driver's error says how far the step under way
			// got (a restart, once started, is always waited for).
			fmt.Fprintf(g.io.err, "\nInterrupted: %v\n\nThe state records every step that completed; run milink plan to see what is left.\n", err)
			return exitError
		}
		fmt.Fprintf(g.io.err, "\nError: %v\n\nThe state records every step that completed; run milink plan to see what is left.\n", err)
		return exitError
	}
	if p.RefreshOnly {
		fmt.Fprintf(g.io.out, "Refresh complete: %d object(s) updated in the state.\n", len(p.Drift))
		return exitOK
	}
	s := p.Summary()
	restarts := fmt.Sprintf("%d restarts", s.Restart)
	if s.Restart == 1 {
		restarts = "1 restart"
	}
	fmt.Fprintf(g.io.out, "Apply complete! Resources: %d added, %d changed, %d destroyed, %s.\n", s.Add, s.Change, s.Destroy, restarts)
	targets, waiting := render.PendingRestarts(p)
	for _, t := range targets {
		fmt.Fprintf(g.io.out, "\nRestart pending: %s must be restarted for %s to take effect; with restart = \"never\" milink leaves that to you.\n",
			t, strings.Join(waiting[t], " and "))
	}
	return exitOK
}

// confirm asks the Terraform question; only "yes" goes on.
func confirm(in io.Reader, out io.Writer) bool {
	fmt.Fprint(out, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	return strings.TrimSpace(line) == "yes"
}

// applyView prints what apply does, one line per event. Instances are
// changed concurrently, so lines are written whole, under a lock.
type applyView struct {
	mu    sync.Mutex
	out   io.Writer
	color bool
}

func (v *applyView) printf(format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out, format, a...)
}

func verbs(a resources.Action) (doing, done string) {
	switch a {
	case resources.Create:
		return "Creating...", "Creation complete"
	case resources.Update:
		return "Modifying...", "Modifications complete"
	case resources.Delete:
		return "Destroying...", "Destruction complete"
	case resources.Restart:
		return "Restarting...", "Restart complete"
	case resources.Verify:
		return "Verifying...", "Verified"
	}
	return "Working...", "Done"
}

// shownAddr is how the view names a change: a restart or verification by
// its target.
func shownAddr(ch resources.Change) string {
	if ch.Transient() {
		return ch.Target
	}
	return ch.Address
}

func (v *applyView) Start(ch resources.Change) {
	doing, _ := verbs(ch.Action)
	v.printf("%s: %s\n", v.bold(shownAddr(ch)), doing)
}

func (v *applyView) Progress(ch resources.Change, msg string) {
	v.printf("%s: %s\n", shownAddr(ch), msg)
}

func (v *applyView) Done(ch resources.Change, elapsed time.Duration, err error) {
	if err != nil {
		v.printf("%s: failed after %s\n", v.bold(shownAddr(ch)), elapsed.Round(time.Second))
		return
	}
	_, done := verbs(ch.Action)
	v.printf("%s: %s after %s\n", v.bold(shownAddr(ch)), done, elapsed.Round(time.Second))
}

func (v *applyView) Skipped(ch resources.Change, reason string) {
	v.printf("%s: %s\n", v.bold(shownAddr(ch)), reason)
}

func (v *applyView) bold(s string) string {
	if !v.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}
