package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/milink/milink/resources/sqlserver"
)

// fakeLabJSON has the shape `milink lab up` writes.
const fakeLabJSON = `{"servers": [
  {"name": "mi01", "kind": "managed_instance", "address": "127.0.0.3", "port": 1433, "user": "admin", "password": "MiPassw0rd!!",
   "mssql_conf": "", "restart_command": [], "backup_directory": "", "profile": "mi",
   "certificate": "/lab/mi01/tls/cert.pem", "certificate_key": "/lab/mi01/tls/key.pem", "force_encryption": false, "tds8": true,
   "host_firewall": false, "firewall_command_prefix": []},
  {"name": "sql01", "kind": "sqlserver", "address": "127.0.0.2", "port": 14333, "user": "sa", "password": "LabPassw0rd!!",
   "mssql_conf": "/lab/sql01/mssql.conf", "restart_command": ["milink", "lab", "restart", "sql01"],
   "backup_directory": "/lab/sql01/backup", "profile": "2022",
   "certificate": "/lab/sql01/tls/cert.pem", "certificate_key": "/lab/sql01/tls/key.pem", "force_encryption": false, "tds8": true,
   "host_firewall": true, "firewall_command_prefix": ["nsenter", "--target", "4242", "--user", "--net", "--preserve-credentials", "--"]}
],
 "azure": {"resource_manager": "https://127.0.0.1:4443/", "audience": "https://management.core.windows.net/",
   "authority": "https://127.0.0.1:4443/", "ca_file": "/lab/azure/ca.pem", "tenant_id": "t", "client_id": "c",
   "client_secret": "Lab-Client-Secret-1", "subscription_id": "00000000-0000-0000-0000-000000000001",
   "resource_group": "milink-lab", "managed_instance": "mi01"}
}`

// copyExample copies examples/NAME into a temporary directory; the lab gets
// a fake .milink-lab/lab.json.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "examples", name)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if name == "lab" {
		if err := os.MkdirAll(filepath.Join(dir, ".milink-lab"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".milink-lab", "lab.json"), []byte(fakeLabJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExamples(t *testing.T) {
	secrets := []string{"sql_password=Sql-Passw0rd-123", "master_key_password=Master-Key-Passw0rd"}
	// check gets the example's sql_server and the configuration, whose
	// other blocks it decodes itself: a server no longer carries them.
	tests := []struct {
		name   string
		args   []string // the -var values its README documents
		server string
		check  func(t *testing.T, cfg *Config, s *sqlserver.Server)
	}{
		{"lab", nil, "sql01", func(t *testing.T, cfg *Config, s *sqlserver.Server) {
			if s.Host.OS != "linux" || s.Host.Transport != "local" || s.Host.MssqlConf != "/lab/sql01/mssql.conf" ||
				s.Host.MssqlConfTool != sqlserver.DefaultMssqlConfTool ||
				!reflect.DeepEqual(s.Host.RestartCommand, []string{"milink", "lab", "restart", "sql01"}) {
				t.Errorf("host: %+v", s.Host)
			}
			mk := decodeAs[*sqlserver.MasterKey](t, cfg, "master_key.sql01", nil, true)
			h := decodeAs[*sqlserver.Hadr](t, cfg, "hadr.sql01", nil, true)
			tf := decodeAs[*sqlserver.StartupTraceFlags](t, cfg, "startup_trace_flags.sql01", nil, true)
			if len(mk.Password) < 12 || !h.Enabled || !reflect.DeepEqual(tf.Flags, []int{1800, 9567}) {
				t.Errorf("server resources: %+v %+v %+v", mk, h, tf)
			}
			var names []string
			for _, addr := range blocksOf(cfg, "database", "sql_server.sql01") {
				d := database(t, cfg, addr)
				names = append(names, d.DatabaseName)
				if d.RecoveryModel != "FULL" || d.Backup == nil || d.Backup.Directory != "/lab/sql01/backup" {
					t.Errorf("database %s: %+v", addr, d)
				}
			}
			if !reflect.DeepEqual(names, []string{"sales", "inventory", "payroll"}) {
				t.Errorf("databases %v", names)
			}
		}},
		{"linux-2022-azure-vm", secrets, "vm01", func(t *testing.T, cfg *Config, s *sqlserver.Server) {
			dbs := blocksOf(cfg, "database", "sql_server.vm01")
			// One for_each block; its instances sort by key.
			if s.Host.OS != "linux" || !reflect.DeepEqual(dbs, []string{`database.app["inventory"]`, `database.app["sales"]`}) ||
				database(t, cfg, dbs[1]).DatabaseName != "sales" {
				t.Errorf("%+v %v", s, dbs)
			}
		}},
		{"windows-2019-on-premises", append(secrets, `ssh_user=CORP\dba`, "ssh_private_key_file=/keys/id", "known_hosts_file=/keys/known_hosts"), "sql2019", func(t *testing.T, cfg *Config, s *sqlserver.Server) {
			if s.Host.OS != "windows" || s.Instance != "SALES" || len(s.Host.RestartCommand) != 0 ||
				database(t, cfg, "database.orders").Backup.Directory != `D:\Backup` {
				t.Errorf("%+v", s)
			}
			// Reached over SSH, PowerShell on the far side.
			if c := s.Host.SSH; s.Host.Transport != "ssh" || c == nil || c.User != `CORP\dba` || c.Address != "localhost" || c.Port != 22 ||
				c.OS != "windows" || !reflect.DeepEqual(c.IdentityFiles, []string{"/keys/id"}) || !reflect.DeepEqual(c.KnownHostsFiles, []string{"/keys/known_hosts"}) {
				t.Errorf("ssh: %+v", s.Host.SSH)
			}
		}},
		{"windows-2016", secrets, "sql2016", func(t *testing.T, cfg *Config, s *sqlserver.Server) {
			if s.Host.OS != "windows" || s.Restart != "never" || database(t, cfg, "database.crm").DatabaseName != "CRM" ||
				!reflect.DeepEqual(cfg.Block("database.crm").DependsOn, []string{"master_key.sql2016", "hadr.sql2016"}) {
				t.Errorf("%+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyExample(t, tt.name)
			for _, f := range []string{"main.milink.hcl", "README.md"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			cfg, s, diags := Load(dir, testReg, Vars{Args: tt.args})
			if len(diags) > 0 {
				t.Fatal(render(t, s, diags))
			}
			tt.check(t, cfg, server(t, cfg, tt.server))
			// CI validates without secrets: every example passes
			// validate with no variable set.
			if diags := Validate(dir, testReg, Vars{}); len(diags) > 0 {
				t.Errorf("validate without variables:\n%s", render(t, s, diags))
			}
			// Examples are canonically formatted.
			if changed, _, diags, err := FormatDir(dir, true); err != nil || diags.HasErrors() || len(changed) > 0 {
				t.Errorf("fmt: changed %v, %v, %v", changed, diags, err)
			}
		})
	}
}
