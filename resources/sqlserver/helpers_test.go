package sqlserver

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	goldenfile "github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
)

// golden compares got with testdata/golden/name (go test -update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), []byte(got))
}

const (
	testLoginPassword = "L0gin-p@ss'word!"
	testMKPassword    = "Mk-Secret'42-xyz"
	testSalt          = "salt-of-the-lineage"
)

func rng(line int) hcl.Range {
	return hcl.Range{Filename: "main.milink.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 10}}
}

// sql01 is the lab scenario's configuration: everything the link needs,
// with the resource blocks attached as the target's Refresh attaches them.
func sql01() *Server {
	s := &Server{
		Name: "sql01", Address: "127.0.0.2", Port: 1433, Encrypt: "false", ConnectTimeout: 5 * time.Second,
		Auth:          Auth{Method: "sql", User: "sa", Password: testLoginPassword},
		Restart:       "auto",
		SupportMatrix: "current",
		Host: Host{OS: "linux", Transport: "local", MssqlConf: "/var/opt/mssql/mssql.conf", MssqlConfTool: "/opt/mssql/bin/mssql-conf",
			RestartCommand: []string{"systemctl", "restart", "mssql-server"}, RestartTimeout: 5 * time.Minute, DeclRange: rng(8)},
		DeclRange: rng(1),
	}
	s.MasterKey = &MasterKey{Address: "master_key.sql01", Password: testMKPassword, DeclRange: rng(20)}
	s.Hadr = &Hadr{Address: "hadr.sql01", Enabled: true, DeclRange: rng(25)}
	s.StartupTraceFlags = &StartupTraceFlags{Address: "startup_trace_flags.sql01", Flags: []int{1800, 9567}, DeclRange: rng(30)}
	for i, n := range []string{"sales", "inventory", "payroll"} {
		// depends_on (master_key.sql01 in the lab) is the planner's
		// business now: the kinds never see it.
		s.Databases = append(s.Databases, &Database{Address: "database." + n, DatabaseName: n, RecoveryModel: "FULL",
			Backup:    &Backup{Directory: "/var/opt/mssql/backup", Compression: true, Checksum: true},
			DeclRange: rng(40 + 10*i)})
	}
	return s
}

// The Instance is what the planner sees of a sql_server block.
var (
	_ resources.Target    = (*Instance)(nil)
	_ resources.Restarter = (*Instance)(nil)
)

// kindOf is the registered kind of a block type.
func kindOf(typ string) *resources.Kind {
	for _, k := range Kinds() {
		if k.Type == typ {
			return k
		}
	}
	panic("no kind " + typ)
}

// attached lists the resource blocks attached to s, as the planner passes
// them to the target's Refresh, in the order the old whole-instance Diff
// planned them.
func attached(s *Server) []resources.Instance {
	var out []resources.Instance
	if s.MasterKey != nil {
		out = append(out, resources.Instance{Address: s.MasterKey.Addr(), Type: KindMasterKey, Config: s.MasterKey})
	}
	if s.Hadr != nil {
		out = append(out, resources.Instance{Address: s.Hadr.Addr(), Type: KindHadr, Config: s.Hadr})
	}
	if s.StartupTraceFlags != nil {
		out = append(out, resources.Instance{Address: s.StartupTraceFlags.Addr(), Type: KindTraceFlags, Config: s.StartupTraceFlags})
	}
	for _, d := range s.Databases {
		out = append(out, resources.Instance{Address: d.Addr(), Type: KindDatabase, Config: d})
	}
	return out
}

// configOf is the configuration of the block at addr attached to s, or nil.
func configOf(s *Server, addr string) any {
	for _, r := range attached(s) {
		if r.Address == addr {
			return r.Config
		}
	}
	return nil
}

// diffAll plans every resource attached to s the way the old
// whole-instance Diff did: each kind's Diff (through the registered kind,
// with an unconnected *Instance as the target, since Diff is pure), then
// the instance's one restart and its verification (RestartChanges) for the
// changes that wait for a restart, then the databases. Changes whose Diff
// reported an error are left out, as before. The kinds' own Address, Kind
// and Target are kept (the planner overwrites them), so tests check them.
//
// As in the old Diff (and the planner), the changes waiting for a restart
// include the pending ones (configured by an earlier apply, not yet
// running): a restart is what they lack.
func diffAll(s *Server, o *Observed, prior map[string]resources.Prior, salt string) ([]resources.Change, hcl.Diagnostics) {
	i := &Instance{s: s}
	var changes, needing, after []resources.Change
	var diags hcl.Diagnostics
	for _, r := range attached(s) {
		req := resources.DiffRequest{Address: r.Address, Config: r.Config, Target: i, Observed: o, Salt: salt}
		if p, ok := prior[r.Address]; ok {
			req.Prior = &p
		}
		ch, d := kindOf(r.Type).Impl.(resources.Resource).Diff(req)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if ch.Restart != resources.NoRestart {
			needing = append(needing, ch)
		}
		if kindOf(r.Type).Phase == resources.PhaseAfterRestart {
			after = append(after, ch)
		} else {
			changes = append(changes, ch)
		}
	}
	changes = append(changes, i.RestartChanges(o, needing)...)
	return append(changes, after...), diags
}

var backupTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// freshObserved is the lab's sql01 as seeded: 2019 CU22 on Linux, nothing done.
func freshObserved() *Observed {
	return &Observed{
		Banner:         "Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n\tJul 27 2023 18:11:00\n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (Ubuntu 20.04.6 LTS) <X64>",
		ProductVersion: "15.0.4322.2", ProductLevel: "RTM", UpdateLevel: "CU22", Edition: "Developer Edition (64-bit)", EngineEdition: 3,
		Platform: "linux", ConfTool: true, HadrManagerStatus: 0,
		Databases: map[string]DatabaseState{
			"master":    {Name: "master", ID: 1, RecoveryModel: "SIMPLE", State: "ONLINE", LastFullBackup: backupTime},
			"tempdb":    {Name: "tempdb", ID: 2, RecoveryModel: "SIMPLE", State: "ONLINE"},
			"model":     {Name: "model", ID: 3, RecoveryModel: "FULL", State: "ONLINE"},
			"msdb":      {Name: "msdb", ID: 4, RecoveryModel: "SIMPLE", State: "ONLINE"},
			"sales":     {Name: "sales", ID: 5, RecoveryModel: "SIMPLE", State: "ONLINE"},
			"inventory": {Name: "inventory", ID: 6, RecoveryModel: "FULL", State: "ONLINE", LastCopyOnlyBackup: backupTime}, // only a COPY_ONLY backup
			"payroll":   {Name: "payroll", ID: 7, RecoveryModel: "FULL", State: "ONLINE"},
		},
	}
}

// convergedObserved is sql01 after apply.
func convergedObserved() *Observed {
	o := freshObserved()
	o.HadrRunning, o.HadrConfigured, o.HadrManagerStatus = true, true, 1
	o.FlagsRunning, o.FlagsConfigured = []int{1800, 9567}, []int{1800, 9567}
	o.MasterKey = true
	for _, n := range []string{"sales", "inventory", "payroll"} {
		d := o.Databases[n]
		d.RecoveryModel, d.LogChain, d.LastFullBackup = "FULL", true, backupTime
		o.Databases[n] = d
	}
	return o
}

// The kinds register (a startup-phase kind must verify itself after the
// restart), and their blocks are attached to the target at refresh.
func TestKindsRegister(t *testing.T) {
	r := resources.NewRegistry(Kinds()...)
	want := []string{KindServer, KindMasterKey, KindHadr, KindTraceFlags, KindDatabase, KindFirewallRule}
	if got := r.Types(); !reflect.DeepEqual(got, want) {
		t.Errorf("types %v, want %v", got, want)
	}
	for _, k := range Kinds() {
		if _, ok := k.Impl.(resources.Verifier); ok != (k.Phase == resources.PhaseStartup) {
			t.Errorf("%s: phase %d, Verifier %v", k.Type, k.Phase, ok)
		}
	}
	s := sql01()
	res := attached(s)
	i := &Instance{s: &Server{Name: "sql01"}}
	i.attach(res)
	if got := attached(i.s); !reflect.DeepEqual(got, res) {
		t.Errorf("attached %v, want %v", got, res)
	}
}
