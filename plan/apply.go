package plan

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// Events receives what apply does, for the view.
type Events interface {
	Start(ch resources.Change)
	Progress(ch resources.Change, msg string)
	Done(ch resources.Change, elapsed time.Duration, err error)
}

// StateWriter persists the state; apply saves after every change so that
// nothing done is forgotten when a later step fails.
type StateWriter interface {
	Save(ctx context.Context, s *state.State) error
}

// ApplyOptions tune ApplyWith.
type ApplyOptions struct {
	// Parallelism bounds how many instances are changed at once (default 8).
	Parallelism int
}

// Apply is ApplyWith with the default options.
func Apply(ctx context.Context, p *Plan, cfg *config.Config, st *state.State, sw StateWriter, sess *Session, ev Events) error {
	return ApplyWith(ctx, p, cfg, st, sw, sess, ev, ApplyOptions{})
}

// ApplyWith runs the plan. Each instance's changes run in plan order, one
// at a time; different instances run concurrently (bounded), except that
// an instance whose blocks depend on another instance's waits for it. Every
// result is recorded in st and saved at once, so nothing done is forgotten
// when a later step fails. A failure stops its own instance and those that
// depend on it; independent instances carry on, and every failure is
// returned.
func ApplyWith(ctx context.Context, p *Plan, cfg *config.Config, st *state.State, sw StateWriter, sess *Session, ev Events, o ApplyOptions) error {
	if p.RefreshOnly {
		return applyRefresh(ctx, p, st, sw)
	}
	par := o.Parallelism
	if par <= 0 {
		par = 8
	}
	var servers []string
	groups := map[string][]resources.Change{}
	for _, ch := range p.Changes {
		if _, ok := groups[ch.Server]; !ok {
			servers = append(servers, ch.Server)
		}
		groups[ch.Server] = append(groups[ch.Server], ch)
	}
	deps := serverDeps(cfg)
	done := map[string]chan struct{}{}
	for _, s := range servers {
		done[s] = make(chan struct{})
	}
	r := &recorder{st: st, sw: sw}
	var (
		mu     sync.Mutex
		failed = map[string]bool{}
		errs   []error
		wg     sync.WaitGroup
	)
	fail := func(server string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed[server] = true
		errs = append(errs, err)
	}
	sem := make(chan struct{}, par)
	for _, server := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[server])
			for d := range deps[server] {
				if ch, ok := done[d]; ok {
					<-ch
				}
				mu.Lock()
				f := failed[d]
				mu.Unlock()
				if f {
					fail(server, fmt.Errorf("sql_server.%s: not changed, because sql_server.%s, which it depends on, failed", server, d))
					return
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := applyServer(ctx, groups[server], cfg, r, sess, ev); err != nil {
				fail(server, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// recorder serialises state updates from concurrent instances.
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
	return r.save(ctx)
}

// forget removes an address that left management and saves.
func (r *recorder) forget(ctx context.Context, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Get(addr) == nil {
		return nil
	}
	r.st.Remove(addr)
	return r.save(ctx)
}

func (r *recorder) save(ctx context.Context) error {
	// A step that completed is recorded even when Ctrl-C arrived meanwhile:
	// the state must not forget what was done on the server.
	if err := r.sw.Save(context.WithoutCancel(ctx), r.st); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// applyServer runs one instance's changes in order, stopping at the first
// failure.
func applyServer(ctx context.Context, changes []resources.Change, cfg *config.Config, r *recorder, sess *Session, ev Events) error {
	for _, ch := range changes {
		switch ch.Action {
		case resources.Forget:
			if err := r.forget(ctx, ch.Address); err != nil {
				return err
			}
			continue
		case resources.NoOp:
			// Record managed objects that needed nothing, so the state
			// knows them (and can see drift next time).
			if !ch.Transient() && ch.After != nil {
				if err := r.record(ctx, ch, ch.After); err != nil {
					return err
				}
			}
			continue
		}
		srv := cfg.Server(ch.Server)
		if srv == nil {
			return fmt.Errorf("%s: sql_server.%s is no longer in the configuration", ch.Address, ch.Server)
		}
		d, err := sess.Driver(ctx, srv)
		if err != nil {
			return err
		}
		ev.Start(ch)
		start := time.Now()
		res, err := d.Apply(ctx, srv, ch, r.st.Salt, func(msg string) { ev.Progress(ch, msg) })
		ev.Done(ch, time.Since(start), err)
		if err != nil {
			return err
		}
		if !ch.Transient() {
			attrs := res.Attributes
			if attrs == nil {
				attrs = ch.After
			}
			if err := r.record(ctx, ch, attrs); err != nil {
				return err
			}
		}
	}
	return nil
}

// record stores the object's attributes; it reports whether anything
// differs from what the state held, so that a run that changed nothing
// does not write a new serial.
func record(st *state.State, ch resources.Change, attrs map[string]any) bool {
	if prev := st.Get(ch.Address); prev != nil && prev.Kind == ch.Kind && prev.Server == ch.Server &&
		sameValue(prev.Attributes, attrs) && sameValue(prev.Sensitive, ch.Sensitive) {
		return false
	}
	st.Set(state.Resource{
		Address:    ch.Address,
		Kind:       ch.Kind,
		Server:     ch.Server,
		Attributes: attrs,
		Sensitive:  ch.Sensitive,
		UpdatedAt:  time.Now().UTC(),
	})
	return true
}

// applyRefresh records what was observed for objects the state already
// manages, changing nothing on any server.
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
