package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources/checks"
	"github.com/milink/milink/state"
)

const planHelp = `plan [options]

Reads the configuration (*.milink.hcl), observes every SQL Server it names
(one round trip each, concurrently), and prints the ordered changes apply
would make. Nothing is changed.

Exit codes: 0 success, 1 error; with -detailed-exitcode 0 no changes,
1 error, 2 changes present.`

func cmdPlan(ctx context.Context, g *globals, args []string) int {
	a, ok, code := parsePlan(g, args)
	if !ok {
		return code
	}
	w, code := g.openWorkspace(&a.common)
	if w == nil {
		return code
	}
	ctx, st, lk, code := w.lock(ctx, "plan")
	if st == nil {
		return code
	}
	defer lk.Unlock()

	sess := w.session()
	defer sess.Close()
	p, code := w.build(ctx, st, sess, a.refreshOnly)
	if p == nil {
		return code
	}
	if a.out != "" {
		// Saved before printing, so that with -json a failure to save
		// does not follow a plan already on stdout.
		if err := plan.Save(a.out, p, st.Salt); err != nil {
			return g.errorf("%v", err)
		}
	}
	v := newPlanView(g, a)
	if err := v.plan(p); err != nil {
		return g.errorf("%v", err)
	}
	if a.out != "" {
		v.saved(a.out)
	}
	if a.detailed && (p.HasChanges() || (a.refreshOnly && len(p.Drift) > 0)) {
		return exitChanges
	}
	return exitOK
}

// build observes and plans, printing diagnostics.
func (w *workspace) build(ctx context.Context, st *state.State, sess *plan.Session, refreshOnly bool) (*plan.Plan, int) {
	p, diags := plan.Build(ctx, w.cfg, st, sess, plan.Options{RefreshOnly: refreshOnly, MilinkVersion: version, Concurrency: w.opts.parallelism,
		ForceDelete: w.opts.forceDelete})
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
	a, ok, code := parseApply(g, args)
	if !ok {
		return code
	}
	w, code := g.openWorkspace(&a.common)
	if w == nil {
		return code
	}
	ctx, st, lk, code := w.lock(ctx, "apply")
	if st == nil {
		return code
	}
	defer lk.Unlock()

	sess := w.session()
	defer sess.Close()

	v := newApplyView(w, a)
	var p *plan.Plan
	if a.fromFile {
		saved, salt, err := plan.Load(a.planFile)
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
		v.planned(p, true)
	} else {
		p, code = w.build(ctx, st, sess, a.refreshOnly)
		if p == nil {
			return code
		}
		v.planned(p, false)
		pending := p.HasChanges() || (a.refreshOnly && len(p.Drift) > 0)
		// apply -json cannot get here without -auto-approve.
		if pending && !a.autoApprove {
			if !confirm(g.io.in, g.io.out) {
				fmt.Fprintln(g.io.err, "\nApply cancelled; nothing was changed.")
				return exitError
			}
		}
	}
	v.applying()
	// Connectivity checks run last; what the configuration says of their
	// paths narrows their hints.
	cctx := checks.WithKnowledge(ctx, checks.KnownPaths(checkBlocks(w.cfg), p.Changes, false))
	err := plan.ApplyWith(cctx, p, w.cfg, st, w.backend, sess, v, plan.ApplyOptions{Parallelism: a.parallelism})
	if err != nil {
		v.failed(p, st, err, interrupted(ctx))
		if failed, other := splitCheckErrors(err); len(failed) > 0 && len(other) == 0 {
			return exitCheckFailed // everything applied; a check did not pass
		}
		return exitError
	}
	v.complete(p, st)
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
