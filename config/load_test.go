package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources/sqlserver"
)

func TestLoadEveryAttribute(t *testing.T) {
	cfg := mustLoad(t, `
sql_server "sql01" {
  address                  = "127.0.0.2"
  port                     = 14330
  instance                 = "SALES"
  encrypt                  = "strict"
  trust_server_certificate = true
  connect_timeout          = "20s"
  statement_timeout        = "2m"
  restart                  = "never"
  support_matrix           = "2022-06"
  authentication {
    method   = "sql"
    user     = "sa"
    password = "Secret-Passw0rd"
  }
  host {
    os              = "linux"
    transport       = "local"
    mssql_conf      = "/etc/mssql.conf"
    mssql_conf_tool = "/usr/bin/mssql-conf"
    restart_command = ["lab", "restart"]
    restart_timeout = "90s"
  }
  depends_on = [sql_server.other]
}
sql_server "other" {
  address = "127.0.0.3"
  # "windows" was accepted here until validate learned to report
  # methods not yet supported (TestAuthMethodNotYetSupported).
  authentication {
    method   = "sql"
    user     = "u"
    password = "p4ssword"
  }
}
master_key "sql01" {
  server     = sql_server.sql01
  password   = "Key-Passw0rd-123"
  depends_on = [sql_server.sql01]
}
hadr "sql01" {
  server  = sql_server.sql01
  enabled = false
}
startup_trace_flags "sql01" {
  server    = sql_server.sql01
  flags     = [9567, 1800, 1800, 3226]
  exclusive = true
}
database "sales" {
  server         = sql_server.sql01
  name           = "SalesDB"
  recovery_model = "full"
  backup {
    directory   = "/backup"
    compression = false
    checksum    = false
  }
  depends_on = [master_key.sql01, hadr.sql01, startup_trace_flags.sql01, master_key.sql01]
}
`, Vars{})
	s := server(t, cfg, "sql01")
	want := sqlserver.Server{
		Name: "sql01", Address: "127.0.0.2", Port: 14330, Instance: "SALES",
		Auth:    sqlserver.Auth{Method: "sql", User: "sa", Password: "Secret-Passw0rd"},
		Encrypt: "strict", TrustServerCertificate: true, ConnectTimeout: 20 * time.Second,
		StatementTimeout: 2 * time.Minute,
		Restart:          "never", SupportMatrix: "2022-06",
		Host: sqlserver.Host{OS: "linux", Transport: "local", MssqlConf: "/etc/mssql.conf", MssqlConfTool: "/usr/bin/mssql-conf",
			RestartCommand: []string{"lab", "restart"}, RestartCommandSet: true, RestartTimeout: 90 * time.Second},
	}
	got := *s
	got.DeclRange, got.Host.DeclRange = hcl.Range{}, hcl.Range{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sql_server:\n got %+v\nwant %+v", got, want)
	}
	if s.DeclRange.Start.Line != 2 || s.Host.DeclRange.Start.Line != 17 {
		t.Errorf("ranges: server line %d, host line %d", s.DeclRange.Start.Line, s.Host.DeclRange.Start.Line)
	}
	// depends_on is the loader's now (a meta-argument, as in Terraform):
	// it is on the Block, not in the kind's value.
	if b := cfg.Block("sql_server.sql01"); !reflect.DeepEqual(b.DependsOn, []string{"sql_server.other"}) || b.Target != "" {
		t.Errorf("sql_server.sql01: depends_on %v, target %q", b.DependsOn, b.Target)
	}
	mk := decodeAs[*sqlserver.MasterKey](t, cfg, "master_key.sql01", nil, true)
	if mk.Password != "Key-Passw0rd-123" || mk.Addr() != "master_key.sql01" || mk.DeclRange.Start.Line != 37 {
		t.Errorf("master key: %+v", mk)
	}
	if b := cfg.Block("master_key.sql01"); b.Target != "sql_server.sql01" || !reflect.DeepEqual(b.DependsOn, []string{"sql_server.sql01"}) {
		t.Errorf("master key block: target %q, depends_on %v", b.Target, b.DependsOn)
	}
	if h := decodeAs[*sqlserver.Hadr](t, cfg, "hadr.sql01", nil, true); h.Enabled || h.Addr() != "hadr.sql01" {
		t.Errorf("hadr: %+v", h)
	}
	if tf := decodeAs[*sqlserver.StartupTraceFlags](t, cfg, "startup_trace_flags.sql01", nil, true); !reflect.DeepEqual(tf.Flags, []int{1800, 3226, 9567}) || !tf.Exclusive || tf.Addr() != "startup_trace_flags.sql01" {
		t.Errorf("trace flags: %+v", tf)
	}
	if dbs := blocksOf(cfg, "database", "sql_server.sql01"); !reflect.DeepEqual(dbs, []string{"database.sales"}) {
		t.Fatalf("databases: %v", dbs)
	}
	d := database(t, cfg, "database.sales")
	if d.DatabaseName != "SalesDB" || d.RecoveryModel != "FULL" || d.Addr() != "database.sales" {
		t.Errorf("database: %+v", d)
	}
	if d.Backup == nil || d.Backup.Directory != "/backup" || d.Backup.Compression || d.Backup.Checksum {
		t.Errorf("backup: %+v", d.Backup)
	}
	if want := []string{"master_key.sql01", "hadr.sql01", "startup_trace_flags.sql01"}; !reflect.DeepEqual(cfg.Block("database.sales").DependsOn, want) {
		t.Errorf("depends_on = %v, want %v (deduplicated, in order)", cfg.Block("database.sales").DependsOn, want)
	}
	if o := server(t, cfg, "other"); o.Auth.Method != "sql" || o.Auth.User != "u" || o.Address != "127.0.0.3" {
		t.Errorf("other: %+v", o)
	}
	if cfg.Block("sql_server.nope") != nil {
		t.Error("Block(sql_server.nope) should be nil")
	}
	if want := []string{"sql_server.sql01", "sql_server.other", "master_key.sql01", "hadr.sql01", "startup_trace_flags.sql01", "database.sales"}; !reflect.DeepEqual(addrs(cfg), want) {
		t.Errorf("blocks %v, want %v (file order)", addrs(cfg), want)
	}
	if ts := cfg.Targets(); len(ts) != 2 || ts[0].Addr != "sql_server.sql01" || ts[1].Addr != "sql_server.other" {
		t.Errorf("targets %v", ts)
	}
}

func TestDefaults(t *testing.T) {
	linuxDefaults := sqlserver.Host{OS: "linux", Transport: "local", MssqlConf: sqlserver.DefaultMssqlConf, MssqlConfTool: sqlserver.DefaultMssqlConfTool,
		RestartCommand: []string{"systemctl", "restart", "mssql-server"}, RestartTimeout: 5 * time.Minute}
	// On Windows the host driver's own restart script runs (it restarts
	// dependent services too), so the configured command stays empty.
	windowsPS := func(string) []string { return nil }
	tests := []struct {
		name     string
		instance string
		host     string
		want     sqlserver.Host
	}{
		{"no host block", "", "", linuxDefaults},
		{"empty host block", "", "host {}", linuxDefaults},
		{"windows default instance", "", `host { os = "windows" }`,
			sqlserver.Host{OS: "windows", Transport: "local", RestartCommand: windowsPS(""), RestartTimeout: 5 * time.Minute}},
		{"windows named instance", "SALES", `host { os = "windows" }`,
			sqlserver.Host{OS: "windows", Transport: "local", RestartCommand: windowsPS("SALES"), RestartTimeout: 5 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, `
sql_server "s" {
  address  = "h"
  instance = "`+tt.instance+`"
  authentication {
    user     = "u"
    password = "p"
  }
  `+tt.host+`
}
database "d" {
  server = sql_server.s
}
`, Vars{})
			s := server(t, cfg, "s")
			h := s.Host
			h.DeclRange = hcl.Range{}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("host:\n got %+v\nwant %+v", h, tt.want)
			}
			if s.Port != 1433 || s.Encrypt != "false" || s.TrustServerCertificate || s.ConnectTimeout != 15*time.Second ||
				s.StatementTimeout != 0 || s.Restart != "auto" || s.SupportMatrix != "current" || s.Auth.Method != "sql" {
				t.Errorf("server defaults: %+v", s)
			}
			d := database(t, cfg, "database.d")
			if d.DatabaseName != "d" || d.RecoveryModel != "FULL" || d.Backup != nil {
				t.Errorf("database defaults: %+v", d)
			}
		})
	}

	cfg := mustLoad(t, minimalServer+`
hadr "h" {
  server = sql_server.s1
}
startup_trace_flags "t" {
  server = sql_server.s1
}
database "d" {
  server = sql_server.s1
  backup {
    directory = "/b"
  }
}
`, Vars{})
	if h := decodeAs[*sqlserver.Hadr](t, cfg, "hadr.h", nil, true); !h.Enabled {
		t.Error("hadr.enabled should default to true")
	}
	if tf := decodeAs[*sqlserver.StartupTraceFlags](t, cfg, "startup_trace_flags.t", nil, true); !reflect.DeepEqual(tf.Flags, []int{1800, 9567}) || tf.Exclusive {
		t.Errorf("trace flag defaults: %+v", tf)
	}
	if b := database(t, cfg, "database.d").Backup; b == nil || !b.Compression || !b.Checksum {
		t.Errorf("backup defaults: %+v", b)
	}
}

func TestMultipleFilesSortedAndMerged(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"b.milink.hcl":    `database "d" { server = sql_server.s1 }`,
		"a.milink.hcl":    minimalServer,
		"ignored.hcl":     `this is not read`,
		"notes.milink.md": `nor this`,
	})
	cfg, _, diags := Load(dir, testReg, Vars{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.files) != 2 || cfg.files["a.milink.hcl"] == nil {
		t.Errorf("files = %v", sortedKeys(cfg.files))
	}
	if d := cfg.Block("database.d"); d == nil || d.Target != "sql_server.s1" {
		t.Errorf("database from the second file not on sql_server.s1: %+v", d)
	}
}

func TestNoFiles(t *testing.T) {
	dir := writeDir(t, map[string]string{"x.tf": ""})
	cfg, _, diags := Load(dir, testReg, Vars{})
	if cfg != nil || len(diags) != 1 || !strings.Contains(diags[0].Detail, "The directory "+dir+" contains no *.milink.hcl files.") {
		t.Fatalf("got %v", diags)
	}
	// A relative directory is named by its absolute path: "in .." read as
	// the parent directory.
	t.Chdir(dir)
	_, _, diags = Load(".", testReg, Vars{})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "The directory "+dir+" contains") || strings.Contains(diags[0].Detail, "..") {
		t.Fatalf("relative directory: got %v", diags)
	}
	if diags := Validate(dir+"/missing", testReg, Vars{}); !diags.HasErrors() {
		t.Fatal("missing directory should fail")
	}
}
