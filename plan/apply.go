package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// Events receives what apply does, for the view.
type Events interface {
	Start(ch resources.Change)
	Progress(ch resources.Change, msg string)
	Done(ch resources.Change, elapsed time.Duration, err error)
	// Skipped: the change was not attempted, because a change it depends
	// on failed.
	Skipped(ch resources.Change, reason string)
}

// StateWriter persists the state; apply records every change as it
// completes, so that nothing done is forgotten when a later step fails.
// Record's cost does not grow with the changes already recorded (the local
// backend appends to a journal).
type StateWriter interface {
	Save(ctx context.Context, s *state.State) error
	Record(ctx context.Context, s *state.State, addrs ...string) error
}

// ApplyOptions tune ApplyWith.
type ApplyOptions struct {
	// Parallelism bounds how many changes run at once (default 8: a
	// restart is not something to do to a hundred servers at once).
	Parallelism int
}

// Apply is ApplyWith with the default options.
func Apply(ctx context.Context, p *Plan, cfg *config.Config, st *state.State, sw StateWriter, sess *Session, ev Events) error {
	return ApplyWith(ctx, p, cfg, st, sw, sess, ev, ApplyOptions{})
}

// ApplyWith walks the plan's graph. A change runs once every change it
// depends on is done; changes on different targets run concurrently
// (bounded), while the changes of one target run one at a time, in plan
// order, since a target has one connection. A failure stops only what
// depends on it: the other changes go on, and every failure is returned.
// Every result is recorded in st and saved at once, so nothing done is
// forgotten when a later step fails.
func ApplyWith(ctx context.Context, p *Plan, cfg *config.Config, st *state.State, sw StateWriter, sess *Session, ev Events, o ApplyOptions) error {
	if p.RefreshOnly {
		return applyRefresh(ctx, p, st, sw)
	}
	par := o.Parallelism
	if par <= 0 {
		par = 8
	}
	if err := evaluate(p, cfg, sess); err != nil {
		return err
	}
	w := &walker{
		p: p, cfg: cfg, sess: sess, ev: ev,
		r:      &recorder{st: st, sw: sw},
		status: make([]nodeStatus, len(p.Changes)),
		index:  map[string]int{},
		sem:    make(chan struct{}, par),
		locks:  map[string]*sync.Mutex{},
	}
	w.cond = sync.NewCond(&w.mu)
	for i, ch := range p.Changes {
		w.index[ch.Address] = i
	}
	lanes := map[string][]int{}
	var laneOrder []string
	for i, ch := range p.Changes {
		lane := ch.Target
		if _, ok := lanes[lane]; !ok {
			laneOrder = append(laneOrder, lane)
		}
		lanes[lane] = append(lanes[lane], i)
	}
	var wg sync.WaitGroup
	for _, lane := range laneOrder {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runLane(ctx, lanes[lane])
		}()
	}
	wg.Wait()
	return errors.Join(w.errs...)
}

type nodeStatus int

const (
	pending nodeStatus = iota
	running
	succeeded
	failed
	skipped
)

// walker carries one apply.
type walker struct {
	p    *Plan
	cfg  *config.Config
	sess *Session
	ev   Events
	r    *recorder
	sem  chan struct{}

	// locks hold a target while a change that acts through it as one of
	// its other targets runs outside the target's lane (by address).
	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	mu          sync.Mutex
	cond        *sync.Cond
	status      []nodeStatus
	index       map[string]int
	errs        []error
	interrupted bool
}

// runLane runs one target's changes: each time, the first in plan order
// whose dependencies are done.
func (w *walker) runLane(ctx context.Context, nodes []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		next, left, changed := -1, false, false
		for _, i := range nodes {
			if w.status[i] != pending {
				continue
			}
			ready, blocked := w.deps(i)
			if blocked != "" {
				w.status[i] = skipped
				if ch := w.p.Changes[i]; ch.Action != resources.NoOp {
					w.ev.Skipped(ch, fmt.Sprintf("not done: %s, which it depends on, did not complete", blocked))
				}
				changed = true
				continue
			}
			left = true
			if ready {
				next = i
				break
			}
		}
		if changed {
			w.cond.Broadcast()
		}
		if !left {
			return
		}
		if next < 0 {
			if !changed {
				w.cond.Wait()
			}
			continue
		}
		if ctx.Err() != nil {
			// Ctrl-C: nothing new starts; the step under way elsewhere
			// finishes and is recorded.
			w.status[next] = skipped
			if !w.interrupted {
				w.interrupted = true
				w.errs = append(w.errs, fmt.Errorf("stopped before %s: %w", w.p.Changes[next].Address, interruption(ctx)))
			}
			w.cond.Broadcast()
			continue
		}
		w.status[next] = running
		w.mu.Unlock()
		w.sem <- struct{}{}
		unlock := w.lockTargets(w.p.Changes[next])
		err := w.run(ctx, w.p.Changes[next])
		unlock()
		<-w.sem
		w.mu.Lock()
		if err != nil {
			w.status[next] = failed
			w.errs = append(w.errs, err)
		} else {
			w.status[next] = succeeded
		}
		w.cond.Broadcast()
	}
}

// lockTargets holds every target of the change for as long as it runs: a
// target has one connection and serves one change at a time, which its
// lane ensures for its own changes, and these locks for the changes of
// other lanes that also act through it (Kind.OtherTargets). Locks are
// taken in address order, so two such changes never wait for each other.
func (w *walker) lockTargets(ch resources.Change) (unlock func()) {
	addrs := []string{ch.Target}
	if b := w.cfg.Block(ch.Address); b != nil && ch.Action != resources.Delete && ch.Action != resources.Forget {
		addrs = b.Targets()
	}
	sort.Strings(addrs)
	var held []*sync.Mutex
	w.locksMu.Lock()
	for _, a := range addrs {
		m, ok := w.locks[a]
		if !ok {
			m = &sync.Mutex{}
			w.locks[a] = m
		}
		held = append(held, m)
	}
	w.locksMu.Unlock()
	for _, m := range held {
		m.Lock()
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
}

// deps says whether change i can run, or names a dependency that failed.
func (w *walker) deps(i int) (ready bool, blocked string) {
	ready = true
	for _, d := range w.p.Changes[i].DependsOn {
		j, ok := w.index[d]
		if !ok {
			continue
		}
		switch w.status[j] {
		case failed, skipped:
			return false, d
		case succeeded:
		default:
			ready = false
		}
	}
	return ready, ""
}

// run carries out one change and records its result.
func (w *walker) run(ctx context.Context, ch resources.Change) error {
	switch ch.Action {
	case resources.Forget:
		return w.r.forget(ctx, ch.Address)
	case resources.NoOp:
		// Record managed objects that needed nothing, so the state knows
		// them (and can see drift next time).
		if !ch.Transient() && ch.After != nil {
			return w.r.record(ctx, ch, ch.After)
		}
		return nil
	}
	w.ev.Start(ch)
	start := time.Now()
	progress := func(msg string) { w.ev.Progress(ch, msg) }
	var err error
	switch ch.Kind {
	case resources.KindRestart:
		err = w.restart(ctx, ch, progress)
	case resources.KindVerify:
		err = w.verify(ctx, ch, progress)
	default:
		err = w.change(ctx, ch, progress)
	}
	w.ev.Done(ch, time.Since(start), err)
	return err
}

// target opens (or reuses) the change's target.
func (w *walker) target(ctx context.Context, addr string) (resources.Target, error) {
	b := w.cfg.Block(addr)
	if b == nil {
		return nil, fmt.Errorf("%s is no longer in the configuration", addr)
	}
	cfg, ok := w.sess.config(addr)
	if !ok {
		return nil, fmt.Errorf("%s: its configuration could not be evaluated", addr)
	}
	return w.sess.Target(ctx, b.Kind, addr, cfg)
}

func (w *walker) change(ctx context.Context, ch resources.Change, progress func(string)) error {
	k := w.cfg.Registry.Kind(ch.Kind)
	if k == nil {
		return fmt.Errorf("%s: this milink does not know the kind %q", ch.Address, ch.Kind)
	}
	t, err := w.target(ctx, ch.Target)
	if err != nil {
		return fmt.Errorf("%s: %w", ch.Address, err)
	}
	w.sess.mu.Lock()
	fresh := w.sess.built
	w.sess.mu.Unlock()
	req := resources.ApplyRequest{Change: ch, Target: t, Salt: w.r.st.Salt, Progress: progress, Fresh: fresh}
	if ch.Action != resources.Delete {
		cfg, ok := w.sess.config(ch.Address)
		if !ok {
			return fmt.Errorf("%s: not in the configuration any more", ch.Address)
		}
		req.Config = cfg
		if b := w.cfg.Block(ch.Address); b != nil {
			for attr, addr := range b.Others {
				o, err := w.target(ctx, addr)
				if err != nil {
					return fmt.Errorf("%s: %w", ch.Address, err)
				}
				if req.Others == nil {
					req.Others = map[string]resources.Target{}
				}
				req.Others[attr] = o
			}
		}
	}
	res, err := k.Impl.(resources.Resource).Apply(ctx, req)
	if err != nil {
		if ch.Action == resources.Check && res.Attributes != nil {
			// A check that failed has a result all the same (which
			// direction, which hop): the state keeps the last one.
			return errors.Join(err, w.r.record(ctx, ch, res.Attributes))
		}
		return err
	}
	if ch.Action == resources.Delete {
		return w.r.forget(ctx, ch.Address)
	}
	attrs := res.Attributes
	if attrs == nil {
		attrs = ch.After
	}
	return w.r.record(ctx, ch, attrs)
}

// restarted lists the changes a restart is for (its DependsOn) whose kinds
// verify themselves.
func (w *walker) restarted(restart resources.Change) []resources.ApplyRequest {
	var out []resources.ApplyRequest
	for _, addr := range restart.DependsOn {
		i, ok := w.index[addr]
		if !ok {
			continue
		}
		ch := w.p.Changes[i]
		if ch.Restart != resources.NeedsRestart && ch.Restart != resources.PendingRestart {
			continue
		}
		cfg, _ := w.sess.config(addr)
		out = append(out, resources.ApplyRequest{Change: ch, Config: cfg, Salt: w.r.st.Salt})
	}
	return out
}

func (w *walker) verifier(ch resources.Change) resources.Verifier {
	if k := w.cfg.Registry.Kind(ch.Kind); k != nil {
		if v, ok := k.Impl.(resources.Verifier); ok {
			return v
		}
	}
	return nil
}

func (w *walker) restart(ctx context.Context, ch resources.Change, progress func(string)) error {
	t, err := w.target(ctx, ch.Target)
	if err != nil {
		return fmt.Errorf("%s: %w", ch.Address, err)
	}
	r, ok := t.(resources.Restarter)
	if !ok {
		return fmt.Errorf("%s: %s cannot be restarted", ch.Address, ch.Target)
	}
	// A saved plan may be applied after someone edited the host: restart
	// only if what the restart is for is still configured.
	var stale []string
	for _, req := range w.restarted(ch) {
		if v := w.verifier(req.Change); v != nil {
			req.Target = t
			if err := v.StillConfigured(ctx, req); err != nil {
				stale = append(stale, err.Error())
			}
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%s: not restarting: %s; run milink plan again", ch.Target, strings.Join(stale, "; "))
	}
	return r.ApplyRestart(ctx, ch, progress)
}

func (w *walker) verify(ctx context.Context, ch resources.Change, progress func(string)) error {
	t, err := w.target(ctx, ch.Target)
	if err != nil {
		return fmt.Errorf("%s: %w", ch.Address, err)
	}
	r, ok := t.(resources.Restarter)
	if !ok {
		return fmt.Errorf("%s: %s cannot be verified", ch.Address, ch.Target)
	}
	obs, err := r.Observe(ctx)
	if err != nil {
		return err
	}
	var restart resources.Change
	if i, ok := w.index[resources.RestartAddr(ch.Target)]; ok {
		restart = w.p.Changes[i]
	}
	var checked, problems []string
	for _, req := range w.restarted(restart) {
		v := w.verifier(req.Change)
		if v == nil {
			continue
		}
		req.Target = t
		attrs, ok, problem := v.Verify(req, obs)
		if problem != nil {
			problems = append(problems, problem.Error())
		} else if ok != "" {
			checked = append(checked, ok)
		}
		// What the restart changed is now observed: the state records it.
		if attrs != nil {
			if err := w.r.merge(ctx, req.Change, attrs); err != nil {
				return err
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s came back from the restart without its settings: %s", ch.Target, strings.Join(problems, "; "))
	}
	if len(checked) > 0 {
		progress(strings.Join(checked, ", "))
	} else {
		progress("the target answers; no startup setting to check")
	}
	return nil
}

// evaluate makes sure the session knows every block's final configuration:
// a plan built in this run left it there; a saved plan is evaluated again
// with the values it recorded (targets' observations, planned attributes),
// so that secrets, which plan files never hold, come from the
// configuration.
func evaluate(p *Plan, cfg *config.Config, sess *Session) error {
	values := map[string]cty.Value{}
	observed := map[string]map[string]cty.Value{}
	for _, t := range p.Targets {
		m := map[string]cty.Value{}
		for k, v := range t.Values {
			m[k] = toCty(v)
		}
		observed[t.Address] = m
	}
	var errs []error
	for _, b := range blockOrder(cfg) {
		if b.Kind.Role == resources.RoleTarget {
			values[b.Addr] = blockValue(cfg, b, values, observed[b.Addr], nil)
		} else if ch := p.Change(b.Addr); ch != nil {
			values[b.Addr] = blockValue(cfg, b, values, changeValues(ch), ch.Unknown)
		}
		if _, ok := sess.config(b.Addr); ok {
			continue
		}
		if b.Kind.Role == resources.RoleResource && p.Change(b.Addr) == nil {
			continue // not in the plan: nothing to do with it
		}
		v, diags := cfg.Decode(b, values, true)
		if diags.HasErrors() {
			errs = append(errs, fmt.Errorf("%s: %s", b.Addr, diags.Error()))
			continue
		}
		sess.setConfig(b.Addr, v)
	}
	return errors.Join(errs...)
}

// recorder serialises state updates from concurrent changes.
type recorder struct {
	mu sync.Mutex
	st *state.State
	sw StateWriter
}

// record stores attributes and saves the state if anything changed.
func (r *recorder) record(ctx context.Context, ch resources.Change, attrs map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !record(r.st, ch, attrs) {
		return nil
	}
	return r.save(ctx, ch.Address)
}

// merge overlays attributes observed later (after the restart) on what
// the state holds for the change's address.
func (r *recorder) merge(ctx context.Context, ch resources.Change, attrs map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := map[string]any{}
	if prev := r.st.Get(ch.Address); prev != nil {
		for k, v := range prev.Attributes {
			all[k] = v
		}
	} else {
		for k, v := range ch.After {
			all[k] = v
		}
	}
	for k, v := range attrs {
		all[k] = v
	}
	if !record(r.st, ch, all) {
		return nil
	}
	return r.save(ctx, ch.Address)
}

// forget removes an address that left management and saves.
func (r *recorder) forget(ctx context.Context, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Get(addr) == nil {
		return nil
	}
	r.st.Remove(addr)
	return r.save(ctx, addr)
}

func (r *recorder) save(ctx context.Context, addr string) error {
	// A step that completed is recorded even when Ctrl-C arrived meanwhile:
	// the state must not forget what was done.
	if err := r.sw.Record(context.WithoutCancel(ctx), r.st, addr); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// record stores the object's attributes; it reports whether anything
// differs from what the state held, so that a run that changed nothing
// does not write a new serial.
func record(st *state.State, ch resources.Change, attrs map[string]any) bool {
	var deps []string
	for _, d := range ch.DependsOn {
		// A restart or verification is a step, not an object (and a
		// for_each key may hold a colon, so the suffix decides).
		if !strings.HasSuffix(d, ":"+resources.KindRestart) && !strings.HasSuffix(d, ":"+resources.KindVerify) {
			deps = append(deps, d)
		}
	}
	if prev := st.Get(ch.Address); prev != nil && prev.Kind == ch.Kind && prev.Target == ch.Target &&
		sameValue(prev.Attributes, attrs) && sameValue(prev.Sensitive, ch.Sensitive) && sameValue(prev.DependsOn, deps) {
		return false
	}
	st.Set(state.Resource{
		Address:    ch.Address,
		Kind:       ch.Kind,
		Target:     ch.Target,
		Attributes: attrs,
		Sensitive:  ch.Sensitive,
		DependsOn:  deps,
		UpdatedAt:  time.Now().UTC(),
	})
	return true
}

// applyRefresh records what was observed for objects the state already
// manages, changing nothing anywhere.
func applyRefresh(ctx context.Context, p *Plan, st *state.State, sw StateWriter) error {
	if len(p.Drift) == 0 {
		return nil
	}
	for _, d := range p.Drift {
		prev := st.Get(d.Address)
		if prev == nil {
			continue
		}
		attrs := map[string]any{}
		for k, v := range prev.Attributes {
			attrs[k] = v
		}
		for k, v := range d.After {
			attrs[k] = v
		}
		r := *prev
		r.Attributes = attrs
		r.UpdatedAt = time.Now().UTC()
		st.Set(r)
	}
	if err := sw.Save(context.WithoutCancel(ctx), st); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// interruption says why the run stopped: a plain cancellation is the
// user's interrupt (Ctrl-C), said in words rather than "context canceled".
func interruption(ctx context.Context) error {
	cause := context.Cause(ctx)
	if cause == context.Canceled {
		return interruptedError{}
	}
	return cause
}

// interruptedError is the user's interrupt; it is a context.Canceled.
type interruptedError struct{}

func (interruptedError) Error() string { return "the run was interrupted" }
func (interruptedError) Unwrap() error { return context.Canceled }
