package plan

import (
	"context"
	"fmt"
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

// Apply runs the plan's changes in order against the instances, recording
// each result in st and saving it after each change. It stops at the first
// failure; what was done before it stays recorded.
func Apply(ctx context.Context, p *Plan, cfg *config.Config, st *state.State, sw StateWriter, sess *Session, ev Events) error {
	if p.RefreshOnly {
		return applyRefresh(ctx, p, st, sw)
	}
	dirty := false
	save := func() error {
		if !dirty {
			return nil
		}
		dirty = false
		if err := sw.Save(ctx, st); err != nil {
			return fmt.Errorf("saving state: %w", err)
		}
		return nil
	}
	for _, ch := range p.Changes {
		switch ch.Action {
		case resources.Forget:
			st.Remove(ch.Address)
			dirty = true
			continue
		case resources.NoOp:
			// Record managed objects that needed nothing, so the state
			// knows them (and can see drift next time).
			if ch.Kind != "restart" && ch.Kind != "verify" && ch.After != nil {
				if record(st, ch, ch.After) {
					dirty = true
				}
			}
			continue
		}
		srv := cfg.Server(ch.Server)
		if srv == nil {
			_ = save()
			return fmt.Errorf("%s: sql_server.%s is no longer in the configuration", ch.Address, ch.Server)
		}
		d, err := sess.Driver(ctx, srv)
		if err != nil {
			_ = save()
			return err
		}
		ev.Start(ch)
		start := time.Now()
		res, err := d.Apply(ctx, srv, ch, st.Salt, func(msg string) { ev.Progress(ch, msg) })
		ev.Done(ch, time.Since(start), err)
		if err != nil {
			if serr := save(); serr != nil {
				return fmt.Errorf("%w (and %v)", err, serr)
			}
			return err
		}
		if ch.Kind != "restart" && ch.Kind != "verify" {
			attrs := res.Attributes
			if attrs == nil {
				attrs = ch.After
			}
			record(st, ch, attrs)
			dirty = true
			if err := save(); err != nil {
				return err
			}
		}
	}
	return save()
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
	if err := sw.Save(ctx, st); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}
