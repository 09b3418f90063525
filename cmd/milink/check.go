package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/checks"
	"github.com/milink/milink/state"
)

// exitCheckFailed: a connectivity check ran and did not pass (check and
// apply), while nothing else went wrong.
const exitCheckFailed = 4

const checkHelp = `check [options] [NAME]

Runs the connectivity checks (connectivity_check blocks), or the one named
(NAME or connectivity_check.NAME), on their own: SQL Server's host opens
TCP to the managed instance, and the managed instance's SQL Agent dials
SQL Server's mirroring endpoint (a temporary one if none is started). It
reads the targets as 'milink plan' does but changes nothing else; changes
the plan still has on a check's targets are named in its hints as not
applied yet. Every test object is removed afterwards, also after a failure
or Ctrl-C, and leftovers of a killed run are removed first. The state keeps
each check's last result and time.

Exit codes: 0 every check passed, 1 error, 4 a check did not pass.`

type checkArgs struct {
	common
	json bool
	name string // "" for all
}

func parseCheck(g *globals, args []string) (*checkArgs, bool, int) {
	a := &checkArgs{}
	fs := newFlags(g, "check", checkHelp)
	a.register(fs.FlagSet, true)
	fs.BoolVar(&a.json, "json", false, "Print the results as JSON.")
	settle := g.reportJSON(args)
	if ok, code := fs.parse(args); !ok {
		return nil, false, code
	}
	settle(a.json)
	if ok, code := a.check(g); !ok {
		return nil, false, code
	}
	switch fs.NArg() {
	case 0:
	case 1:
		a.name = fs.Arg(0)
		if !strings.HasPrefix(a.name, checks.KindConnectivityCheck+".") {
			a.name = checks.KindConnectivityCheck + "." + a.name
		}
	default:
		return nil, false, g.errorf("check takes at most one check name (got %q)", fs.Args())
	}
	return a, true, 0
}

func cmdCheck(ctx context.Context, g *globals, args []string) int {
	a, ok, code := parseCheck(g, args)
	if !ok {
		return code
	}
	w, code := g.openWorkspace(&a.common)
	if w == nil {
		return code
	}
	ctx, st, lk, code := w.lock(ctx, "check")
	if st == nil {
		return code
	}
	defer lk.Unlock()
	sess := w.session()
	defer sess.Close()
	p, code := w.build(ctx, st, sess, false)
	if p == nil {
		return code
	}
	only, known := selectChecks(w, p, a.name)
	if len(only.Changes) == 0 {
		if a.name != "" {
			return g.errorf("there is no %s in the configuration", a.name)
		}
		return g.errorf("the configuration has no connectivity_check block")
	}
	out := g.io.out
	if a.json {
		out = g.io.err // stdout holds the JSON document alone
	}
	ev := &checkEvents{w: out}
	err := plan.ApplyWith(checks.WithKnowledge(ctx, known), only, w.cfg, st, w.backend, sess, ev, plan.ApplyOptions{Parallelism: a.parallelism})
	failed, other := splitCheckErrors(err)
	if a.json {
		doc := checkDocument(only, st)
		b, jerr := json.MarshalIndent(doc, "", "  ")
		if jerr != nil {
			return g.errorf("%v", jerr)
		}
		fmt.Fprintf(g.io.out, "%s\n", b)
	}
	for _, e := range other {
		g.errorf("%v", e)
	}
	for _, f := range failed {
		fmt.Fprintf(g.io.err, "\nCheck failed: %v\n", f)
	}
	switch {
	case len(other) > 0:
		return exitError
	case len(failed) > 0:
		return exitCheckFailed
	}
	if !a.json {
		fmt.Fprintf(out, "\n%s passed.\n", plural(len(only.Changes), "check", "checks"))
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// selectChecks is the plan reduced to its checks (or the named one), each
// free to run now, with what is known of their paths (the changes the
// plan still has on their targets are not applied).
func selectChecks(w *workspace, p *plan.Plan, name string) (*plan.Plan, map[string]checks.Knowledge) {
	only := *p
	only.Changes = nil
	for _, ch := range p.Changes {
		if ch.Action != resources.Check || (name != "" && ch.Address != name) {
			continue
		}
		ch.DependsOn = nil
		only.Changes = append(only.Changes, ch)
	}
	return &only, checks.KnownPaths(checkBlocks(w.cfg), p.Changes, true)
}

// checkBlocks is the configuration as checks.KnownPaths reads it.
func checkBlocks(cfg *config.Config) []checks.Block {
	out := make([]checks.Block, 0, len(cfg.Blocks))
	for _, b := range cfg.Blocks {
		if b.Kind != nil {
			out = append(out, checks.Block{Addr: b.Addr, Type: b.Kind.Type, Target: b.Target, Others: b.Others})
		}
	}
	return out
}

// splitCheckErrors separates the checks that did not pass from other
// errors (a connection lost, the state not saved).
func splitCheckErrors(err error) (failed []*checks.FailedError, other []error) {
	if err == nil {
		return nil, nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var f *checks.FailedError
		if errors.As(e, &f) {
			failed = append(failed, f)
			// A failed check whose result could not be recorded is
			// both.
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				for _, x := range j.Unwrap() {
					if x != nil && !errors.As(x, new(*checks.FailedError)) {
						other = append(other, x)
					}
				}
			}
			continue
		}
		other = append(other, e)
	}
	return failed, other
}

// checkEvents prints a check's progress: each direction's result is one
// line.
type checkEvents struct {
	w interface{ Write([]byte) (int, error) }
}

func (e *checkEvents) Start(ch resources.Change) {
	fmt.Fprintf(e.w, "%s: running...\n", ch.Address)
}
func (e *checkEvents) Progress(ch resources.Change, msg string) {
	fmt.Fprintf(e.w, "%s: %s\n", ch.Address, msg)
}
func (e *checkEvents) Done(ch resources.Change, elapsed time.Duration, err error) {
	if err == nil {
		fmt.Fprintf(e.w, "%s: passed after %s\n", ch.Address, elapsed.Round(100*time.Millisecond))
	}
}
func (e *checkEvents) Skipped(ch resources.Change, reason string) {
	fmt.Fprintf(e.w, "%s: %s\n", ch.Address, reason)
}

// checkDocument is `check -json`: per check, what the state now holds of
// its last run (every direction with its hop, detail, hints and notes).
func checkDocument(p *plan.Plan, st *state.State) map[string]any {
	var list []any
	for _, ch := range p.Changes {
		entry := map[string]any{"address": ch.Address}
		if r := st.Get(ch.Address); r != nil {
			for _, k := range []string{"passed", "last_run", "results", "address", "fqdn", "port", "redirect_port"} {
				if v, ok := r.Attributes[k]; ok {
					key := k
					if k == "address" {
						key = "dialed_address"
					}
					entry[key] = v
				}
			}
		}
		list = append(list, entry)
	}
	return map[string]any{"format_version": "1.0", "milink_version": version, "checks": list}
}
