package sqlserver

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// traceFlagsImpl is the startup_trace_flags kind: -T flags SQL Server reads
// at startup (mssql.conf traceflag lines, or the registry's SQLArgN).
type traceFlagsImpl struct{}

func (traceFlagsImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	tf := req.Config.(*StartupTraceFlags)
	o := req.Observed.(*Observed)
	i := req.Target.(*Instance)
	s := i.s
	linux, windows := hostDrivers(s, nil)
	want := host.SortedFlags(tf.Flags)
	add := minus(want, o.FlagsConfigured)
	var remove []int
	if tf.Exclusive {
		remove = minus(o.FlagsConfigured, want)
	}
	configured := minus(union(o.FlagsConfigured, want), remove)
	missing := minus(want, o.FlagsRunning)             // wanted, not running
	stale := intersect(remove, o.FlagsRunning)         // removed, still running
	needsRestart := len(missing) > 0 || len(stale) > 0 // only a restart settles the running set
	running := o.FlagsRunning
	if needsRestart && s.Restart != "never" {
		running = minus(union(o.FlagsRunning, want), remove)
	}
	ch := resources.Change{
		Address: tf.Addr(),
		Kind:    KindTraceFlags,
		Target:  s.Addr(),
		Action:  resources.NoOp,
		Before:  map[string]any{"running": intsAny(o.FlagsRunning), "configured": intsAny(o.FlagsConfigured)},
		After:   map[string]any{"running": intsAny(running), "configured": intsAny(configured)},
	}
	var why []string
	if len(add) > 0 {
		why = append(why, "add startup trace flags "+intsText(add))
	}
	if len(remove) > 0 {
		why = append(why, "remove startup trace flags "+intsText(remove))
	}
	if len(add)+len(remove) > 0 {
		ch.Action = resources.Update
		if linux != nil {
			ch.Steps = []resources.Step{linux.TraceFlagsStep(o.FlagsConfigured, add, remove, o.ConfTool)}
		} else {
			ch.Steps = []resources.Step{windows.TraceFlagsStep(add, remove)}
		}
		if needsRestart {
			ch.Restart = resources.NeedsRestart
		}
	} else if needsRestart && len(stale) == 0 && !hadrRestarts(s, o) {
		// Configured, but turned off at run time (DBCC TRACEOFF): turned
		// back on now, globally; a restart would only be needed if a
		// startup setting had changed, and none has.
		ch.Action = resources.Update
		ch.Steps = []resources.Step{{Kind: "tsql", On: s.Addr(), Text: TraceOnSQL(missing)}}
		ch.After["running"] = intsAny(union(o.FlagsRunning, missing))
		why = append(why, intsText(missing)+" configured but turned off at run time: turned back on with DBCC TRACEON, no restart")
	} else if needsRestart {
		ch.Restart = resources.PendingRestart
		var pend []string
		if len(missing) > 0 {
			pend = append(pend, intsText(missing)+" configured, not yet running")
		}
		if len(stale) > 0 {
			pend = append(pend, intsText(stale)+" removed, still running")
		}
		tail := ": restart pending"
		if byEarlierApply(req.Prior, "configured", intsAny(configured)) {
			tail = " by an earlier apply that stopped before its restart: restart pending"
		}
		why = append(why, strings.Join(pend, "; ")+tail)
	}
	ch.Reason = strings.Join(why, "; ")
	return ch, nil
}

func (traceFlagsImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	i := req.Target.(*Instance)
	if req.Progress != nil {
		defer i.reportTo(req.Progress)()
	}
	ch := req.Change
	tf, ok := req.Config.(*StartupTraceFlags)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	st, err := i.startup(ctx, ch.Address)
	if err != nil {
		i.settingFailed = true
		return resources.Result{}, err
	}
	want := host.SortedFlags(tf.Flags)
	add := minus(want, st.TraceFlags)
	var remove []int
	if tf.Exclusive {
		remove = minus(st.TraceFlags, want)
	}
	if len(add)+len(remove) == 0 && ch.Restart == resources.NoRestart && len(ch.Steps) == 1 && strings.HasPrefix(ch.Steps[0].Text, "DBCC TRACEON") {
		// The plan turns configured flags back on at run time.
		missing := minus(want, anyInts(ch.Before["running"]))
		if len(missing) > 0 {
			q := TraceOnSQL(missing)
			if err := i.exec(ctx, q, q); err != nil {
				return resources.Result{}, sqlError(i.s, ch.Address, "turning trace flags on", err)
			}
		}
		running := union(anyInts(ch.Before["running"]), missing)
		return resources.Result{Attributes: map[string]any{"running": intsAny(running), "configured": intsAny(st.TraceFlags)}}, nil
	}
	if len(add)+len(remove) > 0 {
		var step resources.Step
		if i.linux != nil {
			step, err = i.linux.SetTraceFlags(ctx, add, remove)
		} else {
			step, err = i.windows.SetTraceFlags(ctx, add, remove)
		}
		i.log.Debug("host step", "kind", step.Kind, "text", step.Text)
		if err != nil {
			i.settingFailed = true
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	configured := minus(union(st.TraceFlags, want), remove)
	// As for HADR: the running flags are recorded as observed; the
	// verification after the restart records the new ones.
	running := ch.Before["running"]
	if running == nil {
		running = []any{}
	}
	return resources.Result{Attributes: map[string]any{"running": running, "configured": intsAny(configured)}}, nil
}

// StillConfigured re-reads the startup flags just before the restart.
func (traceFlagsImpl) StillConfigured(ctx context.Context, req resources.ApplyRequest) error {
	i := req.Target.(*Instance)
	tf, ok := req.Config.(*StartupTraceFlags)
	if !ok {
		return nil
	}
	st, err := i.startup(ctx, req.Change.Address)
	if err != nil {
		return err
	}
	if missing := minus(host.SortedFlags(tf.Flags), st.TraceFlags); len(missing) > 0 {
		return fmt.Errorf("%s: startup trace flags %s are no longer configured on the host: the host changed since the plan was made", req.Change.Address, intsText(missing))
	}
	return nil
}

// Verify checks DBCC TRACESTATUS(-1) after the restart.
func (traceFlagsImpl) Verify(req resources.ApplyRequest, after resources.Observation) (map[string]any, string, error) {
	tf, ok := req.Config.(*StartupTraceFlags)
	if !ok {
		return nil, "", nil
	}
	o := after.(*Observed)
	want := host.SortedFlags(tf.Flags)
	attrs := map[string]any{"running": intsAny(o.FlagsRunning), "configured": intsAny(o.FlagsConfigured)}
	if missing := minus(want, o.FlagsRunning); len(missing) > 0 {
		return attrs, "", fmt.Errorf("trace flags %s are not active (DBCC TRACESTATUS(-1))", intsText(missing))
	}
	if len(want) == 0 {
		return attrs, "", nil
	}
	return attrs, fmt.Sprintf("trace flags %s active", intsText(want)), nil
}

// minus is a without the elements of b, in a's order (union and intersect
// are its companions for trace flag lists).
func minus(a, b []int) []int {
	in := map[int]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []int
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func union(a, b []int) []int { return host.SortedFlags(append(append([]int(nil), a...), b...)) }

func intersect(a, b []int) []int { return minus(a, minus(a, b)) }

func intsAny(xs []int) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func intsText(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ", ")
}

// sameJSON compares values that may have made a round trip through JSON
// (the state's numbers are float64, its lists []any).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}

// hadrRestarts reports whether the instance is to be restarted anyway for
// Always On (configured one way, running the other).
func hadrRestarts(s *Server, o *Observed) bool {
	if s.Hadr == nil {
		return false
	}
	return o.HadrRunning != s.Hadr.Enabled
}

// anyInts reads a list of numbers as a plan or the state holds it.
func anyInts(v any) []int {
	var out []int
	switch xs := v.(type) {
	case []any:
		for _, x := range xs {
			switch n := x.(type) {
			case int:
				out = append(out, n)
			case float64:
				out = append(out, int(n))
			}
		}
	case []int:
		out = append(out, xs...)
	}
	return out
}
