package sqlserver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/lab/tds"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// labHost lets the engine's endpoints listen on loopback; milink's tests
// never create endpoints, so it is a plain listener.
type labHost struct{}

func (labHost) Listen(port int) (io.Closer, error) { return net.Listen("tcp", "127.0.0.1:0") }
func (labHost) Dial(ctx context.Context, address string, port int) bool {
	return false
}

// lab is an in-process SQL Server: the engine behind a real TDS listener,
// restarted (by the fake restart command) with the settings of mssql.conf,
// as SQL Server on Linux does.
type lab struct {
	t      *testing.T
	inst   *engine.Instance
	srv    *tds.Server
	port   int
	conf   string
	fsroot string

	mu       sync.Mutex
	restarts int
	failNext bool // the restart command fails
	noReturn bool // the instance never comes back
	// midRestart runs while the restart command has the server stopped.
	midRestart func()
	// startDelay: the command returns at once, the server starts later.
	startDelay time.Duration
}

const labPassword = "LabPassw0rd!!"

func startLab(t *testing.T, profile string) *lab {
	t.Helper()
	dir := t.TempDir()
	p, ok := engine.LookupProfile(profile)
	if !ok {
		t.Fatalf("no lab profile %s", profile)
	}
	l := &lab{t: t, conf: filepath.Join(dir, "mssql.conf"), fsroot: filepath.Join(dir, "fs")}
	if err := os.MkdirAll(filepath.Join(l.fsroot, "var", "opt", "mssql", "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	inst, err := engine.Open(engine.Options{Name: "sql01", Profile: p, DataDir: filepath.Join(dir, "data"), FSRoot: l.fsroot,
		Host: labHost{}, Login: "sa", Password: labPassword, Seed: "sql01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(engine.Startup{}); err != nil {
		t.Fatal(err)
	}
	l.inst = inst
	l.srv = tds.NewServer(inst.Handler(), tds.Options{ServerName: "sql01"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.port = ln.Addr().(*net.TCPAddr).Port
	go l.srv.Serve(ln)
	t.Cleanup(func() { l.srv.Close(); inst.Stop() })
	return l
}

// Run is the host Runner: the restart command restarts the engine.
func (l *lab) Run(ctx context.Context, argv []string) ([]byte, []byte, error) {
	if len(argv) < 2 || argv[0] != "systemctl" || argv[1] != "restart" {
		return host.Local{}.Run(ctx, argv)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext {
		return nil, []byte("Failed to restart mssql-server.service: Unit not found."), &exitError{code: 1}
	}
	l.restarts++
	l.srv.CloseConnections()
	l.inst.Stop()
	if l.noReturn {
		return nil, nil, nil
	}
	if l.midRestart != nil {
		l.midRestart()
		// What exec.CommandContext does to a running command when its
		// context is cancelled: it dies, leaving the service stopped.
		if ctx.Err() != nil {
			return nil, nil, &exitError{-1, "signal: killed"}
		}
	}
	if l.startDelay > 0 {
		// The command returns before the server accepts logins, as
		// systemctl does.
		time.AfterFunc(l.startDelay, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if err := l.start(); err != nil {
				l.t.Error(err)
			}
		})
		return nil, nil, nil
	}
	return nil, nil, l.start()
}

func (l *lab) start() error {
	b, err := os.ReadFile(l.conf)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	st, err := host.ParseStartup(b)
	if err != nil {
		return err
	}
	return l.inst.Start(engine.Startup{Hadr: st.Hadr, TraceFlags: st.TraceFlags})
}

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return "exit status " + strconv.Itoa(e.code)
}

func (l *lab) config() *Server {
	s := sql01()
	s.Address, s.Port = "127.0.0.1", l.port
	s.Auth.Password = labPassword
	s.Host.MssqlConf = l.conf
	s.Host.MssqlConfTool = filepath.Join(filepath.Dir(l.conf), "no-mssql-conf") // edit the file
	s.Host.RestartTimeout = 10 * time.Second
	return s
}

func (l *lab) open(t *testing.T, s *Server) *Instance {
	t.Helper()
	i, err := Open(context.Background(), s, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	i.SetRunner(l)
	i.pollInterval = 50 * time.Millisecond
	return i
}

func (l *lab) changed() []string {
	var out []string
	for _, s := range l.inst.StatementLog() {
		if s.Changed {
			out = append(out, s.Text)
		}
	}
	return out
}

// refresh reads the instance through the target's Refresh, with the
// resource blocks of s attached, and fails the test on an error.
func refresh(t *testing.T, i *Instance, s *Server) *Observed {
	t.Helper()
	obs, diags := i.Refresh(context.Background(), attached(s))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return obs.(*Observed)
}

// quiet is the progress callback of a test that does not look at it (the
// planner always passes one).
func quiet(string) {}

// applyChange carries out one change of a resource kind as the planner's
// apply does: through the registered kind, with the block's configuration
// from s. A no-op or forget records its After without touching the server.
func applyChange(ctx context.Context, i *Instance, s *Server, ch resources.Change, progress func(string)) (resources.Result, error) {
	if progress == nil {
		progress = quiet
	}
	if ch.Action == resources.NoOp || ch.Action == resources.Forget {
		return resources.Result{Attributes: ch.After}, nil
	}
	req := resources.ApplyRequest{Change: ch, Config: configOf(s, ch.Address), Target: i, Salt: testSalt, Progress: progress}
	return kindOf(ch.Kind).Impl.(resources.Resource).Apply(ctx, req)
}

// restartChange is a restart change of the target's own address.
func restartChange(s *Server) resources.Change {
	return resources.Change{Address: resources.RestartAddr(s.Addr()), Kind: KindRestart, Target: s.Addr(), Action: resources.Restart}
}

// restarted are the requests for the changes a restart is for (its
// DependsOn), as the planner builds them for StillConfigured and Verify.
func restarted(i *Instance, s *Server, restart resources.Change, byAddr map[string]resources.Change) []resources.ApplyRequest {
	var out []resources.ApplyRequest
	for _, addr := range restart.DependsOn {
		ch, ok := byAddr[addr]
		if !ok || ch.Restart == resources.NoRestart {
			continue
		}
		out = append(out, resources.ApplyRequest{Change: ch, Config: configOf(s, addr), Target: i, Salt: testSalt})
	}
	return out
}

// applyAll runs the changes like the planner does, recording state: a
// restart first checks that its settings are still configured; the
// verification re-reads the instance and records the running values each
// kind's Verify returns over what the setting's apply recorded.
func applyAll(t *testing.T, i *Instance, s *Server, chs []resources.Change, prior map[string]resources.Prior) (map[string]resources.Prior, []string) {
	t.Helper()
	ctx := context.Background()
	var progress []string
	report := func(m string) { progress = append(progress, m) }
	byAddr := map[string]resources.Change{}
	for _, ch := range chs {
		byAddr[ch.Address] = ch
	}
	for _, ch := range chs {
		switch ch.Kind {
		case KindRestart:
			if ch.Action == resources.NoOp {
				continue
			}
			for _, req := range restarted(i, s, ch, byAddr) {
				if v, ok := kindOf(req.Change.Kind).Impl.(resources.Verifier); ok {
					if err := v.StillConfigured(ctx, req); err != nil {
						t.Fatalf("before %s: %v", ch.Address, err)
					}
				}
			}
			if err := i.ApplyRestart(ctx, ch, report); err != nil {
				t.Fatalf("apply %s: %v", ch.Address, err)
			}
		case KindVerify:
			obs, err := i.Observe(ctx)
			if err != nil {
				t.Fatalf("apply %s: %v", ch.Address, err)
			}
			for _, req := range restarted(i, s, byAddr[resources.RestartAddr(ch.Target)], byAddr) {
				v, ok := kindOf(req.Change.Kind).Impl.(resources.Verifier)
				if !ok {
					continue
				}
				attrs, checked, problem := v.Verify(req, obs)
				if problem != nil {
					t.Fatalf("apply %s: %s: %v", ch.Address, req.Change.Address, problem)
				}
				if checked != "" {
					report(checked)
				}
				merged := map[string]any{}
				for k, v := range prior[req.Change.Address].Attributes {
					merged[k] = v
				}
				for k, v := range attrs {
					merged[k] = v
				}
				prior[req.Change.Address] = resources.Prior{Attributes: merged}
			}
		default:
			res, err := applyChange(ctx, i, s, ch, report)
			if err != nil {
				t.Fatalf("apply %s (%s): %v", ch.Address, ch.Kind, err)
			}
			prior[ch.Address] = resources.Prior(res)
		}
	}
	return prior, progress
}

func TestLabEndToEnd(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ctx := context.Background()

	before := l.inst.Counters().RoundTrips
	obs, d := i.Refresh(ctx, attached(s)) // the version gate included
	if len(d) != 0 {
		t.Fatal(d)
	}
	if n := l.inst.Counters().RoundTrips - before; n != 1 {
		t.Errorf("refresh took %d round trips, want 1", n)
	}
	o := obs.(*Observed)
	if o.ProductVersion != "15.0.4322.2" || o.Platform != "linux" || o.MasterKey || o.HadrRunning || o.HadrConfigured {
		t.Fatalf("observed %+v", o)
	}
	if sum := o.Summary(); sum.Address != "sql_server.sql01" || !strings.Contains(sum.Support, "SQL Server 2019") {
		t.Errorf("summary %+v", sum)
	}
	chs, diags := diffAll(s, o, nil, testSalt)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	wantKinds := []string{"master_key", "hadr", "startup_trace_flags", "restart", "verify", "database", "database", "database"}
	var kinds []string
	for _, c := range chs {
		kinds = append(kinds, c.Kind)
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Fatalf("kinds %v", kinds)
	}
	prior, progress := applyAll(t, i, s, chs, map[string]resources.Prior{})
	if l.restarts != 1 {
		t.Errorf("%d restarts, want 1", l.restarts)
	}
	joined := strings.Join(progress, "\n")
	if !strings.Contains(joined, "percent processed.") {
		t.Errorf("no backup progress in %q", joined)
	}
	if b := prior["database.sales"].Attributes; b["recovery_model"] != "FULL" || b["last_full_backup"] == "" || !strings.HasPrefix(b["backup_file"].(string), "/var/opt/mssql/backup/sales_") {
		t.Errorf("sales result %v", b)
	}
	if mk := prior["master_key.sql01"].Attributes; mk["password"] != resources.Fingerprint(testSalt, testMKPassword) {
		t.Errorf("master key result %v", mk)
	}
	for _, q := range l.changed() {
		if strings.Contains(q, "RECOVERY") || strings.Contains(q, "MASTER KEY") || strings.HasPrefix(q, "BACKUP") {
			continue
		}
		t.Errorf("unexpected change statement %q", q)
	}
	conf, _ := os.ReadFile(l.conf)
	if st, _ := host.ParseStartup(conf); !st.Hadr || !reflect.DeepEqual(st.TraceFlags, []int{1800, 9567}) {
		t.Errorf("mssql.conf after apply:\n%s", conf)
	}

	// Converged: a second plan is all no-ops, and applying it changes nothing.
	o = refresh(t, i, s)
	chs, diags = diffAll(s, o, prior, testSalt)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, c := range chs {
		if c.Action != resources.NoOp {
			t.Errorf("after apply: %s %s (%s)", c.Action, c.Address, c.Reason)
		}
	}
	nChanged := len(l.changed())
	applyAll(t, i, s, chs, prior)
	if len(l.changed()) != nChanged || l.restarts != 1 {
		t.Errorf("converged apply changed something")
	}

	// Drift: sales set back to SIMPLE by someone else is repaired.
	if _, err := i.conn.ExecContext(ctx, "ALTER DATABASE [sales] SET RECOVERY SIMPLE;"); err != nil {
		t.Fatal(err)
	}
	o = refresh(t, i, s)
	chs, _ = diffAll(s, o, prior, testSalt)
	var drift []string
	for _, c := range chs {
		if c.Action != resources.NoOp {
			drift = append(drift, c.Address)
		}
	}
	if !reflect.DeepEqual(drift, []string{"database.sales"}) {
		t.Fatalf("drift changes %v", drift)
	}
	applyAll(t, i, s, chs, prior)
	o = refresh(t, i, s)
	if d, _ := o.Database("sales"); d.RecoveryModel != "FULL" || !d.LogChain {
		t.Errorf("sales after repair %+v", d)
	}

	// Re-running a database change after a crash does not back up again.
	before = int64(len(l.changed()))
	sales := chs[len(chs)-3]
	if sales.Address != "database.sales" {
		t.Fatalf("unexpected order: %s", sales.Address)
	}
	if _, err := applyChange(ctx, i, s, sales, nil); err != nil {
		t.Fatal(err)
	}
	if int64(len(l.changed())) != before {
		t.Errorf("re-run changed: %v", l.changed()[before:])
	}
}

func TestLabErrors(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	ctx := context.Background()

	// Wrong password: SQL Server's words and number, no password.
	s := l.config()
	s.Auth.Password = "Wr0ng-Secret-Pass"
	_, err := Open(ctx, s, nil)
	want := "sql_server.sql01 (127.0.0.1:" + strconv.Itoa(l.port) + "): Login failed for user 'sa'. (SQL Server error 18456)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "Wr0ng") {
		t.Error("password in error")
	}

	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s = l.config()
	s.Port = free
	_, err = Open(ctx, s, nil)
	want = "sql_server.sql01: cannot connect to 127.0.0.1:" + strconv.Itoa(free) + ": connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}

	// A backup directory that does not exist is an error at plan time,
	// before anything changes, on the backup block.
	s = l.config()
	s.Databases[0].Backup.Directory = "/no/such/dir"
	i := l.open(t, s)
	o := refresh(t, i, s)
	if _, diags := diffAll(s, o, nil, testSalt); !diags.HasErrors() || !strings.Contains(diags.Error(), "Backup directory does not exist") ||
		!strings.Contains(diags.Error(), "the backup directory /no/such/dir does not exist on sql_server.sql01") {
		t.Fatalf("diags = %v", diags)
	}
	// One that vanishes between plan and apply: 3201 kept, named by the
	// database.
	s = l.config()
	i = l.open(t, s)
	o = refresh(t, i, s)
	chs, _ := diffAll(s, o, nil, testSalt)
	var sales resources.Change
	for _, c := range chs {
		if c.Address == "database.sales" {
			sales = c
		}
	}
	s.Databases[0].Backup.Directory = "/no/such/dir"
	_, err = applyChange(ctx, i, s, sales, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "database.sales: backup to /no/such/dir/sales_") ||
		!strings.Contains(err.Error(), "Cannot open backup device") || !strings.HasSuffix(err.Error(), "(SQL Server error 3201)") {
		t.Fatalf("err = %v", err)
	}
	if SQLErrorNumber(err) != 3201 {
		t.Errorf("number %d", SQLErrorNumber(err))
	}

	// The restart command fails: its stderr is in the error.
	s = l.config()
	i = l.open(t, s)
	l.failNext = true
	err = i.ApplyRestart(ctx, restartChange(s), quiet)
	if err == nil || !strings.Contains(err.Error(), "Unit not found") {
		t.Fatalf("err = %v", err)
	}
	l.failNext = false

	// The instance never comes back: a clear timeout at the configured
	// deadline (the wait does not sleep past it), with one progress line
	// for a wait shorter than the report interval.
	s.Host.RestartTimeout = 400 * time.Millisecond
	i.pollInterval = time.Second
	l.noReturn = true
	var progress []string
	start := time.Now()
	err = i.ApplyRestart(ctx, restartChange(s), func(m string) { progress = append(progress, m) })
	if err == nil || !strings.Contains(err.Error(), "sql_server.sql01 did not accept logins within 400ms after the restart") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("gave up after %s, restart_timeout 400ms", took)
	}
	wantProgress := []string{"running systemctl restart mssql-server", "waiting for sql_server.sql01 to accept logins (0s of 400ms)"}
	if !reflect.DeepEqual(progress, wantProgress) {
		t.Errorf("progress %q, want %q", progress, wantProgress)
	}
}

// Progress while waiting for logins: the first at once, then at most one
// per report interval, not one per attempt.
func TestLabRestartWaitProgress(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	i.pollInterval = 10 * time.Millisecond
	i.reportInterval = 200 * time.Millisecond
	l.startDelay = 700 * time.Millisecond
	var progress []string
	err := i.ApplyRestart(context.Background(), restartChange(s), func(m string) { progress = append(progress, m) })
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	for _, m := range progress {
		if strings.HasPrefix(m, "waiting for sql_server.sql01 to accept logins (") {
			waits++
		}
	}
	// 700ms / 200ms: 4 or 5 lines (first at 0); one per attempt would be ~70.
	if waits < 2 || waits > 5 {
		t.Errorf("%d progress lines: %q", waits, progress)
	}
}

// Ctrl-C while the restart command runs: the command is not killed (the
// lab runner fails it with "signal: killed" if its context is cancelled,
// as exec.CommandContext would), the wait for logins goes on, and the
// error says the run was interrupted and the server is back.
func TestLabRestartInterrupted(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ctx, cancel := context.WithCancelCause(context.Background())
	l.midRestart = func() { cancel(errors.New("interrupt signal received")) }
	l.startDelay = 300 * time.Millisecond
	err := i.ApplyRestart(ctx, restartChange(s), quiet)
	if err == nil {
		t.Fatal("no error after an interrupt")
	}
	for _, want := range []string{"interrupted during the restart", "the restart completed and the server accepts logins again", "interrupt signal received"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "killed") {
		t.Errorf("error %q", err)
	}
	if _, diags := i.Refresh(context.Background(), attached(s)); diags.HasErrors() {
		t.Errorf("the server was left stopped: %v", diags)
	}

	// Interrupted before the command starts: no restart at all.
	l.midRestart, l.startDelay = nil, 0
	n := l.restarts
	err = i.ApplyRestart(ctx, restartChange(s), quiet)
	if err == nil || !strings.Contains(err.Error(), "not restarting: interrupt signal received") || l.restarts != n {
		t.Errorf("err = %v, restarts %d → %d", err, n, l.restarts)
	}
}

func TestLabRestartRefusedAfterFailedSetting(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	// mssql.conf is a directory: the setting cannot be written.
	if err := os.Mkdir(l.conf, 0o755); err != nil {
		t.Fatal(err)
	}
	i := l.open(t, s)
	ctx := context.Background()
	_, err := applyChange(ctx, i, s, resources.Change{Address: "hadr.sql01", Kind: KindHadr, Target: s.Addr(), Action: resources.Update}, nil)
	if err == nil {
		t.Fatal("setting HADR succeeded on a directory")
	}
	err = i.ApplyRestart(ctx, restartChange(s), quiet)
	if err == nil || !strings.Contains(err.Error(), "not restarting") || l.restarts != 0 {
		t.Fatalf("err = %v, restarts %d", err, l.restarts)
	}
}

func TestLabUnsupportedVersion(t *testing.T) {
	l := startLab(t, "2019-cu15-linux")
	s := l.config()
	i := l.open(t, s)
	// The target's Refresh is the version gate: the observation, with an
	// error diagnostic.
	obs, d := i.Refresh(context.Background(), attached(s))
	if obs == nil {
		t.Fatal("no observation")
	}
	if !d.HasErrors() || !strings.Contains(d[0].Detail, "SQL Server 2019 15.0.4198.2 (CU15) is below the minimum 15.0.4312.2 (CU20) for the link; install CU20 or later") {
		t.Fatalf("diagnostics %v", d)
	}
	if len(l.changed()) != 0 {
		t.Errorf("changes: %v", l.changed())
	}
}

// On Windows the configured settings come from sys.dm_server_registry rows
// of the same batch; -t (lower case) is not a trace flag.
func TestLabWindowsRefresh(t *testing.T) {
	l := startLab(t, "2019-cu20-windows")
	key := `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	if err := l.inst.Start(engine.Startup{Hadr: false, TraceFlags: nil, Registry: []engine.RegistryValue{
		{Key: key, Name: "SQLArg0", Data: `-dC:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\master.mdf`},
		{Key: key, Name: "SQLArg3", Data: "-T1800"},
		{Key: key, Name: "SQLArg4", Data: "-t9567"},
		{Key: `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\HADR`, Name: "HADR_Enabled", Data: "1"},
	}}); err != nil {
		t.Fatal(err)
	}
	s := l.config()
	s.Host.OS = "windows"
	i := l.open(t, s)
	obs, d := i.Refresh(context.Background(), attached(s)) // the version gate included
	if len(d) != 0 {
		t.Fatal(d)
	}
	o := obs.(*Observed)
	if o.Platform != "windows" || !o.HadrConfigured || o.HadrRunning || !reflect.DeepEqual(o.FlagsConfigured, []int{1800}) {
		t.Fatalf("observed platform %s hadr configured %v running %v flags %v", o.Platform, o.HadrConfigured, o.HadrRunning, o.FlagsConfigured)
	}
	chs, _ := diffAll(s, o, nil, testSalt)
	if chs[1].Kind != KindHadr || chs[1].Restart != resources.PendingRestart || chs[2].Kind != KindTraceFlags || chs[2].Restart != resources.NeedsRestart {
		t.Errorf("hadr %+v\nflags %+v", chs[1], chs[2])
	}
	if !strings.Contains(chs[2].Steps[0].Text, "foreach ($flag in @(9567))") {
		t.Errorf("flags step %s", chs[2].Steps[0].Text)
	}
}

// What apply records for HADR and trace flags equals what the next plan
// observes, so converging leaves no drift behind. (The settings' apply now
// records the running values as observed before the restart, and the
// verification the new ones: applyAll merges them, as the planner does.)
func TestLabResultsMatchNextPlan(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	o := refresh(t, i, s)
	chs, _ := diffAll(s, o, nil, testSalt)
	prior, _ := applyAll(t, i, s, chs, map[string]resources.Prior{})
	o = refresh(t, i, s)
	next, _ := diffAll(s, o, prior, testSalt)
	for _, c := range next {
		if c.Kind == KindVerify || c.Kind == KindRestart {
			t.Errorf("unexpected %s", c.Kind)
			continue
		}
		got := prior[c.Address].Attributes
		for k, v := range c.Before {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s.%s: recorded %v, observed %v", c.Address, k, got[k], v)
			}
		}
	}
}

// Changed on purpose with the resource graph: applying a startup setting
// records the running value as it was observed (an apply killed before its
// restart then plans a pending restart, not drift); the verification after
// the restart (Verifier.Verify) returns the new running values. Just
// before the restart, StillConfigured catches a host edited since the
// plan; after a restart without the setting, Verify reports it.
func TestLabStartupSettingsVerified(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ctx := context.Background()
	chs, _ := diffAll(s, refresh(t, i, s), nil, testSalt)
	byAddr := map[string]resources.Change{}
	for _, c := range chs {
		byAddr[c.Address] = c
	}
	for addr, want := range map[string]map[string]any{
		"hadr.sql01":                {"enabled_running": false, "enabled_configured": true},
		"startup_trace_flags.sql01": {"running": []any{}, "configured": []any{1800, 9567}},
	} {
		res, err := applyChange(ctx, i, s, byAddr[addr], nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Attributes, want) {
			t.Errorf("%s recorded %v, want %v (running as observed before the restart)", addr, res.Attributes, want)
		}
	}
	restart := byAddr[resources.RestartAddr(s.Addr())]
	reqs := restarted(i, s, restart, byAddr)
	if len(reqs) != 2 {
		t.Fatalf("the restart is for %v", restart.DependsOn)
	}
	for _, req := range reqs {
		if err := kindOf(req.Change.Kind).Impl.(resources.Verifier).StillConfigured(ctx, req); err != nil {
			t.Errorf("%s: %v", req.Change.Address, err)
		}
	}
	if err := i.ApplyRestart(ctx, restart, quiet); err != nil {
		t.Fatal(err)
	}
	obs, err := i.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]map[string]any{
		"hadr.sql01":                {"enabled_running": true, "enabled_configured": true},
		"startup_trace_flags.sql01": {"running": []any{1800, 9567}, "configured": []any{1800, 9567}},
	}
	wantChecked := map[string]string{"hadr.sql01": "HADR running", "startup_trace_flags.sql01": "trace flags 1800, 9567 active"}
	for _, req := range reqs {
		attrs, checked, problem := kindOf(req.Change.Kind).Impl.(resources.Verifier).Verify(req, obs)
		if problem != nil || checked != wantChecked[req.Change.Address] || !reflect.DeepEqual(attrs, wantAttrs[req.Change.Address]) {
			t.Errorf("%s: verify %v, %q, %v", req.Change.Address, attrs, checked, problem)
		}
	}

	// Someone empties mssql.conf after the plan: no restart for nothing.
	if err := os.WriteFile(l.conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, req := range reqs {
		err := kindOf(req.Change.Kind).Impl.(resources.Verifier).StillConfigured(ctx, req)
		if err == nil || !strings.HasPrefix(err.Error(), req.Change.Address+": ") || !strings.Contains(err.Error(), "the host changed since the plan was made") {
			t.Errorf("%s: StillConfigured = %v", req.Change.Address, err)
		}
	}
	// Restarted all the same, the instance comes back without its
	// settings, and the verification says so.
	if err := i.ApplyRestart(ctx, restart, quiet); err != nil {
		t.Fatal(err)
	}
	if obs, err = i.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	wantProblem := map[string]string{"hadr.sql01": "HADR is disabled (SERVERPROPERTY('IsHadrEnabled')), configured enabled",
		"startup_trace_flags.sql01": "trace flags 1800, 9567 are not active (DBCC TRACESTATUS(-1))"}
	for _, req := range reqs {
		_, _, problem := kindOf(req.Change.Kind).Impl.(resources.Verifier).Verify(req, obs)
		if problem == nil || problem.Error() != wantProblem[req.Change.Address] {
			t.Errorf("%s: problem %v, want %q", req.Change.Address, problem, wantProblem[req.Change.Address])
		}
	}
}
