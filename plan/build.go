package plan

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// Session holds what one run opened and learned: the targets (connections
// are opened once per target per run, and apply reuses those plan opened)
// and the decoded configuration of every block.
type Session struct {
	env  resources.Env
	open func(ctx context.Context, k *resources.Kind, addr string, cfg any) (resources.Target, error)

	mu      sync.Mutex
	targets map[string]resources.Target
	configs map[string]any // final decoded configuration, by block address
	built   bool           // Build made the plan in this run (its observations are fresh)
}

// NewSession starts a run; env is given to every target it opens.
func NewSession(env resources.Env) *Session {
	s := &Session{env: env, targets: map[string]resources.Target{}, configs: map[string]any{}}
	s.open = func(ctx context.Context, k *resources.Kind, addr string, cfg any) (resources.Target, error) {
		return k.Impl.(resources.Opener).Open(ctx, s.env, addr, cfg)
	}
	return s
}

// Target returns the open target at addr, opening it on first use.
func (s *Session) Target(ctx context.Context, k *resources.Kind, addr string, cfg any) (resources.Target, error) {
	s.mu.Lock()
	t, ok := s.targets[addr]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := s.open(ctx, k, addr, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.targets[addr]; ok {
		_ = t.Close()
		return prev, nil
	}
	s.targets[addr] = t
	return t, nil
}

func (s *Session) setConfig(addr string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs[addr] = v
}

func (s *Session) config(addr string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.configs[addr]
	return v, ok
}

// Close closes every target of the run.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, t := range s.targets {
		_ = t.Close()
		delete(s.targets, addr)
	}
}

// Options tune Build.
type Options struct {
	RefreshOnly bool
	// Concurrency bounds how many targets are read at once (default 128).
	Concurrency   int
	MilinkVersion string
	Now           func() time.Time
	// ForceDelete lists addresses whose deletion goes ahead although the
	// kind's checks would refuse it (resources.DeleteRequest.Force).
	ForceDelete []string
}

// Build observes every target of the configuration concurrently, evaluates
// each block once the values it refers to are known, diffs it through its
// kind, and returns the plan: every change a node, ordered by the graph of
// references, depends_on and the kinds' rules. Diagnostics carry problems
// found against reality (unsupported version, missing database) and
// connection errors; when any is an error the plan must not be applied.
func Build(ctx context.Context, cfg *config.Config, st *state.State, sess *Session, opts Options) (*Plan, hcl.Diagnostics) {
	if cfg.Validation {
		return nil, hcl.Diagnostics{diagErr("Configuration loaded for validation only",
			"Some variables have no value; a plan needs them all.", nil)}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = 128
	}
	p := &Plan{
		FormatVersion: FormatVersion,
		MilinkVersion: opts.MilinkVersion,
		CreatedAt:     now().UTC(),
		Lineage:       st.Lineage,
		Serial:        st.Serial,
		ConfigHash:    cfg.Hash(st.Salt),
		RefreshOnly:   opts.RefreshOnly,
	}
	b := &builder{cfg: cfg, st: st, sess: sess, conc: conc, values: map[string]cty.Value{},
		observed: map[string]resources.Observation{}, failed: map[string]bool{}, changes: map[string]bool{},
		onTarget: map[string][]*config.Block{}}
	for _, blk := range cfg.Blocks {
		for _, t := range blk.Targets() {
			b.onTarget[t] = append(b.onTarget[t], blk)
		}
	}
	b.refreshTargets(ctx)
	for _, t := range cfg.Targets() {
		if o, ok := b.observed[t.Addr]; ok {
			pt := Target{TargetSummary: o.Summary(), Values: map[string]any{}}
			pt.Address, pt.Type, pt.Name = t.Addr, t.Type, t.Name
			for k, v := range o.Values() {
				pt.Values[k] = fromCty(v)
			}
			p.Targets = append(p.Targets, pt)
		} else {
			p.Targets = append(p.Targets, Target{TargetSummary: resources.TargetSummary{Address: t.Addr, Type: t.Type, Name: t.Name}})
		}
	}
	b.diffResources(ctx)
	if b.diags.HasErrors() {
		return p, b.diags
	}
	b.restarts()
	b.removed(ctx, opts.ForceDelete)
	sess.mu.Lock()
	sess.built = true
	sess.mu.Unlock()

	ordered, diags := order(cfg, b.list)
	b.diags = append(b.diags, diags...)
	if diags.HasErrors() {
		return p, b.diags
	}
	for _, ch := range ordered {
		if prev := st.Get(ch.Address); prev != nil && ch.Action != resources.Forget && ch.Action != resources.Delete {
			if d, ok := drift(prev, ch); ok {
				p.Drift = append(p.Drift, d)
			}
		}
		if !opts.RefreshOnly {
			p.Changes = append(p.Changes, ch)
		}
	}
	return p, b.diags
}

// builder carries one Build.
type builder struct {
	cfg  *config.Config
	st   *state.State
	sess *Session
	conc int

	mu       sync.Mutex
	diags    hcl.Diagnostics
	values   map[string]cty.Value // what expressions see of each evaluated block
	observed map[string]resources.Observation
	failed   map[string]bool // blocks whose evaluation or target failed: their dependents are skipped quietly
	list     []resources.Change
	changes  map[string]bool            // the addresses planned so far
	onTarget map[string][]*config.Block // resource blocks by the address of each of their targets
}

func (b *builder) report(diags ...*hcl.Diagnostic) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.diags = append(b.diags, diags...)
}

// refreshTargets opens and reads the targets, concurrently and bounded, in
// waves: a target whose arguments refer to another target's observed
// values waits for that one.
func (b *builder) refreshTargets(ctx context.Context) {
	pending := b.cfg.Targets()
	for len(pending) > 0 {
		var wave, later []*config.Block
		for _, t := range pending {
			if b.waitsFor(t, pending) {
				later = append(later, t)
			} else {
				wave = append(wave, t)
			}
		}
		if len(wave) == 0 { // cannot happen: the loader refuses cycles
			wave, later = later, nil
		}
		sem := make(chan struct{}, b.conc)
		var wg sync.WaitGroup
		for _, t := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				b.refreshTarget(ctx, t)
			}()
		}
		wg.Wait()
		pending = later
	}
}

// waitsFor reports whether target t refers to a target still pending.
func (b *builder) waitsFor(t *config.Block, pending []*config.Block) bool {
	for _, dep := range append(append([]string(nil), t.Refs...), t.DependsOn...) {
		for _, p := range pending {
			if p.Addr == dep {
				return true
			}
		}
	}
	return false
}

// refreshTarget decodes a target, opens it and refreshes it with the
// resources configured on it, as far as they are known before the refresh.
func (b *builder) refreshTarget(ctx context.Context, t *config.Block) {
	v, diags := b.cfg.Decode(t, b.valuesFor(t), true)
	b.report(diags...)
	if diags.HasErrors() {
		b.fail(t.Addr)
		return
	}
	b.sess.setConfig(t.Addr, v)
	// What the target's resources say before anything is observed: the
	// refresh may read more when it knows them (a backup directory).
	var early []resources.Instance
	for _, r := range b.onTarget[t.Addr] {
		rv, _ := b.cfg.Decode(r, b.valuesFor(r), false)
		early = append(early, resources.Instance{Address: r.Addr, Type: r.Type, Config: rv})
	}
	target, err := b.sess.Target(ctx, t.Kind, t.Addr, v)
	if err != nil {
		b.report(diagErr("Cannot connect to "+t.Addr, err.Error(), t.DeclRange.Ptr()))
		b.fail(t.Addr)
		return
	}
	obs, diags := target.Refresh(ctx, early)
	b.report(diags...)
	if diags.HasErrors() || obs == nil {
		b.fail(t.Addr)
		return
	}
	b.mu.Lock()
	b.observed[t.Addr] = obs
	b.values[t.Addr] = blockValue(b.cfg, t, b.values, obs.Values(), nil)
	b.mu.Unlock()
}

func (b *builder) fail(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed[addr] = true
}

// valuesFor is the values known so far of what blk refers to: a small
// snapshot, taken under the lock, whatever the size of the configuration.
func (b *builder) valuesFor(blk *config.Block) map[string]cty.Value {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]cty.Value, len(blk.Refs))
	for _, r := range blk.Refs {
		if v, ok := b.values[r]; ok {
			out[r] = v
		}
	}
	return out
}

// diffResources evaluates and diffs every resource block, in an order
// where what a block refers to comes first. Diff is pure, so this is
// quick and serial; so are the few Reads of kinds that look one target up
// by what another observed.
func (b *builder) diffResources(ctx context.Context) {
	priors := b.st.Priors()
	for _, blk := range blockOrder(b.cfg) {
		if blk.Kind.Role != resources.RoleResource {
			continue
		}
		if b.dependsOnFailed(blk) {
			b.failed[blk.Addr] = true
			continue
		}
		v, diags := b.cfg.Decode(blk, b.values, true)
		b.diags = append(b.diags, diags...)
		if diags.HasErrors() {
			b.failed[blk.Addr] = true
			continue
		}
		b.sess.setConfig(blk.Addr, v)
		target := b.sess.targets[blk.Target]
		req := resources.DiffRequest{
			Address:   blk.Addr,
			Config:    v,
			DeclRange: blk.DeclRange,
			Target:    target,
			Observed:  b.observed[blk.Target],
			Salt:      b.st.Salt,
		}
		if pr, ok := priors[blk.Addr]; ok {
			req.Prior = &pr
		}
		for attr, addr := range blk.Others {
			if req.Others == nil {
				req.Others = map[string]resources.OtherTarget{}
			}
			req.Others[attr] = resources.OtherTarget{Target: b.sess.targets[addr], Observed: b.observed[addr]}
		}
		if r, ok := blk.Kind.Impl.(resources.Reader); ok {
			read, diags := r.Read(ctx, req)
			b.diags = append(b.diags, diags...)
			if diags.HasErrors() {
				b.failed[blk.Addr] = true
				continue
			}
			req.Read = read
		}
		ch, diags := blk.Kind.Impl.(resources.Resource).Diff(req)
		b.diags = append(b.diags, diags...)
		if diags.HasErrors() {
			b.failed[blk.Addr] = true
			continue
		}
		ch.Address, ch.Kind, ch.Target, ch.Part = blk.Addr, blk.Type, blk.Target, blk.Parent
		b.add(ch)
		b.values[blk.Addr] = blockValue(b.cfg, blk, b.values, changeValues(&ch), ch.Unknown)
	}
}

func (b *builder) dependsOnFailed(blk *config.Block) bool {
	for _, d := range append(append(blk.Targets(), blk.Refs...), blk.DependsOn...) {
		if b.failed[d] {
			return true
		}
	}
	return false
}

func (b *builder) add(ch resources.Change) {
	b.list = append(b.list, ch)
	b.changes[ch.Address] = true
}

// restarts asks each target that restarts for one restart (and its
// verification) covering every change on it that needs one.
func (b *builder) restarts() {
	needingBy := map[string][]resources.Change{}
	for _, ch := range b.list {
		if ch.Restart != resources.NoRestart {
			needingBy[ch.Target] = append(needingBy[ch.Target], ch)
		}
	}
	for _, t := range b.cfg.Targets() {
		target, ok := b.sess.targets[t.Addr]
		if !ok {
			continue
		}
		r, ok := target.(resources.Restarter)
		if !ok {
			continue
		}
		needing := needingBy[t.Addr]
		for _, ch := range r.RestartChanges(b.observed[t.Addr], needing) {
			b.add(ch)
		}
	}
}

// removed plans what becomes of objects the state holds whose block is
// gone: their kind deletes them, or they leave management.
func (b *builder) removed(ctx context.Context, force []string) {
	defer b.reverseDeletes()
	forced := map[string]bool{}
	for _, a := range force {
		forced[a] = true
	}
	defer func() {
		// What was forced and not checked: a typo, or an address still in
		// the configuration, which nothing deletes.
		for _, a := range sortedSet(forced) {
			b.diags = append(b.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Nothing to force",
				Detail: fmt.Sprintf("-force-delete %s: milink plans no checked deletion of %s (it is still in the configuration, or not in the state, or its kind has no checks).", a, a)})
		}
	}()
	for _, addr := range b.st.Addresses() {
		if _, ok := b.changes[addr]; ok || b.failed[addr] || b.cfg.Block(addr) != nil {
			continue
		}
		prev := b.st.Get(addr)
		if prev.Kind == resources.KindRestart || prev.Kind == resources.KindVerify {
			continue
		}
		prior := resources.Prior{Attributes: prev.Attributes}
		k := b.cfg.Registry.Kind(prev.Kind)
		if k != nil && k.Removal == resources.RemoveDelete {
			target, ok := b.sess.targets[prev.Target]
			if !ok {
				b.diags = append(b.diags, diagErr("Cannot delete "+addr,
					fmt.Sprintf("%s is no longer in the configuration, so milink would delete it, but its target %s is not in the configuration either (or could not be read). Restore %s for this run, or remove %s from the state with milink state rm.", addr, prev.Target, prev.Target, addr), nil))
				continue
			}
			var ch resources.Change
			if dc, ok := k.Impl.(resources.DeleteChecker); ok {
				var diags hcl.Diagnostics
				ch, diags = dc.CheckDelete(ctx, resources.DeleteRequest{
					Address: addr, Prior: prior, Target: target, Observed: b.observed[prev.Target],
					Force: forced[addr],
					Lookup: func(a string) (resources.Target, resources.Observation, bool) {
						t, ok := b.sess.targets[a]
						return t, b.observed[a], ok && t != nil
					},
				})
				b.diags = append(b.diags, diags...)
				delete(forced, addr)
				if diags.HasErrors() {
					continue
				}
			} else {
				ch = k.Impl.(resources.Deleter).PlanDelete(prior, target)
			}
			// A deleter may answer Forget: the object is one milink found
			// rather than made (an endpoint it adopted), and stays.
			forget := ch.Action == resources.Forget
			ch.Address, ch.Kind, ch.Target, ch.Action = addr, prev.Kind, prev.Target, resources.Delete
			if forget {
				ch.Action, ch.Steps = resources.Forget, nil
			}
			if ch.Before == nil {
				ch.Before = prev.Attributes
			}
			ch.Sensitive = prev.Sensitive
			switch {
			case ch.Reason != "":
			case forget:
				ch.Reason = "no longer in the configuration; milink did not create it, so it stays as it is"
			default:
				ch.Reason = "no longer in the configuration; milink created it and deletes it"
			}
			b.add(ch)
			continue
		}
		b.add(resources.Change{
			Address:   addr,
			Kind:      prev.Kind,
			Target:    prev.Target,
			Action:    resources.Forget,
			Before:    prev.Attributes,
			Sensitive: prev.Sensitive,
			Reason:    "no longer in the configuration; left as it is",
		})
	}
}

// reverseDeletes orders the deletions of objects removed together in the
// reverse of their creation: an object is deleted after every deleted
// object that depended on it (the state keeps each one's dependencies).
func (b *builder) reverseDeletes() {
	deleted := map[string]int{}
	for i, ch := range b.list {
		if ch.Action == resources.Delete {
			deleted[ch.Address] = i
		}
	}
	for addr := range deleted {
		prev := b.st.Get(addr)
		if prev == nil {
			continue
		}
		for _, d := range prev.DependsOn {
			if j, ok := deleted[d]; ok && !slices.Contains(b.list[j].DependsOn, addr) {
				b.list[j].DependsOn = append(b.list[j].DependsOn, addr)
			}
		}
	}
}

// blockOrder sorts blocks so that every block comes after what it refers
// to, depends on and acts through; otherwise in configuration order.
func blockOrder(cfg *config.Config) []*config.Block {
	index := map[string]int{}
	for i, b := range cfg.Blocks {
		index[b.Addr] = i
	}
	done := map[string]bool{}
	var out []*config.Block
	var visit func(b *config.Block)
	visit = func(b *config.Block) {
		if done[b.Addr] {
			return
		}
		done[b.Addr] = true // the loader refused cycles
		deps := append(append(b.Targets(), b.Refs...), b.DependsOn...)
		sort.SliceStable(deps, func(i, j int) bool { return index[deps[i]] < index[deps[j]] })
		for _, d := range deps {
			if i, ok := index[d]; ok {
				visit(cfg.Blocks[i])
			}
		}
		out = append(out, b)
	}
	for _, b := range cfg.Blocks {
		visit(b)
	}
	return out
}

// drift compares what the state recorded after the last apply with what
// was just observed, on the attributes both know. A value that moved to
// what the configuration asks for is not drift: it is a restart someone
// performed as milink asked (restart = "never"), or milink's own
// unfinished work.
func drift(prev *state.Resource, ch resources.Change) (resources.Change, bool) {
	if ch.Before == nil || ch.Transient() {
		return resources.Change{}, false
	}
	before := map[string]any{}
	after := map[string]any{}
	for k, was := range prev.Attributes {
		now, ok := ch.Before[k]
		if !ok || ch.IsSensitive(k) {
			continue
		}
		if want, ok := ch.After[k]; ok && sameValue(now, want) && !sameValue(was, want) {
			continue
		}
		if !sameValue(was, now) {
			before[k] = was
			after[k] = now
		}
	}
	if len(before) == 0 {
		return resources.Change{}, false
	}
	return resources.Change{
		Address: ch.Address,
		Kind:    ch.Kind,
		Target:  ch.Target,
		Action:  resources.Update,
		Before:  before,
		After:   after,
	}, true
}
