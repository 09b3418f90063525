package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
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
  authentication {
    method = "windows"
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
	s := cfg.Server("sql01")
	if s == nil {
		t.Fatal("sql01 missing")
	}
	want := SQLServer{
		Name: "sql01", Address: "127.0.0.2", Port: 14330, Instance: "SALES",
		Auth:    Auth{Method: "sql", User: "sa", Password: "Secret-Passw0rd"},
		Encrypt: "strict", TrustServerCertificate: true, ConnectTimeout: 20 * time.Second,
		Restart: "never", SupportMatrix: "2022-06",
		Host: Host{OS: "linux", Transport: "local", MssqlConf: "/etc/mssql.conf", MssqlConfTool: "/usr/bin/mssql-conf",
			RestartCommand: []string{"lab", "restart"}, RestartTimeout: 90 * time.Second},
		DependsOn: []string{"sql_server.other"},
	}
	got := *s
	got.MasterKey, got.Hadr, got.StartupTraceFlags, got.Databases = nil, nil, nil, nil
	got.DeclRange, got.Host.DeclRange = hcl.Range{}, hcl.Range{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sql_server:\n got %+v\nwant %+v", got, want)
	}
	if s.DeclRange.Start.Line != 2 || s.Host.DeclRange.Start.Line != 16 {
		t.Errorf("ranges: server line %d, host line %d", s.DeclRange.Start.Line, s.Host.DeclRange.Start.Line)
	}
	if mk := s.MasterKey; mk == nil || mk.Password != "Key-Passw0rd-123" || mk.Addr() != "master_key.sql01" ||
		!reflect.DeepEqual(mk.DependsOn, []string{"sql_server.sql01"}) {
		t.Errorf("master key: %+v", mk)
	}
	if h := s.Hadr; h == nil || h.Enabled || h.Addr() != "hadr.sql01" {
		t.Errorf("hadr: %+v", h)
	}
	if tf := s.StartupTraceFlags; tf == nil || !reflect.DeepEqual(tf.Flags, []int{1800, 3226, 9567}) || !tf.Exclusive || tf.Addr() != "startup_trace_flags.sql01" {
		t.Errorf("trace flags: %+v", tf)
	}
	if len(s.Databases) != 1 {
		t.Fatalf("databases: %d", len(s.Databases))
	}
	d := s.Databases[0]
	if d.Name != "sales" || d.DatabaseName != "SalesDB" || d.RecoveryModel != "FULL" || d.Addr() != "database.sales" {
		t.Errorf("database: %+v", d)
	}
	if d.Backup == nil || d.Backup.Directory != "/backup" || d.Backup.Compression || d.Backup.Checksum {
		t.Errorf("backup: %+v", d.Backup)
	}
	if want := []string{"master_key.sql01", "hadr.sql01", "startup_trace_flags.sql01"}; !reflect.DeepEqual(d.DependsOn, want) {
		t.Errorf("depends_on = %v, want %v (deduplicated, in order)", d.DependsOn, want)
	}
	if o := cfg.Server("other"); o == nil || o.Auth.Method != "windows" || o.Auth.User != "" {
		t.Errorf("other: %+v", o)
	}
	if cfg.Server("nope") != nil {
		t.Error("Server(nope) should be nil")
	}
}

func TestDefaults(t *testing.T) {
	linuxDefaults := Host{OS: "linux", Transport: "local", MssqlConf: DefaultMssqlConf, MssqlConfTool: DefaultMssqlConfTool,
		RestartCommand: []string{"systemctl", "restart", "mssql-server"}, RestartTimeout: 5 * time.Minute}
	// On Windows the host driver's own restart script runs (it restarts
	// dependent services too), so the configured command stays empty.
	windowsPS := func(string) []string { return nil }
	tests := []struct {
		name     string
		instance string
		host     string
		want     Host
	}{
		{"no host block", "", "", linuxDefaults},
		{"empty host block", "", "host {}", linuxDefaults},
		{"windows default instance", "", `host { os = "windows" }`,
			Host{OS: "windows", Transport: "local", RestartCommand: windowsPS(""), RestartTimeout: 5 * time.Minute}},
		{"windows named instance", "SALES", `host { os = "windows" }`,
			Host{OS: "windows", Transport: "local", RestartCommand: windowsPS("SALES"), RestartTimeout: 5 * time.Minute}},
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
			s := cfg.SQLServers[0]
			h := s.Host
			h.DeclRange = hcl.Range{}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("host:\n got %+v\nwant %+v", h, tt.want)
			}
			if s.Port != 1433 || s.Encrypt != "false" || s.TrustServerCertificate || s.ConnectTimeout != 15*time.Second ||
				s.Restart != "auto" || s.SupportMatrix != "current" || s.Auth.Method != "sql" {
				t.Errorf("server defaults: %+v", s)
			}
			d := s.Databases[0]
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
	s := cfg.SQLServers[0]
	if !s.Hadr.Enabled {
		t.Error("hadr.enabled should default to true")
	}
	if !reflect.DeepEqual(s.StartupTraceFlags.Flags, []int{1800, 9567}) || s.StartupTraceFlags.Exclusive {
		t.Errorf("trace flag defaults: %+v", s.StartupTraceFlags)
	}
	if b := s.Databases[0].Backup; !b.Compression || !b.Checksum {
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
	cfg, _, diags := Load(dir, Vars{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.files) != 2 || cfg.files["a.milink.hcl"] == nil {
		t.Errorf("files = %v", sortedKeys(cfg.files))
	}
	if len(cfg.SQLServers[0].Databases) != 1 {
		t.Error("database from the second file not attached")
	}
}

func TestNoFiles(t *testing.T) {
	dir := writeDir(t, map[string]string{"x.tf": ""})
	cfg, _, diags := Load(dir, Vars{})
	if cfg != nil || len(diags) != 1 || !strings.Contains(diags[0].Detail, "The directory "+dir+" contains no *.milink.hcl files.") {
		t.Fatalf("got %v", diags)
	}
	// A relative directory is named by its absolute path: "in .." read as
	// the parent directory.
	t.Chdir(dir)
	_, _, diags = Load(".", Vars{})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "The directory "+dir+" contains") || strings.Contains(diags[0].Detail, "..") {
		t.Fatalf("relative directory: got %v", diags)
	}
	if diags := Validate(dir+"/missing", Vars{}); !diags.HasErrors() {
		t.Fatal("missing directory should fail")
	}
}
