package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// The views: how a command shows its result, for people (here) or for
// programs (views_json.go), behind one small interface per command, as in
// Terraform's internal/command/views. A command chooses its view from its
// arguments (arguments.go) and never prints its result itself. Errors and
// diagnostics go through globals.errorf and workspace.diagnostics: text
// on stderr, and with -json also JSON on stdout.

// planView shows what milink plan computed.
type planView interface {
	// plan shows the plan; a refresh-only plan, what changed outside
	// milink.
	plan(p *plan.Plan) error
	// saved says that the plan was saved to path (plan -out).
	saved(path string)
}

func newPlanView(g *globals, a *planArgs) planView {
	if a.json {
		return &planJSON{out: g.io.out}
	}
	return &planHuman{out: g.io.out, opts: renderOptions(g, &a.common)}
}

// renderOptions are the human views' options: colour on a terminal unless
// refused, the steps' text with -verbose.
func renderOptions(g *globals, c *common) render.Options {
	return render.Options{Color: render.UseColor(c.noColor, g.io.outFile), Verbose: c.verbose, Width: 100}
}

type planHuman struct {
	out  io.Writer
	opts render.Options
}

func (v *planHuman) plan(p *plan.Plan) error {
	if p.RefreshOnly {
		render.Drift(v.out, p, v.opts)
	} else {
		render.Plan(v.out, p, v.opts)
	}
	return nil
}

func (v *planHuman) saved(path string) {
	fmt.Fprintf(v.out, "\nSaved the plan to %s. To carry it out exactly: milink apply %s\n", path, path)
}

// applyView shows what milink apply does: the plan, then each change as
// it starts, progresses and ends (plan.Events), then the outcome.
type applyView interface {
	plan.Events
	// planned shows the plan about to be applied; fromFile when it was
	// saved by plan -out rather than made by this run.
	planned(p *plan.Plan, fromFile bool)
	// applying comes just before the first change.
	applying()
	// failed reports an apply that stopped with err; interrupted when
	// Ctrl-C stopped it. st is the state as apply left it.
	failed(p *plan.Plan, st *state.State, err error, interrupted bool)
	// complete reports an apply that did everything.
	complete(p *plan.Plan, st *state.State)
}

func newApplyView(w *workspace, a *applyArgs) applyView {
	if a.json {
		return newApplyJSON(w.g.json.stream, w.g.io.err, w.redact)
	}
	return &applyHuman{out: w.g.io.out, errw: w.g.io.err, color: w.color, opts: w.renderOptions()}
}

// applyHuman prints what apply does, one line per event. Instances are
// changed concurrently, so lines are written whole, under a lock.
type applyHuman struct {
	mu    sync.Mutex
	out   io.Writer
	errw  io.Writer
	color bool
	opts  render.Options
}

func (v *applyHuman) planned(p *plan.Plan, fromFile bool) {
	if fromFile {
		// Applied exactly as saved, without asking: plan -out showed it.
		return
	}
	if p.RefreshOnly {
		render.Drift(v.out, p, v.opts)
	} else {
		render.Plan(v.out, p, v.opts)
	}
}

func (v *applyHuman) applying() { fmt.Fprintln(v.out) }

func (v *applyHuman) failed(_ *plan.Plan, _ *state.State, err error, interrupted bool) {
	writeApplyError(v.errw, err, interrupted)
}

// writeApplyError says on w why apply stopped.
func writeApplyError(w io.Writer, err error, interrupted bool) {
	if interrupted {
		// Ctrl-C: the driver's error says how far the step under way
		// got (a restart, once started, is always waited for).
		fmt.Fprintf(w, "\nInterrupted: %v\n\n%s\n", err, leftHint)
		return
	}
	fmt.Fprintf(w, "\nError: %v\n\n%s\n", err, leftHint)
}

// leftHint follows a failed apply.
const leftHint = "The state records every step that completed; run milink plan to see what is left."

func (v *applyHuman) complete(p *plan.Plan, _ *state.State) {
	if p.RefreshOnly {
		fmt.Fprintf(v.out, "Refresh complete: %d object(s) updated in the state.\n", len(p.Drift))
		return
	}
	s := p.Summary()
	fmt.Fprintf(v.out, "Apply complete! Resources: %d added, %d changed, %d destroyed, %s.\n", s.Add, s.Change, s.Destroy, restartCount(s.Restart))
	for _, line := range pendingRestartLines(p) {
		fmt.Fprintf(v.out, "\n%s\n", line)
	}
}

func restartCount(n int) string {
	if n == 1 {
		return "1 restart"
	}
	return fmt.Sprintf("%d restarts", n)
}

// pendingRestartLines are the reminders an apply ends with when
// restart = "never" leaves a restart to the user, one per target.
func pendingRestartLines(p *plan.Plan) []string {
	var out []string
	targets, waiting := render.PendingRestarts(p)
	for _, t := range targets {
		out = append(out, fmt.Sprintf("Restart pending: %s must be restarted for %s to take effect; with restart = \"never\" milink leaves that to you.",
			t, strings.Join(waiting[t], " and ")))
	}
	return out
}

func (v *applyHuman) printf(format string, a ...any) {
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
	case resources.Check:
		return "Checking...", "Check passed"
	}
	return "Working...", "Done"
}

// shownAddr is how the views name a change: a restart or verification by
// its target.
func shownAddr(ch resources.Change) string {
	if ch.Transient() {
		return ch.Target
	}
	return ch.Address
}

func (v *applyHuman) Start(ch resources.Change) {
	doing, _ := verbs(ch.Action)
	v.printf("%s: %s\n", v.bold(shownAddr(ch)), doing)
}

func (v *applyHuman) Progress(ch resources.Change, msg string) {
	v.printf("%s: %s\n", shownAddr(ch), msg)
}

func (v *applyHuman) Done(ch resources.Change, elapsed time.Duration, err error) {
	if err != nil {
		v.printf("%s: failed after %s\n", v.bold(shownAddr(ch)), elapsed.Round(time.Second))
		return
	}
	_, done := verbs(ch.Action)
	v.printf("%s: %s after %s\n", v.bold(shownAddr(ch)), done, elapsed.Round(time.Second))
}

func (v *applyHuman) Skipped(ch resources.Change, reason string) {
	v.printf("%s: %s\n", v.bold(shownAddr(ch)), reason)
}

func (v *applyHuman) bold(s string) string {
	if !v.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// showView shows a saved plan or the state.
type showView interface {
	plan(p *plan.Plan) error
	state(st *state.State) error
}

func newShowView(g *globals, a *showArgs) showView {
	if a.json {
		return &showJSON{out: g.io.out}
	}
	opts := render.Options{Color: render.UseColor(a.noColor, g.io.outFile), Verbose: a.verbose, Width: 100}
	return &showHuman{out: g.io.out, opts: opts}
}

type showHuman struct {
	out  io.Writer
	opts render.Options
}

func (v *showHuman) plan(p *plan.Plan) error {
	render.Plan(v.out, p, v.opts)
	return nil
}

func (v *showHuman) state(st *state.State) error {
	if len(st.Resources) == 0 {
		fmt.Fprintln(v.out, "The state is empty: milink manages nothing here yet.")
		return nil
	}
	for i, addr := range st.Addresses() {
		if i > 0 {
			fmt.Fprintln(v.out)
		}
		if err := render.StateShow(v.out, st, addr, v.opts); err != nil {
			return err
		}
	}
	return nil
}

// validateView says that the configuration is valid; what is wrong with
// it was reported as diagnostics.
type validateView interface {
	valid(cfg *config.Config)
}

func newValidateView(g *globals, a *validateArgs) validateView {
	if a.json {
		return &validateJSON{out: g.io.out, report: g.json}
	}
	return &validateHuman{out: g.io.out}
}

type validateHuman struct{ out io.Writer }

func (v *validateHuman) valid(cfg *config.Config) {
	fmt.Fprintf(v.out, "Success! The configuration is valid (%s).\n", blockCount(cfg))
}
