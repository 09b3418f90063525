package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/milink/milink/lab/tds"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

func TestDSN(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*Server)
		host     string
		port     uint64
		instance string
		encrypt  msdsn.Encryption
	}{
		{"default", func(*Server) {}, "127.0.0.2", 1433, "", msdsn.EncryptionOff},
		{"named instance via browser", func(s *Server) { s.Instance = "SALES" }, "127.0.0.2", 0, "SALES", msdsn.EncryptionOff},
		{"named instance on a port", func(s *Server) { s.Instance, s.Port = "SALES", 14330 }, "127.0.0.2", 14330, "SALES", msdsn.EncryptionOff},
		{"strict", func(s *Server) { s.Encrypt = "strict" }, "127.0.0.2", 1433, "", msdsn.EncryptionStrict},
		{"ipv6", func(s *Server) { s.Address = "::1" }, "::1", 1433, "", msdsn.EncryptionOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sql01()
			s.Auth.User, s.Auth.Password = `dom\us@r:x`, `p@ss:/?#&;= %'w"rd`
			tt.mutate(s)
			dsn := DSN(s)
			p, err := msdsn.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if p.User != s.Auth.User || p.Password != s.Auth.Password {
				t.Errorf("credentials did not survive: user %q", p.User)
			}
			if p.Host != tt.host || p.Port != tt.port || p.Instance != tt.instance || p.Database != "master" || p.AppName != "milink" || p.Encryption != tt.encrypt {
				t.Errorf("parsed host %q port %d instance %q db %q app %q encrypt %v", p.Host, p.Port, p.Instance, p.Database, p.AppName, p.Encryption)
			}
			if p.DialTimeout != 5*time.Second {
				t.Errorf("dial timeout %v", p.DialTimeout)
			}
		})
	}
}

func TestOpenRefusesUnsupported(t *testing.T) {
	for _, tt := range []struct {
		mut  func(*Server)
		want string
	}{
		{func(s *Server) { s.Auth.Method = "kerberos5" }, "not yet supported"},
		{func(s *Server) { s.Host.Transport = "winrm" }, "not supported"},
		// SSH to a port nothing listens on: the host is named, nothing
		// else is tried.
		{func(s *Server) {
			s.Host.Transport = "ssh"
			s.Host.SSH = &host.SSHConfig{Address: "127.0.0.1", Port: 1, User: "dba", Password: "x", ConnectTimeout: time.Second}
		}, "reaching its host"},
	} {
		s := sql01()
		tt.mut(s)
		_, err := Open(context.Background(), s, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sql_server.sql01: ") {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
}

func TestSQLText(t *testing.T) {
	e := mssql.Error{Number: 3013, Message: "BACKUP DATABASE is terminating abnormally.", All: []mssql.Error{
		{Number: 3201, Message: "Cannot open backup device '/x/a.bak'. Operating system error 3(The system cannot find the path specified.)."},
		{Number: 3013, Message: "BACKUP DATABASE is terminating abnormally."},
	}}
	if got, want := sqlText(e), "Cannot open backup device '/x/a.bak'. Operating system error 3(The system cannot find the path specified.). (SQL Server error 3201)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := sqlText(mssql.Error{Number: 18456, Message: "login error: Login failed for user 'sa'."}); got != "Login failed for user 'sa'. (SQL Server error 18456)" {
		t.Errorf("got %s", got)
	}
	if got := sqlText(mssql.Error{Number: 5058, Message: "ALTER DATABASE failed."}); got != "ALTER DATABASE failed. (SQL Server error 5058)" {
		t.Errorf("got %s", got)
	}
}

func TestRedact(t *testing.T) {
	s := sql01()
	for _, leak := range []string{testLoginPassword, testMKPassword, "N'Mk-Secret''42-xyz'", "L0gin-p%40ss%27word%21"} {
		err := redact(s, fmt.Errorf("driver said: %s", leak))
		if strings.Contains(err.Error(), "L0gin") || strings.Contains(err.Error(), "Mk-Secret") || !strings.Contains(err.Error(), resources.Redacted) {
			t.Errorf("not redacted: %v", err)
		}
	}
	inner := errors.New("plain")
	if err := redact(s, inner); err != inner {
		t.Error("clean error was rewrapped")
	}
}

func TestParseSets(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sets := []resultSet{
		{cols: []string{"banner", "product_version", "product_level", "product_update_level", "edition", "engine_edition", "is_hadr_enabled", "hadr_manager_status", "machine_name", "server_name", "azure_connect_pack"},
			rows: [][]any{{"Microsoft SQL Server 2016 (SP3) (KB5003279) - 13.0.7000.253 (X64)\n\tEnterprise Edition: Core-based Licensing (64-bit) on Windows Server 2012 R2 Standard 6.3 <X64>",
				"13.0.7000.253", "SP3", nil, "Enterprise Edition: Core-based Licensing (64-bit)", int64(3), int64(1), int64(1), "SQL16", "SQL16", int64(1234567)}}},
		// No DBCC TRACESTATUS set at all (an instance with no flags may send none).
		{cols: []string{"name", "symmetric_key_id", "create_date"}, rows: [][]any{{"##MS_DatabaseMasterKey##", int64(101), when}}},
		{cols: []string{"database_name", "is_copy_only", "last_full_backup"}, rows: [][]any{
			{"sales", false, when}, {"gone", false, when}, {"ro", true, when}, {"sales", true, when.Add(time.Hour)}}},
		{cols: []string{"name", "database_id", "recovery_model_desc", "state_desc", "is_read_only", "last_log_backup_lsn"},
			rows: [][]any{{"master", int64(1), "SIMPLE", "ONLINE", false, nil}, {"sales", int64(5), "FULL", "ONLINE", false, []byte("37000000012800001")}, {"ro", int64(6), "SIMPLE", "ONLINE", true, nil}}},
		{cols: []string{"registry_key", "value_name", "value_data"}, rows: [][]any{
			{`HKLM\...\Parameters`, "SQLArg0", `-dC:\data\master.mdf`}, {`HKLM\...\Parameters`, "SQLArg3", "-T1800"}, {`HKLM\...\HADR`, "HADR_Enabled", int64(1)}}},
	}
	o, err := parseSets(sets)
	if err != nil {
		t.Fatal(err)
	}
	if o.Platform != "windows" || o.UpdateLevel != "" || o.EngineEdition != 3 || !o.HadrRunning || o.HadrManagerStatus != 1 || !o.AzureConnectPack || !o.MasterKey || o.FlagsRunning != nil {
		t.Errorf("observed %+v", o)
	}
	if d := o.Databases["sales"]; !d.LogChain || !d.LastFullBackup.Equal(when) || d.RecoveryModel != "FULL" || d.ID != 5 {
		t.Errorf("sales %+v", d)
	}
	if d := o.Databases["ro"]; !d.ReadOnly || d.LogChain || !d.LastFullBackup.IsZero() || !d.LastCopyOnlyBackup.Equal(when) {
		t.Errorf("ro %+v (a COPY_ONLY backup must not count as a full backup)", d)
	}
	if d := o.Databases["sales"]; !d.LastCopyOnlyBackup.Equal(when.Add(time.Hour)) || !d.LastFullBackup.Equal(when) {
		t.Errorf("sales backups %+v", d)
	}
	if _, ok := o.Databases["gone"]; ok {
		t.Error("a backup row created a database")
	}
	st, err := host.StartupFromRegistry(o.Registry)
	if err != nil || !st.Hadr || !reflect.DeepEqual(st.TraceFlags, []int{1800}) {
		t.Errorf("startup %+v %v", st, err)
	}

	// Trace flags: only global, enabled ones are running.
	sets = append(sets, resultSet{cols: []string{"traceflag", "status", "global", "session"}, rows: [][]any{
		{int64(9567), int64(1), int64(1), int64(0)}, {int64(1800), int64(1), int64(1), int64(0)}, {int64(3604), int64(1), int64(0), int64(1)}}})
	if o, err = parseSets(sets); err != nil || !reflect.DeepEqual(o.FlagsRunning, []int{1800, 9567}) {
		t.Errorf("flags %v, %v", o.FlagsRunning, err)
	}
	if _, err := parseSets(sets[1:]); err == nil {
		t.Error("no error without server properties")
	}
}

// A server error that echoes the secret (real ones do not) is still redacted.
func TestLabSecretsNeverInErrors(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	l.inst.SetStatementHook(func(n int64, stmt string) (bool, *tds.Message) {
		if strings.Contains(stmt, "MASTER KEY") {
			return false, &tds.Message{Number: 15247, Class: 16, State: 1, Text: "Denied: " + stmt}
		}
		return false, nil
	})
	_, err := applyChange(context.Background(), i, s, resources.Change{Address: "master_key.sql01", Kind: KindMasterKey, Target: s.Addr(), Action: resources.Create}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "Mk-Secret") || !strings.Contains(err.Error(), "(SQL Server error 15247)") || !strings.HasPrefix(err.Error(), "master_key.sql01: ") {
		t.Errorf("err = %v", err)
	}
}

// A login bounded by a sooner deadline than connect_timeout (the end of the
// wait after a restart) must name that deadline, not connect_timeout.
func TestLoginTimeout(t *testing.T) {
	bg := context.Background()
	soon, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	later, cancel2 := context.WithTimeout(bg, time.Hour)
	defer cancel2()
	gone, cancel3 := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel3()
	tests := []struct {
		name       string
		ctx        context.Context
		configured time.Duration
		want       time.Duration
		// slack: time passes between making the context and the call
		// (a loaded machine under -race once took 2ms: 298ms, not 300ms).
		slack time.Duration
	}{
		{"no deadline", bg, 5 * time.Second, 5 * time.Second, 0},
		{"default", bg, 0, 15 * time.Second, 0},
		{"sooner deadline", soon, 5 * time.Second, 300 * time.Millisecond, 100 * time.Millisecond},
		{"later deadline", later, 5 * time.Second, 5 * time.Second, 0},
		{"passed deadline", gone, 5 * time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := loginTimeout(tt.ctx, tt.configured); got > tt.want || got < tt.want-tt.slack {
			t.Errorf("%s: loginTimeout = %s, want %s", tt.name, got, tt.want)
		}
	}
}
