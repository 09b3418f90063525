package plan

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// fakeDriver stands in for an instance: it returns fixed changes and
// records what was applied. (A fake is fine here; the end-to-end tests in
// cmd/milink run the real driver against the lab.)
type fakeDriver struct {
	mu      sync.Mutex
	changes []resources.Change
	failAt  string
	applied []string
	plans   int
}

func (f *fakeDriver) Plan(_ context.Context, s *config.SQLServer, _ map[string]resources.Prior, _ string) (Server, []resources.Change, hcl.Diagnostics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
	return Server{Name: s.Name, Address: s.Address}, f.changes, nil
}

func (f *fakeDriver) Apply(_ context.Context, _ *config.SQLServer, ch resources.Change, _ string, progress func(string)) (resources.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch.Address == f.failAt {
		return resources.Result{}, errors.New("boom")
	}
	progress("working")
	f.applied = append(f.applied, ch.Address)
	return resources.Result{Attributes: ch.After}, nil
}

func (f *fakeDriver) Close() error { return nil }

type nopEvents struct{}

func (nopEvents) Start(resources.Change)                      {}
func (nopEvents) Progress(resources.Change, string)           {}
func (nopEvents) Done(resources.Change, time.Duration, error) {}

func labChanges(server string) []resources.Change {
	return []resources.Change{
		{Address: "master_key." + server, Kind: "master_key", Server: server, Action: resources.Create,
			After: map[string]any{"exists": true, "password": resources.Fingerprint("s", "pw")}, Sensitive: []string{"password"}},
		{Address: "hadr." + server, Kind: "hadr", Server: server, Action: resources.Update, Restart: resources.NeedsRestart,
			Before: map[string]any{"enabled": false}, After: map[string]any{"enabled": true}},
		{Address: "sql_server." + server, Kind: "restart", Server: server, Action: resources.Restart},
		{Address: "sql_server." + server, Kind: "verify", Server: server, Action: resources.Verify},
		{Address: "database.sales", Kind: "database", Server: server, Action: resources.Update,
			Before: map[string]any{"recovery_model": "SIMPLE"}, After: map[string]any{"recovery_model": "FULL"}},
		{Address: "database.inventory", Kind: "database", Server: server, Action: resources.NoOp,
			Before: map[string]any{"recovery_model": "FULL"}, After: map[string]any{"recovery_model": "FULL"}},
	}
}

func twoServers() *config.Config {
	return &config.Config{SQLServers: []*config.SQLServer{
		{Name: "b", Address: "127.0.0.3", DependsOn: []string{"sql_server.a"}},
		{Name: "a", Address: "127.0.0.2"},
	}}
}

func TestBuildOrdersServersAndKeepsChanges(t *testing.T) {
	cfg := twoServers()
	drivers := map[string]*fakeDriver{"a": {changes: labChanges("a")}, "b": {changes: labChanges("b")[:2]}}
	sess := NewSession(func(_ context.Context, s *config.SQLServer) (Driver, error) { return drivers[s.Name], nil })
	p, diags := Build(context.Background(), cfg, state.New(), sess, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := []string{p.Servers[0].Name, p.Servers[1].Name}; got[0] != "a" || got[1] != "b" {
		t.Fatalf("server order %v, want a before b (b depends on a)", got)
	}
	if len(p.Changes) != 8 {
		t.Fatalf("got %d changes, want 8", len(p.Changes))
	}
	s := p.Summary()
	if s.Add != 2 || s.Change != 3 || s.Restart != 1 {
		t.Errorf("summary %+v", s)
	}
	if !p.HasChanges() {
		t.Error("HasChanges false")
	}
	for _, d := range drivers {
		if d.plans != 1 {
			t.Errorf("driver planned %d times, want once", d.plans)
		}
	}
}

func TestBuildConnectionErrorIsDiagnosticNamingServer(t *testing.T) {
	cfg := &config.Config{SQLServers: []*config.SQLServer{{Name: "a"}}}
	sess := NewSession(func(context.Context, *config.SQLServer) (Driver, error) {
		return nil, errors.New("connection refused")
	})
	_, diags := Build(context.Background(), cfg, state.New(), sess, Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "sql_server.a") || !strings.Contains(diags.Error(), "connection refused") {
		t.Fatalf("diags = %v", diags)
	}
}

func TestBuildDependencyCycle(t *testing.T) {
	cfg := &config.Config{SQLServers: []*config.SQLServer{
		{Name: "a", DependsOn: []string{"sql_server.b"}},
		{Name: "b", DependsOn: []string{"sql_server.a"}},
	}}
	sess := NewSession(func(context.Context, *config.SQLServer) (Driver, error) { return &fakeDriver{}, nil })
	if _, diags := Build(context.Background(), cfg, state.New(), sess, Options{}); !diags.HasErrors() {
		t.Fatal("want a cycle diagnostic")
	}
}

func TestApplyRecordsStateAndStopsAtFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failAt    string
		wantErr   bool
		wantState []string
	}{
		{"all", "", false, []string{"database.inventory", "database.sales", "hadr.a", "master_key.a"}},
		{"fails at database", "database.sales", true, []string{"hadr.a", "master_key.a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{SQLServers: []*config.SQLServer{{Name: "a"}}}
			d := &fakeDriver{changes: labChanges("a"), failAt: tc.failAt}
			sess := NewSession(func(context.Context, *config.SQLServer) (Driver, error) { return d, nil })
			backend := state.NewLocal(filepath.Join(t.TempDir(), "milink.state.json"))
			st := state.New()
			p, diags := Build(context.Background(), cfg, st, sess, Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			err := Apply(context.Background(), p, cfg, st, backend, sess, nopEvents{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			saved, lerr := backend.Load(context.Background())
			if lerr != nil {
				t.Fatal(lerr)
			}
			if got := strings.Join(saved.Addresses(), ","); got != strings.Join(tc.wantState, ",") {
				t.Errorf("state has %s, want %s", got, strings.Join(tc.wantState, ","))
			}
		})
	}
}

func TestDriftAndForget(t *testing.T) {
	cfg := &config.Config{SQLServers: []*config.SQLServer{{Name: "a"}}}
	st := state.New()
	st.Set(state.Resource{Address: "database.sales", Kind: "database", Server: "a", Attributes: map[string]any{"recovery_model": "FULL"}})
	st.Set(state.Resource{Address: "database.gone", Kind: "database", Server: "a", Attributes: map[string]any{"recovery_model": "FULL"}})
	d := &fakeDriver{changes: labChanges("a")}
	sess := NewSession(func(context.Context, *config.SQLServer) (Driver, error) { return d, nil })
	p, diags := Build(context.Background(), cfg, st, sess, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(p.Drift) != 1 || p.Drift[0].Address != "database.sales" || p.Drift[0].Before["recovery_model"] != "FULL" || p.Drift[0].After["recovery_model"] != "SIMPLE" {
		t.Errorf("drift = %+v", p.Drift)
	}
	last := p.Changes[len(p.Changes)-1]
	if last.Address != "database.gone" || last.Action != resources.Forget {
		t.Errorf("last change = %+v, want database.gone to leave management", last)
	}

	ro, _ := Build(context.Background(), cfg, st, sess, Options{RefreshOnly: true})
	if len(ro.Changes) != 0 || len(ro.Drift) != 1 {
		t.Errorf("refresh-only plan has %d changes and %d drift", len(ro.Changes), len(ro.Drift))
	}
}

func TestSavedPlanStaleness(t *testing.T) {
	st := state.New()
	p := &Plan{FormatVersion: FormatVersion, Lineage: st.Lineage, Serial: st.Serial, ConfigHash: "h1"}
	path := filepath.Join(t.TempDir(), "p.plan")
	if err := Save(path, p, st.Salt); err != nil {
		t.Fatal(err)
	}
	got, salt, err := Load(path)
	if err != nil || salt != st.Salt {
		t.Fatalf("Load: %v", err)
	}
	if err := CheckFresh(got, st, "h1"); err != nil {
		t.Errorf("fresh plan refused: %v", err)
	}
	if err := CheckFresh(got, st, "h2"); !errors.Is(err, ErrStale) {
		t.Errorf("changed configuration accepted: %v", err)
	}
	st.Serial++
	if err := CheckFresh(got, st, "h1"); !errors.Is(err, ErrStale) {
		t.Errorf("changed state accepted: %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing plan file loaded")
	}
}

func TestApplyFleetFailureStopsOnlyItsInstanceAndDependents(t *testing.T) {
	cfg := &config.Config{SQLServers: []*config.SQLServer{
		{Name: "a"},
		{Name: "b"},
		{Name: "c", DependsOn: []string{"sql_server.a"}},
	}}
	drivers := map[string]*fakeDriver{
		"a": {changes: labChanges("a")[:2], failAt: "hadr.a"},
		"b": {changes: labChanges("b")[:2]},
		"c": {changes: labChanges("c")[:2]},
	}
	sess := NewSession(func(_ context.Context, s *config.SQLServer) (Driver, error) { return drivers[s.Name], nil })
	backend := state.NewLocal(filepath.Join(t.TempDir(), "milink.state.json"))
	st := state.New()
	p, diags := Build(context.Background(), cfg, st, sess, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	err := ApplyWith(context.Background(), p, cfg, st, backend, sess, nopEvents{}, ApplyOptions{Parallelism: 2})
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "sql_server.c: not changed, because sql_server.a") {
		t.Fatalf("err = %v", err)
	}
	saved, _ := backend.Load(context.Background())
	// a stopped after its master key; b finished; c never started.
	if got := strings.Join(saved.Addresses(), ","); got != "hadr.b,master_key.a,master_key.b" {
		t.Errorf("state has %s", got)
	}
	if len(drivers["c"].applied) != 0 {
		t.Errorf("c applied %v although it depends on a, which failed", drivers["c"].applied)
	}
}

func TestApplyRunsInstancesConcurrently(t *testing.T) {
	// Two instances whose drivers each wait for the other to have started:
	// with sequential apply this would deadlock (the test times out).
	started := make(chan string, 2)
	release := make(chan struct{})
	cfg := &config.Config{SQLServers: []*config.SQLServer{{Name: "a"}, {Name: "b"}}}
	mk := func(name string) Driver {
		return &blockingDriver{name: name, started: started, release: release}
	}
	sess := NewSession(func(_ context.Context, s *config.SQLServer) (Driver, error) { return mk(s.Name), nil })
	p := &Plan{Changes: []resources.Change{
		{Address: "hadr.a", Kind: "hadr", Server: "a", Action: resources.Update, After: map[string]any{"enabled": true}},
		{Address: "hadr.b", Kind: "hadr", Server: "b", Action: resources.Update, After: map[string]any{"enabled": true}},
	}}
	go func() {
		<-started
		<-started
		close(release)
	}()
	backend := state.NewLocal(filepath.Join(t.TempDir(), "milink.state.json"))
	if err := ApplyWith(context.Background(), p, cfg, state.New(), backend, sess, nopEvents{}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

type blockingDriver struct {
	name    string
	started chan string
	release chan struct{}
}

func (b *blockingDriver) Plan(context.Context, *config.SQLServer, map[string]resources.Prior, string) (Server, []resources.Change, hcl.Diagnostics) {
	return Server{}, nil, nil
}

func (b *blockingDriver) Apply(_ context.Context, _ *config.SQLServer, ch resources.Change, _ string, _ func(string)) (resources.Result, error) {
	b.started <- b.name
	<-b.release
	return resources.Result{Attributes: ch.After}, nil
}

func (b *blockingDriver) Close() error { return nil }

// cancellingDriver completes its change, then the user presses Ctrl-C.
type cancellingDriver struct {
	fakeDriver
	cancel context.CancelFunc
}

func (c *cancellingDriver) Apply(ctx context.Context, s *config.SQLServer, ch resources.Change, salt string, progress func(string)) (resources.Result, error) {
	res, err := c.fakeDriver.Apply(ctx, s, ch, salt, progress)
	c.cancel()
	return res, err
}

func TestApplyRecordsACompletedStepDespiteCtrlC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := &config.Config{SQLServers: []*config.SQLServer{{Name: "a"}}}
	d := &cancellingDriver{fakeDriver: fakeDriver{changes: labChanges("a")[:1]}, cancel: cancel}
	sess := NewSession(func(context.Context, *config.SQLServer) (Driver, error) { return d, nil })
	backend := state.NewLocal(filepath.Join(t.TempDir(), "milink.state.json"))
	st := state.New()
	p, diags := Build(ctx, cfg, st, sess, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := Apply(ctx, p, cfg, st, backend, sess, nopEvents{}); err != nil {
		t.Fatal(err)
	}
	saved, err := backend.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if saved.Get("master_key.a") == nil {
		t.Error("the master key was created on the server but the state forgot it")
	}
}
