package lab

import (
	"context"
	"fmt"
)

// Run is the background process of `milink lab up`: it opens and starts the
// lab, serves the control API, and runs until ctx ends or a client asks it
// to go down. Everything it started is stopped before it returns; the data
// stays in the lab directory.
func Run(ctx context.Context, cfg Config) error {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l, err := Open(cfg)
	if err != nil {
		return err
	}
	if err := l.Start(); err != nil {
		l.Close()
		return err
	}
	ctl, err := StartControl(l)
	if err != nil {
		l.Close()
		return err
	}
	for _, s := range l.Servers() {
		logf("%s (%s, %s) is up on %s", s.Name(), s.Kind(), s.Profile().Name, s.Addr())
	}
	logf("lab %s is up; control API at %s", l.Dir(), ControlPath(l.Dir()))
	select {
	case <-ctx.Done():
		logf("stopping: %v", context.Cause(ctx))
	case <-ctl.Down():
		logf("stopping: asked by \"milink lab down\"")
	}
	// Remove control.json first so nobody talks to a lab going away.
	cerr := ctl.Close()
	l.Close()
	logf("lab stopped")
	if cerr != nil {
		return fmt.Errorf("control API: %w", cerr)
	}
	return nil
}
