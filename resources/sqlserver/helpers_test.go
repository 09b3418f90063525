package sqlserver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	goldenfile "github.com/milink/milink/internal/golden"
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

// sql01 is the lab scenario's configuration: everything the link needs.
func sql01() *Server {
	s := &config.SQLServer{
		Name: "sql01", Address: "127.0.0.2", Port: 1433, Encrypt: "false", ConnectTimeout: 5 * time.Second,
		Auth:          config.Auth{Method: "sql", User: "sa", Password: testLoginPassword},
		Restart:       "auto",
		SupportMatrix: "current",
		Host: config.Host{OS: "linux", Transport: "local", MssqlConf: "/var/opt/mssql/mssql.conf", MssqlConfTool: "/opt/mssql/bin/mssql-conf",
			RestartCommand: []string{"systemctl", "restart", "mssql-server"}, RestartTimeout: 5 * time.Minute, DeclRange: rng(8)},
		DeclRange: rng(1),
	}
	s.MasterKey = &config.MasterKey{Name: "sql01", Password: testMKPassword, DeclRange: rng(20)}
	s.Hadr = &config.Hadr{Name: "sql01", Enabled: true, DeclRange: rng(25)}
	s.StartupTraceFlags = &config.StartupTraceFlags{Name: "sql01", Flags: []int{1800, 9567}, DeclRange: rng(30)}
	for i, n := range []string{"sales", "inventory", "payroll"} {
		s.Databases = append(s.Databases, &config.Database{Name: n, DatabaseName: n, RecoveryModel: "FULL",
			Backup:    &config.Backup{Directory: "/var/opt/mssql/backup", Compression: true, Checksum: true},
			DependsOn: []string{"master_key.sql01"}, DeclRange: rng(40 + 10*i)})
	}
	return s
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
