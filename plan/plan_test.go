package plan

import (
	"context"
	"errors"
	"github.com/hashicorp/hcl/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/internal/testkind"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
	"github.com/milink/milink/state"
)

// The core is tested here with the test kinds (internal/testkind: files in
// directories, which milink creates and deletes) through the real loader,
// planner and walker; the SQL Server kinds are tested end to end against
// the lab in cmd/milink.

// events records what apply did, in order.
type events struct {
	mu      sync.Mutex
	started []string
	skipped []string
	onDone  func(resources.Change)
}

func (e *events) Start(ch resources.Change) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, ch.Address)
}
func (e *events) Progress(resources.Change, string) {}
func (e *events) Done(ch resources.Change, _ time.Duration, _ error) {
	if e.onDone != nil {
		e.onDone(ch)
	}
}
func (e *events) Skipped(ch resources.Change, _ string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.skipped = append(e.skipped, ch.Address)
}

// env is a configuration directory with its test directories.
type env struct {
	t       *testing.T
	dir     string // configuration and state
	data    string // the test_dir targets' directory root
	backend state.Backend
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), data: t.TempDir()}
	for _, d := range []string{"x", "y"} {
		if err := os.Mkdir(filepath.Join(e.data, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.backend = state.NewLocal(filepath.Join(e.dir, "milink.state.json"))
	return e
}

// write replaces the configuration; DATA stands for the data root.
func (e *env) write(src string) {
	e.t.Helper()
	src = strings.ReplaceAll(src, "DATA", e.data)
	if err := os.WriteFile(filepath.Join(e.dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) load() *config.Config {
	e.t.Helper()
	cfg, _, diags := config.Load(e.dir, kinds.Registry(testkind.Kinds()...), config.Vars{})
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	return cfg
}

func (e *env) plan(cfg *config.Config) (*Plan, *state.State, *Session) {
	e.t.Helper()
	st, err := e.backend.Load(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	sess := NewSession(resources.Env{})
	e.t.Cleanup(sess.Close)
	p, diags := Build(context.Background(), cfg, st, sess, Options{})
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	return p, st, sess
}

// apply plans and applies, returning the events and the error.
func (e *env) apply() (*Plan, *events, error) {
	e.t.Helper()
	cfg := e.load()
	p, st, sess := e.plan(cfg)
	ev := &events{}
	err := Apply(context.Background(), p, cfg, st, e.backend, sess, ev)
	return p, ev, err
}

func (e *env) read(name string) string {
	data, err := os.ReadFile(filepath.Join(e.data, name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

func addresses(p *Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Address)
	}
	return out
}

func TestDependsOnOrdersChangesOnOneTarget(t *testing.T) {
	e := newEnv(t)
	// Without depends_on, a comes first (configuration order); with it, b.
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "a" {
  dir        = test_dir.x
  content    = "A"
  depends_on = [test_file.b]
}
test_file "b" {
  dir     = test_dir.x
  content = "B"
}
`)
	p, ev, err := e.apply()
	if err != nil {
		t.Fatal(err)
	}
	if got := addresses(p); !slices.Equal(got, []string{"test_file.b", "test_file.a"}) {
		t.Errorf("plan order %v, want b before a", got)
	}
	if !slices.Equal(ev.started, []string{"test_file.b", "test_file.a"}) {
		t.Errorf("apply order %v, want b before a", ev.started)
	}
	if a := p.Change("test_file.a"); !slices.Equal(a.DependsOn, []string{"test_file.b"}) {
		t.Errorf("edges of a: %v", a.DependsOn)
	}
}

func TestFailureStopsOnlyWhatDependsOnIt(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" {
  path       = "DATA/x"
  fail_apply = "disk on fire"
}
test_dir "y" { path = "DATA/y" }
test_file "broken" { dir = test_dir.x }
test_file "after_broken" {
  dir        = test_dir.y
  depends_on = [test_file.broken]
}
test_file "independent" { dir = test_dir.y }
`)
	_, ev, err := e.apply()
	if err == nil || !strings.Contains(err.Error(), "test_file.broken: disk on fire") {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
		t.Errorf("%d errors, want exactly one: %v", n, err)
	}
	if !slices.Equal(ev.skipped, []string{"test_file.after_broken"}) {
		t.Errorf("skipped %v", ev.skipped)
	}
	if e.read("y/independent") != "" {
		t.Errorf("the independent file was not written: %s", e.read("y/independent"))
	}
	st, _ := e.backend.Load(context.Background())
	if st.Get("test_file.independent") == nil || st.Get("test_file.broken") != nil || st.Get("test_file.after_broken") != nil {
		t.Errorf("state holds %v", st.Addresses())
	}
}

func TestRemovedBlockIsDeletedOrForgotten(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "keep" { dir = test_dir.x }
test_file "drop" { dir = test_dir.x }
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "keep" { dir = test_dir.x }
`)
	p, _, err := e.apply()
	if err != nil {
		t.Fatal(err)
	}
	del := p.Change("test_file.drop")
	if del == nil || del.Action != resources.Delete || len(del.Steps) != 1 || del.Steps[0].Text != "remove drop" {
		t.Fatalf("change for the removed block: %+v", del)
	}
	if s := p.Summary(); s.Destroy != 1 {
		t.Errorf("summary %+v", s)
	}
	if _, err := os.Stat(filepath.Join(e.data, "x", "drop")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still there: %v", err)
	}
	st, _ := e.backend.Load(context.Background())
	if st.Get("test_file.drop") != nil {
		t.Error("the state still holds the deleted file")
	}
	// A kind that forgets: a state entry of a database whose block is gone.
	st.Set(state.Resource{Address: "database.gone", Kind: "database", Target: "sql_server.a", Attributes: map[string]any{"recovery_model": "FULL"}})
	if err := e.backend.Save(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	p, _, _ = e.plan(e.load())
	if c := p.Change("database.gone"); c == nil || c.Action != resources.Forget {
		t.Errorf("database.gone: %+v, want it to leave management", c)
	}
}

func TestDeletingNeedsItsTarget(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "f" { dir = test_dir.x }
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	e.write(`test_dir "y" { path = "DATA/y" }`)
	st, _ := e.backend.Load(context.Background())
	_, diags := Build(context.Background(), e.load(), st, NewSession(resources.Env{}), Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Cannot delete test_file.f") || !strings.Contains(diags.Error(), "test_dir.x") {
		t.Fatalf("diags = %v", diags)
	}
}

func TestValueReadAtPlanTimeIsUsedByAnotherBlock(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"one", "two"} {
		if err := os.WriteFile(filepath.Join(e.data, "y", n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.write(`
test_dir "x" { path = "DATA/x" }
test_dir "y" { path = "DATA/y" }
test_file "count" {
  dir     = test_dir.x
  content = "y holds ${test_dir.y.entries} files"
}
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	if got := e.read("x/count"); got != "y holds 2 files" {
		t.Errorf("content %q", got)
	}
}

func TestForEachAndCount(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "app" {
  for_each = toset(["sales", "payroll", "hr"])
  dir      = test_dir.x
  content  = "db ${each.key}"
}
test_file "n" {
  count   = 2
  dir     = test_dir.x
  name    = "n${count.index}"
  content = test_file.app["hr"].content
}
`)
	p, _, err := e.apply()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`test_file.app["hr"]`, `test_file.app["payroll"]`, `test_file.app["sales"]`, `test_file.n[0]`, `test_file.n[1]`}
	if got := addresses(p); !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v", got, want)
	}
	if e.read("x/sales") != "db sales" || e.read("x/n1") != "db hr" {
		t.Errorf("files: %q %q", e.read("x/sales"), e.read("x/n1"))
	}
	if c := p.Change(`test_file.n[0]`); !slices.Contains(c.DependsOn, `test_file.app["hr"]`) {
		t.Errorf("n[0] depends on %v", c.DependsOn)
	}
	// A second apply changes nothing.
	p, _, err = e.apply()
	if err != nil || p.HasChanges() {
		t.Errorf("second apply: %v, changes %v", err, p.HasChanges())
	}
}

func TestDriftIsReportedAndRepaired(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "f" {
  dir     = test_dir.x
  content = "good"
}
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.data, "x", "f"), []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _, _ := e.plan(e.load())
	if len(p.Drift) != 1 || p.Drift[0].Before["content"] != "good" || p.Drift[0].After["content"] != "bad" {
		t.Errorf("drift = %+v", p.Drift)
	}
	if c := p.Change("test_file.f"); c.Action != resources.Update {
		t.Errorf("repair: %+v", c)
	}
}

func TestTargetsOpenOncePerRun(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "a" { dir = test_dir.x }
test_file "b" { dir = test_dir.x }
`)
	testkind.Opens.Lock()
	before := testkind.Opens.N
	testkind.Opens.Unlock()
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	testkind.Opens.Lock()
	defer testkind.Opens.Unlock()
	if n := testkind.Opens.N - before; n != 1 {
		t.Errorf("opened the target %d times in one plan and apply, want 1", n)
	}
}

func TestSecretsAreFingerprintsInState(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "f" {
  dir    = test_dir.x
  secret = "Very-Secret-Passw0rd"
}
`)
	p, _, err := e.apply()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(e.dir, "milink.state.json"))
	if strings.Contains(string(data), "Very-Secret-Passw0rd") {
		t.Error("the secret reached the state")
	}
	planPath := filepath.Join(e.dir, "p.plan")
	if err := Save(planPath, p, "salt"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(planPath)
	if strings.Contains(string(data), "Very-Secret-Passw0rd") {
		t.Error("the secret reached the plan file")
	}
}

func TestSavedPlanIsEvaluatedAgainAndRefusedWhenStale(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "f" {
  dir     = test_dir.x
  content = "entries=${test_dir.x.entries}"
}
`)
	cfg := e.load()
	p, st, _ := e.plan(cfg)
	path := filepath.Join(t.TempDir(), "p.plan")
	if err := Save(path, p, st.Salt); err != nil {
		t.Fatal(err)
	}
	saved, salt, err := Load(path)
	if err != nil || salt != st.Salt {
		t.Fatalf("Load: %v", err)
	}
	if err := CheckFresh(saved, st, cfg.Hash(st.Salt)); err != nil {
		t.Fatalf("fresh plan refused: %v", err)
	}
	// Applied in a new run (a new session): the value read at plan time
	// comes from the plan, not from a new refresh.
	if err := os.WriteFile(filepath.Join(e.data, "x", "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), saved, e.load(), st, e.backend, NewSession(resources.Env{}), &events{}); err != nil {
		t.Fatal(err)
	}
	if got := e.read("x/f"); got != "entries=0" {
		t.Errorf("content %q, want the value the plan saw", got)
	}
	if err := CheckFresh(saved, st, cfg.Hash(st.Salt)); !errors.Is(err, ErrStale) {
		t.Errorf("a plan applied once is not stale: %v", err)
	}
	if err := CheckFresh(saved, &state.State{Lineage: st.Lineage, Serial: saved.Serial}, "other"); !errors.Is(err, ErrStale) {
		t.Errorf("changed configuration accepted: %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing plan file loaded")
	}
}

func TestCtrlCRecordsTheStepUnderWayAndStartsNothingElse(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_file "first" { dir = test_dir.x }
test_file "second" {
  dir        = test_dir.x
  depends_on = [test_file.first]
}
`)
	cfg := e.load()
	p, st, sess := e.plan(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := &events{onDone: func(resources.Change) { cancel() }}
	err := Apply(ctx, p, cfg, st, e.backend, sess, ev)
	if err == nil || !strings.Contains(err.Error(), "stopped before test_file.second") {
		t.Fatalf("err = %v", err)
	}
	saved, _ := e.backend.Load(context.Background())
	if saved.Get("test_file.first") == nil {
		t.Error("the first file was written but the state forgot it")
	}
	if slices.Contains(ev.started, "test_file.second") {
		t.Error("the second change started after Ctrl-C")
	}
}

func TestApplyRunsTargetsConcurrently(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "x" { path = "DATA/x" }
test_dir "y" { path = "DATA/y" }
test_file "a" { dir = test_dir.x }
test_file "b" { dir = test_dir.y }
`)
	cfg := e.load()
	p, st, sess := e.plan(cfg)
	// Each change waits until the other has started: only a concurrent
	// walk finishes.
	var started sync.WaitGroup
	started.Add(2)
	ev := &barrierEvents{wg: &started}
	done := make(chan error, 1)
	go func() { done <- Apply(context.Background(), p, cfg, st, e.backend, sess, ev) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the targets were changed one after the other")
	}
}

type barrierEvents struct {
	events
	wg *sync.WaitGroup
}

func (b *barrierEvents) Start(resources.Change) {
	b.wg.Done()
	b.wg.Wait()
}

// A kind's delete checks refuse the plan unless the address is forced.
func TestCheckedDelete(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "y" { path = "DATA/y" }
test_file "f" {
  dir     = test_dir.y
  content = "v1"
}
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.data, "y", "f"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(`test_dir "y" { path = "DATA/y" }`)
	cfg := e.load()
	st, err := e.backend.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	build := func(force ...string) (*Plan, hcl.Diagnostics) {
		sess := NewSession(resources.Env{})
		defer sess.Close()
		return Build(context.Background(), cfg, st, sess, Options{ForceDelete: force})
	}
	if _, diags := build(); !diags.HasErrors() || !strings.Contains(diags.Error(), "File wanted") {
		t.Fatalf("unforced: %v", diags)
	}
	p, diags := build("test_file.f", "test_file.nope")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ch := p.Change("test_file.f"); ch == nil || ch.Action != resources.Delete {
		t.Fatalf("forced: %+v", ch)
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "test_file.nope") {
		t.Errorf("want one warning for the forced address nothing deletes, got %v", diags)
	}
}

// Objects removed together are deleted in the reverse of their creation.
func TestDeletesRunInReverse(t *testing.T) {
	e := newEnv(t)
	e.write(`
test_dir "y" { path = "DATA/y" }
test_file "base" {
  dir     = test_dir.y
  content = "b"
}
test_file "top" {
  dir        = test_dir.y
  content    = "t"
  depends_on = [test_file.base]
}
`)
	if _, _, err := e.apply(); err != nil {
		t.Fatal(err)
	}
	e.write(`test_dir "y" { path = "DATA/y" }`)
	p, _, _ := e.plan(e.load())
	base, top := p.Change("test_file.base"), p.Change("test_file.top")
	if base == nil || top == nil || base.Action != resources.Delete || top.Action != resources.Delete {
		t.Fatalf("plan: %v", addresses(p))
	}
	if !slices.Contains(base.DependsOn, "test_file.top") || slices.Contains(top.DependsOn, "test_file.base") {
		t.Errorf("base after %v, top after %v: want base deleted after top", base.DependsOn, top.DependsOn)
	}
	if got := strings.Join(addresses(p), " "); got != "test_file.top test_file.base" {
		t.Errorf("order %q", got)
	}
}
