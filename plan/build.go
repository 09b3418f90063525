package plan

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// Driver is what the planner needs of one SQL Server instance: observe it
// and diff it against the configuration, then carry out changes. The
// production driver wraps resources/sqlserver; tests use fakes.
type Driver interface {
	// Plan observes the instance (one round trip) and returns what was
	// learned and its ordered changes.
	Plan(ctx context.Context, s *config.SQLServer, prior map[string]resources.Prior, salt string) (Server, []resources.Change, hcl.Diagnostics)
	// Apply carries out one change of this instance.
	Apply(ctx context.Context, s *config.SQLServer, ch resources.Change, salt string, progress func(string)) (resources.Result, error)
	Close() error
}

// Connector opens a Driver for a sql_server block.
type Connector func(ctx context.Context, s *config.SQLServer) (Driver, error)

// Session holds the drivers opened during one run, so that apply reuses
// the connections plan opened ("connections are opened once per instance
// per run").
type Session struct {
	connect Connector
	mu      sync.Mutex
	drivers map[string]Driver
}

// NewSession starts a run that opens drivers with connect.
func NewSession(connect Connector) *Session {
	return &Session{connect: connect, drivers: map[string]Driver{}}
}

// Driver returns the open driver for the server, opening it on first use.
func (s *Session) Driver(ctx context.Context, srv *config.SQLServer) (Driver, error) {
	s.mu.Lock()
	d, ok := s.drivers[srv.Name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := s.connect(ctx, srv)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.drivers[srv.Name]; ok {
		_ = d.Close()
		return prev, nil
	}
	s.drivers[srv.Name] = d
	return d, nil
}

// Close closes every driver of the run.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, d := range s.drivers {
		_ = d.Close()
		delete(s.drivers, name)
	}
}

// Options tune Build.
type Options struct {
	RefreshOnly bool
	// Concurrency bounds how many instances are read at once (default 8).
	Concurrency   int
	MilinkVersion string
	Now           func() time.Time
}

// Build observes every instance of the configuration concurrently and
// returns the ordered plan. Diagnostics carry configuration problems found
// against reality (unsupported version, missing database) and connection
// errors; when any is an error the plan must not be applied.
func Build(ctx context.Context, cfg *config.Config, st *state.State, sess *Session, opts Options) (*Plan, hcl.Diagnostics) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = 8
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
	order, diags := serverOrder(cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	priors := st.Priors()

	type result struct {
		server  Server
		changes []resources.Change
		diags   hcl.Diagnostics
	}
	results := make([]result, len(order))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, srv := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := sess.Driver(ctx, srv)
			if err != nil {
				results[i].diags = hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Cannot connect to %s", srv.Addr()),
					Detail:   err.Error(),
					Subject:  srv.DeclRange.Ptr(),
				}}
				return
			}
			results[i].server, results[i].changes, results[i].diags = d.Plan(ctx, srv, priors, st.Salt)
		}()
	}
	wg.Wait()

	configured := map[string]bool{}
	for i, r := range results {
		diags = append(diags, r.diags...)
		if r.server.Name == "" {
			r.server.Name = order[i].Name
			r.server.Address = order[i].Address
		}
		p.Servers = append(p.Servers, r.server)
		for _, ch := range r.changes {
			configured[ch.Address] = true
			if prev := st.Get(ch.Address); prev != nil {
				if d, ok := drift(prev, ch); ok {
					p.Drift = append(p.Drift, d)
				}
			}
			if !opts.RefreshOnly {
				p.Changes = append(p.Changes, ch)
			}
		}
	}
	if diags.HasErrors() {
		return p, diags
	}
	// Objects in state whose block is gone leave management; nothing on
	// the server is deleted (a master key or a recovery model is not
	// something to undo because a block vanished).
	if !opts.RefreshOnly {
		for _, addr := range st.Addresses() {
			if configured[addr] {
				continue
			}
			prev := st.Get(addr)
			if prev.Kind == resources.KindRestart || prev.Kind == resources.KindVerify {
				continue
			}
			p.Changes = append(p.Changes, resources.Change{
				Address:   addr,
				Kind:      prev.Kind,
				Server:    prev.Server,
				Action:    resources.Forget,
				Before:    prev.Attributes,
				Sensitive: prev.Sensitive,
				Reason:    "no longer in the configuration; left as it is on the server",
			})
		}
	}
	return p, diags
}

// drift compares what the state recorded after the last apply with what
// was just observed, on the attributes both know.
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
		Server:  ch.Server,
		Action:  resources.Update,
		Before:  before,
		After:   after,
	}, true
}

// sameValue compares attribute values that may have made a round trip
// through JSON (numbers become float64, lists []any).
func sameValue(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = float64(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

// serverDeps maps each server to the servers its blocks depend on through
// depends_on (dependencies within one server are its driver's business).
func serverDeps(cfg *config.Config) map[string]map[string]bool {
	owner := map[string]string{} // block address → server name
	deps := map[string]map[string]bool{}
	for _, s := range cfg.SQLServers {
		owner[s.Addr()] = s.Name
		if s.MasterKey != nil {
			owner[s.MasterKey.Addr()] = s.Name
		}
		if s.Hadr != nil {
			owner[s.Hadr.Addr()] = s.Name
		}
		if s.StartupTraceFlags != nil {
			owner[s.StartupTraceFlags.Addr()] = s.Name
		}
		for _, d := range s.Databases {
			owner[d.Addr()] = s.Name
		}
	}
	for _, s := range cfg.SQLServers {
		deps[s.Name] = map[string]bool{}
		add := func(list []string) {
			for _, a := range list {
				if o, ok := owner[a]; ok && o != s.Name {
					deps[s.Name][o] = true
				}
			}
		}
		add(s.DependsOn)
		if s.MasterKey != nil {
			add(s.MasterKey.DependsOn)
		}
		if s.Hadr != nil {
			add(s.Hadr.DependsOn)
		}
		if s.StartupTraceFlags != nil {
			add(s.StartupTraceFlags.DependsOn)
		}
		for _, d := range s.Databases {
			add(d.DependsOn)
		}
	}
	return deps
}

// serverOrder sorts servers so that a server whose blocks depend on
// another server's blocks comes after it; otherwise by name.
func serverOrder(cfg *config.Config) ([]*config.SQLServer, hcl.Diagnostics) {
	deps := serverDeps(cfg)
	names := make([]string, 0, len(cfg.SQLServers))
	for _, s := range cfg.SQLServers {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	var out []*config.SQLServer
	const (
		unvisited = iota
		visiting
		done
	)
	mark := map[string]int{}
	var diags hcl.Diagnostics
	var visit func(n string) bool
	visit = func(n string) bool {
		switch mark[n] {
		case done:
			return true
		case visiting:
			srv := cfg.Server(n)
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Dependency cycle",
				Detail:   fmt.Sprintf("The blocks of %s depend, through depends_on, on blocks that depend on it again.", srv.Addr()),
				Subject:  srv.DeclRange.Ptr(),
			})
			return false
		}
		mark[n] = visiting
		var ds []string
		for d := range deps[n] {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		for _, d := range ds {
			if !visit(d) {
				return false
			}
		}
		mark[n] = done
		out = append(out, cfg.Server(n))
		return true
	}
	for _, n := range names {
		if !visit(n) {
			break
		}
	}
	return out, diags
}
