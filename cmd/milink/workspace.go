package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
	"github.com/milink/milink/state"
)

// extraKinds are registered beside milink's own (the tests add a kind
// that deletes what it created).
var extraKinds []*resources.Kind

// registry is every kind this milink knows.
func (g *globals) registry() *resources.Registry {
	reg := kinds.Registry(extraKinds...)
	// Snippets mask what the kinds' schemas call secret, beside what
	// looks like one by its name. The kinds are the same for the whole
	// process (the tests run many commands in one), so the hook is set once.
	sensitiveOnce.Do(func() { config.SensitiveAttribute = reg.IsSensitive })
	return reg
}

var sensitiveOnce sync.Once

// session opens targets for one run, logging with the workspace's logger.
func (w *workspace) session() *plan.Session {
	return plan.NewSession(resources.Env{Log: w.log})
}

// listFlag collects a repeatable flag (-var, -var-file).
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint([]string(*l)) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// common are the options plan, apply and validate share.
type common struct {
	vars, varFiles listFlag
	noColor        bool
	verbose        bool
	statePath      string
	workspace      string // -workspace, then MILINK_WORKSPACE; checked by check
	lockTimeout    time.Duration
	parallelism    int
	forceDelete    listFlag // -force-delete ADDRESS: plan.Options.ForceDelete
	withState      bool     // -state, -lock-timeout and -parallelism were registered
	// allowUnset loads without every variable (validate).
	allowUnset bool
	// noBackend: the command touches no state (validate), so the backend
	// block is checked but not opened, and may use variables not given.
	noBackend bool
}

func (c *common) register(fs *flag.FlagSet, withState bool) {
	fs.Var(&c.vars, "var", "Set a variable: -var 'name=value' (repeatable).")
	fs.Var(&c.varFiles, "var-file", "Read variables from a file of name = value lines (repeatable).")
	fs.BoolVar(&c.noColor, "no-color", false, "Never use colour (also: NO_COLOR, or output that is not a terminal).")
	fs.BoolVar(&c.verbose, "verbose", false, "Show the exact T-SQL and commands of every step.")
	c.withState = withState
	if withState {
		fs.StringVar(&c.statePath, "state", "", "Path of the state file (default DIR/milink.state.json).")
		fs.StringVar(&c.workspace, "workspace", "", "Use this workspace's state, independent of the others (default: $MILINK_WORKSPACE, else default).")
		fs.DurationVar(&c.lockTimeout, "lock-timeout", 0, "How long to wait for the state lock, e.g. 30s (default: fail at once).")
		fs.IntVar(&c.parallelism, "parallelism", 128, "How many instances to read or change at once.")
		fs.Var(&c.forceDelete, "force-delete", "Delete this address although its checks refuse (a link whose copies differ); repeatable.")
	}
}

// check refuses option values that make no sense, before anything is
// read or contacted: no instance at a time would wait forever, and a
// negative wait is a typo.
func (c *common) check(g *globals) (bool, int) {
	if !c.withState {
		return true, 0
	}
	if c.parallelism < 1 {
		return false, g.errorf("-parallelism must be at least 1 (got %d)", c.parallelism)
	}
	if c.lockTimeout < 0 {
		return false, g.errorf("-lock-timeout must not be negative (got %s); 0 fails at once when the state is locked", c.lockTimeout)
	}
	ws, err := g.workspaceName(c.workspace)
	if err != nil {
		return false, g.errorf("%v", err)
	}
	c.workspace = ws
	return true, 0
}

// workspace is a loaded configuration with its state backend and views.
type workspace struct {
	g       *globals
	opts    *common
	cfg     *config.Config
	sources *config.Sources
	backend state.Backend
	log     hclog.Logger
	color   bool
}

func (g *globals) openWorkspace(opts *common) (*workspace, int) {
	w := &workspace{g: g, opts: opts}
	w.color = render.UseColor(opts.noColor, g.io.outFile)
	w.log = newLogger(g.io)
	cfg, src, diags := config.Load(g.dir(), g.registry(), config.Vars{Args: opts.vars, Files: opts.varFiles, Environ: g.io.environ(), AllowUnset: opts.allowUnset})
	w.sources = src
	if len(diags) > 0 {
		w.diagnostics(diags)
	}
	if diags.HasErrors() {
		return nil, exitError
	}
	w.cfg = cfg
	if opts.noBackend {
		return w, exitOK
	}
	ws := opts.workspace
	if ws == "" {
		ws = "default"
	}
	b, err := g.openBackend(cfg.Backend, opts.statePath, ws)
	if err != nil {
		return nil, g.errorf("%v", err)
	}
	w.backend = b
	return w, exitOK
}

// diagnostics prints configuration diagnostics with file, line and snippet.
func (w *workspace) diagnostics(diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	w.g.json.addDiags(w.sources, diags)
	color := render.UseColor(w.opts.noColor, w.g.io.errFile)
	if w.sources != nil {
		if err := w.sources.WriteDiagnostics(w.g.io.err, diags, color, 100); err == nil {
			return
		}
	}
	for _, d := range diags {
		fmt.Fprintf(w.g.io.err, "%s\n", d.Error())
	}
}

// lock takes the state lock for an operation and loads the state. The
// context it returns ends if the lock is lost (a remote lease that could
// not be renewed); use it for the work done under the lock. Unlock the
// returned lock in any case.
func (w *workspace) lock(ctx context.Context, op string) (context.Context, *state.State, state.Lock, int) {
	waiting := state.WithProgress(ctx, func(msg string) { fmt.Fprintln(w.g.io.err, msg) })
	lk, err := w.backend.Lock(waiting, op, w.opts.lockTimeout)
	if err != nil {
		return ctx, nil, nil, w.g.errorf("%v", err)
	}
	ctx, stop := watchLock(ctx, lk)
	lk = &watchedLock{Lock: lk, stop: stop}
	st, err := w.backend.Load(ctx)
	if err != nil {
		_ = lk.Unlock()
		return ctx, nil, nil, w.g.errorf("%v", err)
	}
	st.MilinkVersion = version
	return ctx, st, lk, exitOK
}

// watchedLock ends the watch of its lock when unlocked.
type watchedLock struct {
	state.Lock
	stop func()
}

func (l *watchedLock) Unlock() error {
	l.stop()
	return l.Lock.Unlock()
}

// redact scrubs the configuration's secrets from a text, as its JSON
// diagnostics are scrubbed, for the machine-readable views.
func (w *workspace) redact(s string) string {
	d := w.sources.JSONDiagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: s}})
	if len(d) != 1 {
		return s
	}
	return d[0].Summary
}

func (w *workspace) renderOptions() render.Options {
	return render.Options{Color: w.color, Verbose: w.opts.verbose, Width: 100}
}

// newLogger is go-hclog, off unless MILINK_LOG names a level.
func newLogger(sio *stdio) hclog.Logger {
	level := hclog.LevelFromString(sio.getenv("MILINK_LOG"))
	if level == hclog.NoLevel {
		return hclog.NewNullLogger()
	}
	var out io.Writer = sio.err
	if p := sio.getenv("MILINK_LOG_PATH"); p != "" {
		// The file stays open for the life of the process.
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			out = f
		} else {
			fmt.Fprintf(sio.err, "Warning: cannot open MILINK_LOG_PATH (%v); logging to stderr.\n", err)
		}
	}
	return hclog.New(&hclog.LoggerOptions{Name: "milink", Level: level, Output: out})
}
