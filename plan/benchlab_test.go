package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/milink/milink/config"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/labcmd"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
	"github.com/milink/milink/state"
)

// Helpers for the benchmarks in bench_test.go: in-process labs on random
// loopback addresses and the configuration of a fleet made of their sql01
// servers, planned and applied by the real planner and SQL Server driver.

// asMilinkEnv makes this test binary act as `milink lab ...`: lab.json's
// restart_command names os.Executable() ("lab restart -dir DIR sql01"), so
// an apply benchmark sets it and the restart reaches the in-process lab
// through its control API, as `milink lab restart` does for a user. It is
// checked in init, not TestMain, so that the package's other test files
// stay free to define a TestMain.
const asMilinkEnv = "MILINK_PLAN_BENCH_AS_MILINK"

func init() {
	if os.Getenv(asMilinkEnv) != "1" {
		return
	}
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "lab" {
		fmt.Fprintln(os.Stderr, "plan test binary as milink: only \"lab\" commands")
		os.Exit(2)
	}
	os.Exit(labcmd.Main(context.Background(), args[1:], os.Stdout, os.Stderr))
}

// benchRestartDelay is how long a restarting lab server refuses logins:
// short, so an apply benchmark measures milink rather than the wait.
const benchRestartDelay = 100 * time.Millisecond

// benchLab is one in-process lab; the benchmarks use its sql01.
type benchLab struct {
	lab  *lab.Lab
	sql  *lab.Instance
	info lab.ServerInfo
	ctl  *lab.ControlServer
}

// Close stops the lab (and its control API); safe to call twice.
func (b *benchLab) Close() {
	if b.ctl != nil {
		_ = b.ctl.Close()
		b.ctl = nil
	}
	b.lab.Close()
}

// SetLatency injects d before every round trip of sql01.
func (b *benchLab) SetLatency(d time.Duration) {
	f := b.sql.Faults()
	f.Latency = d
	b.sql.SetFaults(f)
}

// Counters are sql01's counters since the lab was created.
func (b *benchLab) Counters() lab.ServerStatus { return b.sql.Status() }

// startLab runs a lab in a temporary directory on a random 127.X.Y.2,
// retrying when an address is taken. With control set it also serves the
// control API, which the restart_command of lab.json needs.
func startLab(tb testing.TB, control bool) *benchLab {
	tb.Helper()
	for range 10 {
		l, err := lab.Open(lab.Config{
			Dir:          tb.TempDir(),
			Address:      randomBase(tb),
			Port:         lab.DefaultPort,
			RestartDelay: benchRestartDelay,
		})
		if err != nil {
			tb.Fatal(err)
		}
		err = l.Start()
		if isAddrInUse(err) {
			l.Close()
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		sql, ok := l.Server(lab.SQLServerName)
		info, ok2 := l.File().Server(lab.SQLServerName)
		if !ok || !ok2 {
			l.Close()
			tb.Fatal("the lab has no sql01")
		}
		bl := &benchLab{lab: l, sql: sql, info: info}
		tb.Cleanup(bl.Close)
		if control {
			if bl.ctl, err = lab.StartControl(l); err != nil {
				tb.Fatal(err)
			}
		}
		return bl
	}
	tb.Fatal("could not start a lab: addresses kept being taken")
	return nil
}

// randomBase picks a random 127.X.Y.2 (never 127.0.0.2, a person's lab)
// whose next address is free too, on the ports a lab uses.
func randomBase(tb testing.TB) string {
	tb.Helper()
	for range 50 {
		base := fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250))
		ip := net.ParseIP(base).To4()
		next := net.IPv4(ip[0], ip[1], ip[2], ip[3]+1).String()
		if portsFree(base, lab.DefaultPort, 5022) && portsFree(next, lab.DefaultPort, 5022) {
			return base
		}
	}
	tb.Fatal("no free loopback address found")
	return ""
}

func portsFree(addr string, ports ...int) bool {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || (err != nil && strings.Contains(err.Error(), "address already in use"))
}

// benchMasterKeyPassword protects the benchmark fleet's master keys; it is
// a throwaway value for temporary labs.
const benchMasterKeyPassword = "Bench-Master-Key-Passw0rd!"

// serverName is the configuration's name for the i-th lab's sql01.
func serverName(i int) string { return fmt.Sprintf("sql%02d", i+1) }

// fleetConfig writes the configuration of the labs' sql01 servers (each
// with the example's master key, HADR, trace flags 1800 and 9567, and
// database sales in FULL recovery with a backup) into a temporary
// directory and loads it as `milink plan` would.
func fleetConfig(tb testing.TB, labs []*benchLab) *config.Config {
	tb.Helper()
	dir := tb.TempDir()
	for i, bl := range labs {
		name := serverName(i)
		if err := os.WriteFile(filepath.Join(dir, name+config.FileSuffix), []byte(serverSource(name, bl.info)), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return loadConfig(tb, dir)
}

// serverSource is the configuration of one server s named name: the
// example's master key, HADR, trace flags 1800 and 9567, and database
// sales in FULL recovery with a backup. Without a restart command (a
// fleet's servers) the host block has none either: plans do not need it.
func serverSource(name string, s lab.ServerInfo) string {
	var argv []string
	for _, a := range s.RestartCommand {
		argv = append(argv, hclString(a))
	}
	restart := ""
	if len(argv) > 0 {
		restart = fmt.Sprintf("\n    restart_command = [%s]\n    restart_timeout = \"30s\"", strings.Join(argv, ", "))
	}
	return fmt.Sprintf(`sql_server %[1]q {
  address                  = %[2]s
  port                     = %[3]d
  encrypt                  = "disable"
  trust_server_certificate = true

  authentication {
    method   = "sql"
    user     = %[4]s
    password = %[5]s
  }

  host {
    os              = "linux"
    transport       = "local"
    mssql_conf      = %[6]s%[7]s
  }
}

master_key %[1]q {
  server   = sql_server.%[1]s
  password = %[8]s
}

hadr %[1]q {
  server  = sql_server.%[1]s
  enabled = true
}

startup_trace_flags %[1]q {
  server = sql_server.%[1]s
  flags  = [1800, 9567]
}

database "%[1]s_sales" {
  server         = sql_server.%[1]s
  name           = "sales"
  recovery_model = "FULL"
  backup {
    directory = %[9]s
  }
  depends_on = [master_key.%[1]s]
}
`, name, hclString(s.Address), s.Port, hclString(s.User), hclString(s.Password),
		hclString(s.MSSQLConf), restart, hclString(benchMasterKeyPassword),
		hclString(s.BackupDirectory))
}

// loadConfig loads the configuration in dir as `milink plan` would.
func loadConfig(tb testing.TB, dir string) *config.Config {
	tb.Helper()
	cfg, _, diags := config.Load(dir, kinds.Registry(), config.Vars{})
	if diags.HasErrors() {
		tb.Fatalf("loading the configuration: %s", diags.Error())
	}
	return cfg
}

// hclString quotes s as an HCL string literal without template sequences.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// planOnce is one `milink plan`: a new session (a login per instance), the
// refresh and the diff, then the connections closed.
func planOnce(ctx context.Context, cfg *config.Config, st *state.State, opts plan.Options) (*plan.Plan, error) {
	sess := plan.NewSession(resources.Env{Log: hclog.NewNullLogger()})
	defer sess.Close()
	p, diags := plan.Build(ctx, cfg, st, sess, opts)
	if diags.HasErrors() {
		return nil, fmt.Errorf("plan: %w", diags)
	}
	return p, nil
}

// applyOnce is one `milink apply -auto-approve`: plan and apply in one
// session, as the CLI does.
func applyOnce(ctx context.Context, cfg *config.Config, st *state.State) error {
	sess := plan.NewSession(resources.Env{Log: hclog.NewNullLogger()})
	defer sess.Close()
	p, diags := plan.Build(ctx, cfg, st, sess, plan.Options{})
	if diags.HasErrors() {
		return fmt.Errorf("plan: %w", diags)
	}
	if err := plan.Apply(ctx, p, cfg, st, encodingWriter{}, sess, nopEvents{}); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// encodingWriter keeps state in memory but encodes it on every save, so the
// state's serialisation stays part of the measured work.
type encodingWriter struct{}

func (encodingWriter) Save(_ context.Context, s *state.State) error {
	_, err := state.Encode(s)
	return err
}

// Record encodes only the resources recorded, as the local backend's
// journal does.
func (encodingWriter) Record(_ context.Context, s *state.State, addrs ...string) error {
	for _, a := range addrs {
		if r := s.Get(a); r != nil {
			if _, err := json.Marshal(r); err != nil {
				return err
			}
		}
	}
	s.Serial++
	return nil
}

type nopEvents struct{}

func (nopEvents) Start(resources.Change)                      {}
func (nopEvents) Progress(resources.Change, string)           {}
func (nopEvents) Done(resources.Change, time.Duration, error) {}
func (nopEvents) Skipped(resources.Change, string)            {}

// TestBenchLabPlan checks the benchmarks' harness (and keeps it race-clean
// under `go test -race`): a plan of a fresh lab's sql01 through the real
// driver sees the work to do and costs one login and few round trips.
func TestBenchLabPlan(t *testing.T) {
	bl := startLab(t, false)
	cfg := fleetConfig(t, []*benchLab{bl})
	before := bl.Counters()
	p, err := planOnce(context.Background(), cfg, state.New(), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := bl.Counters()
	if !p.HasChanges() {
		t.Error("a fresh lab's plan has no changes")
	}
	if got := after.Logins - before.Logins; got != 1 {
		t.Errorf("logins per plan = %d, want 1", got)
	}
	if got := after.RoundTrips - before.RoundTrips; got < 1 || got > maxPlanRoundTrips {
		t.Errorf("round trips per plan = %d, want 1..%d", got, maxPlanRoundTrips)
	}
	if got := after.Changes - before.Changes; got != 0 {
		t.Errorf("a plan changed the server %d times", got)
	}
}

// maxPlanRoundTrips is what one instance's plan may cost besides the login:
// the refresh batch ("Observing cheaply" in DESIGN.md).
const maxPlanRoundTrips = 1
