package engine

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/milink/milink/lab/tds"
)

func TestErrors(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	cases := []struct {
		sql   string
		nums  []int32
		class uint8
		text  string
	}{
		{"SELECT 'abc", []int32{105, 102}, 15, "Unclosed quotation mark after the character string 'abc'."},
		{"SELECT [abc", []int32{105, 102}, 15, ""},
		{"SELECT * FROM", []int32{102}, 15, "Incorrect syntax near 'FROM'."},
		{"FROBNICATE", []int32{2812}, 16, "Could not find stored procedure 'FROBNICATE'."},
		{"SELECT 1; FROBNICATE", []int32{102}, 15, ""},
		{"SELECT * FROM sys.nothing", []int32{208}, 16, "Invalid object name 'sys.nothing'."},
		{"SELECT nope FROM sys.databases", []int32{207}, 16, "Invalid column name 'nope'."},
		{"EXEC sp_nothing", []int32{2812}, 16, "Could not find stored procedure 'sp_nothing'."},
		{"USE [nowhere]", []int32{911}, 16, "Database 'nowhere' does not exist. Make sure that the name is entered correctly."},
		{"ALTER DATABASE [master] SET RECOVERY FULL", []int32{5058}, 16, "Option 'RECOVERY' cannot be set in database 'master'."},
		{"OPEN MASTER KEY DECRYPTION BY PASSWORD = N'x'", []int32{15581}, 16, ""},
		{"CREATE CERTIFICATE c1 WITH SUBJECT = N'x'", []int32{15581}, 16, "Please create a master key in the database or open the master key in the session before performing this operation."},
		{"BACKUP DATABASE [sales] TO DISK = N'/no/such/dir/x.bak'", []int32{3201, 3013}, 16, "Cannot open backup device '/no/such/dir/x.bak'. Operating system error 3(The system cannot find the path specified.)."},
		{"SELECT @x", []int32{137}, 15, ""},
		{"SELECT 1/0", []int32{8134}, 16, ""},
		{"/* open", []int32{113}, 15, ""},
		{"DBCC CHECKDB", []int32{2526}, 16, ""},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			r := run(t, l.session(t), c.sql)
			got := r.errNumbers()
			if len(got) != len(c.nums) {
				t.Fatalf("errors %v, want %v (%+v)", got, c.nums, r.errs)
			}
			for n := range got {
				if got[n] != c.nums[n] || r.errs[n].Class != c.class {
					t.Errorf("error %d = %d class %d, want %d class %d", n, got[n], r.errs[n].Class, c.nums[n], c.class)
				}
			}
			if c.text != "" && r.errs[0].Text != c.text {
				t.Errorf("text = %q, want %q", r.errs[0].Text, c.text)
			}
		})
	}
}

func TestErrorStopsStatementNotBatch(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	r := run(t, l.session(t), "SELECT * FROM sys.nothing; SELECT 2 AS two")
	if len(r.errs) != 1 || len(r.sets) != 1 || r.col(t, 0, "two")[0] != 2 {
		t.Errorf("errs %v sets %d", r.errNumbers(), len(r.sets))
	}
}

func TestSelectEngine(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	cases := []struct {
		sql  string
		col  string
		want []any
	}{
		{"SELECT name FROM sys.databases WHERE database_id > 4 ORDER BY name DESC", "name", []any{"sales", "payroll", "inventory"}},
		{"SELECT TOP 2 name FROM sys.databases ORDER BY database_id", "name", []any{"master", "tempdb"}},
		{"SELECT TOP (1) d.name AS n FROM sys.databases AS d WHERE d.name LIKE 'p_yr%'", "n", []any{"payroll"}},
		{"SELECT name FROM sys.databases WHERE name IN (N'sales', 'MSDB') ORDER BY 1", "name", []any{"msdb", "sales"}},
		{"SELECT name FROM sys.databases WHERE name NOT IN ('master','tempdb','model','msdb') AND recovery_model_desc <> 'SIMPLE' ORDER BY database_id", "name", []any{"inventory", "payroll"}},
		{"SELECT recovery_model_desc AS m, COUNT(*) AS n FROM sys.databases GROUP BY recovery_model_desc ORDER BY m", "n", []any{3, 4}},
		{"SELECT CASE WHEN 1 = 1 THEN N'yes' ELSE N'no' END AS x", "x", []any{"yes"}},
		{"SELECT 'a' + N'b' + 'c' AS x", "x", []any{"abc"}},
		{"SELECT CAST(42 AS nvarchar(10)) AS x", "x", []any{"42"}},
		{"SELECT CONVERT(int, '7') + 1 AS x", "x", []any{8}},
		{"SELECT CONVERT(varchar(20), 0x0aBc01, 1) AS x", "x", []any{"0x0ABC01"}},
		{"SELECT CONVERT(varchar(20), 0x0aBc01, 2) AS x", "x", []any{"0ABC01"}},
		{"SELECT DB_NAME() AS x", "x", []any{"master"}},
		{"SELECT DB_ID(N'msdb') AS x", "x", []any{4}},
		{"SELECT [we]]ird] = 1", "we]ird", []any{1}},
		{"SELECT \"q\" = N'it''s'", "q", []any{"it's"}},
		{"SELECT 1 AS x WHERE NULL IS NULL AND NOT (1 = 2) OR 1 = 0", "x", []any{1}},
		{"SELECT d.name FROM sys.databases d LEFT JOIN sys.dm_database_encryption_keys k ON k.database_id = d.database_id WHERE k.encryption_state = 3 AND d.database_id > 4", "name", []any{"payroll"}},
		{"SELECT c.name FROM sys.dm_database_encryption_keys k JOIN master.sys.certificates c ON c.thumbprint = k.encryptor_thumbprint WHERE k.database_id = DB_ID(N'payroll')", "name", []any{"TDECert"}},
		{"SELECT MAX(database_id) AS m FROM sys.databases", "m", []any{7}},
		{"SELECT (SELECT COUNT(*) FROM sys.databases d2 WHERE d2.database_id <= d.database_id) AS r FROM sys.databases d WHERE d.name = 'model'", "r", []any{3}},
		{"SELECT OBJECT_ID(N'master.sys.sp_certificate_add_issuer') AS x", "x", []any{-1073624924}}, // 2019 has it
		{"SELECT name FROM master.sys.databases WHERE name = N'sales'", "name", []any{"sales"}},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			r := mustRun(t, s, c.sql)
			got := r.col(t, 0, c.col)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for n := range got {
				if got[n] != c.want[n] {
					t.Errorf("row %d = %#v, want %#v", n, got[n], c.want[n])
				}
			}
		})
	}
}

func TestAzureConnectPack(t *testing.T) {
	for _, c := range []struct {
		profile string
		want    bool
	}{{"2016-sp3-windows", false}, {"2016-azure-connect-windows", true}, {"2019-cu22-linux", true}} {
		l := newLab(t, c.profile, "")
		r := mustRun(t, l.session(t), "SELECT OBJECT_ID(N'master.sys.sp_certificate_add_issuer') AS x")
		if got := r.col(t, 0, "x")[0] != nil; got != c.want {
			t.Errorf("%s: %v", c.profile, got)
		}
	}
}

func TestVariablesAndControlFlow(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := mustRun(t, s, `
DECLARE @a int = 1, @b nvarchar(20)
SET @a = @a + 41
SELECT @b = name FROM sys.databases WHERE database_id = 5
IF @a = 42 AND @b = N'sales'
BEGIN
    PRINT 'ok ' + @b
    SELECT @a AS a
END
ELSE
    PRINT 'bad'
IF NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = 'nope') PRINT N'absent'
`)
	if got := strings.Join(r.infoTexts(), "|"); got != "ok sales|absent" {
		t.Errorf("prints = %q", got)
	}
	if r.col(t, 0, "a")[0] != 42 {
		t.Errorf("a = %v", r.sets[0].rows)
	}
	// SET NOCOUNT controls DONE counts.
	r = mustRun(t, s, "SET NOCOUNT OFF; SELECT name FROM sys.databases; SET NOCOUNT ON; SELECT name FROM sys.databases")
	if len(r.dones) != 2 || r.dones[0] != 7 || r.dones[1] != -1 {
		t.Errorf("dones = %v", r.dones)
	}
	// GO is not T-SQL: the server parses it as a word, as SQL Server does.
	// The whole batch fails to parse, so nothing of it runs.
	for _, tc := range []struct {
		batch string
		want  int32
		text  string
	}{
		{"DECLARE @x int = 1\nGO\nSELECT @x", 102, "Incorrect syntax near 'GO'."},
		{"PRINT 'x'\nGO", 102, "Incorrect syntax near 'GO'."},
		{"DROP ENDPOINT TEST_ENDPOINT\nGO\nDROP CERTIFICATE TEST_CERT\nGO\n", 102, "Incorrect syntax near 'GO'."},
		{"GO", 2812, "Could not find stored procedure 'GO'."}, // a lone name is a procedure call
	} {
		r = run(t, s, tc.batch)
		if len(r.errs) != 1 || r.errs[0].Number != tc.want || r.errs[0].Text != tc.text || len(r.infos) != 0 {
			t.Errorf("%q: errors %+v infos %+v, want only %d %q", tc.batch, r.errs, r.infos, tc.want, tc.text)
		}
	}
	// ... except where the grammar reads it as a column alias.
	r = mustRun(t, s, "SELECT 1\nGO")
	if len(r.sets) != 1 || r.sets[0].cols[0].Name != "GO" {
		t.Errorf("SELECT 1 GO: %d sets", len(r.sets))
	}
	// USE changes the session database.
	mustRun(t, s, "USE [msdb]")
	if s.Database() != "msdb" {
		t.Errorf("db = %s", s.Database())
	}
	r = mustRun(t, s, "SELECT COUNT(*) AS n FROM dbo.backupset")
	if r.col(t, 0, "n")[0] != 1 {
		t.Errorf("backupset = %v", r.sets[0].rows)
	}
}

func TestRPC(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := &recorder{}
	s.RPC(context.Background(), "sp_executesql", []tds.Param{
		{Value: "SELECT name FROM sys.databases WHERE database_id = @p1 AND name LIKE @p2"},
		{Value: "@p1 int, @p2 nvarchar(10)"},
		{Name: "@p1", Value: int64(6)},
		{Name: "@p2", Value: "inv%"},
	}, r)
	if len(r.errs) > 0 || r.col(t, 0, "name")[0] != "inventory" {
		t.Errorf("sp_executesql: %+v %+v", r.errs, r.sets)
	}
	if len(r.status) != 1 || r.status[0] != 0 {
		t.Errorf("status = %v", r.status)
	}
	r = &recorder{}
	s.RPC(context.Background(), "sp_nothing", nil, r)
	if got := r.errNumbers(); len(got) != 1 || got[0] != 2812 {
		t.Errorf("unknown proc: %v", got)
	}
	// Statements of an sp_executesql are logged as the client's.
	log := l.inst.StatementLog()
	if !strings.HasPrefix(log[0].Text, "SELECT name FROM sys.databases WHERE database_id = @p1") {
		t.Errorf("log = %+v", log)
	}
}

func TestTraceFlagsSessionGlobalRestart(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s1, s2 := l.session(t), l.session(t)
	mustRun(t, s1, "DBCC TRACEON(3604)")
	mustRun(t, s1, "DBCC TRACEON(1800, -1)")
	r := mustRun(t, s1, "DBCC TRACESTATUS")
	if f := r.col(t, 0, "TraceFlag"); len(f) != 2 {
		t.Errorf("s1 flags = %v", f)
	}
	r = mustRun(t, s2, "DBCC TRACESTATUS(-1)")
	if f := r.col(t, 0, "TraceFlag"); len(f) != 1 || f[0] != 1800 {
		t.Errorf("s2 flags = %v", f)
	}
	l.inst.Stop()
	if err := l.inst.Start(Startup{TraceFlags: []int{9567}}); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, l.session(t), "DBCC TRACESTATUS(-1)")
	if f := r.col(t, 0, "TraceFlag"); len(f) != 1 || f[0] != 9567 {
		t.Errorf("after restart flags = %v", f)
	}
}

func TestPersistenceAndCounters(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	mustRun(t, s, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Sup3r$ecret!'")
	mustRun(t, s, "ALTER DATABASE [inventory] SET RECOVERY BULK_LOGGED")
	mustRun(t, s, "SELECT 1")
	c := l.inst.Counters()
	if c.Logins != 1 || c.RoundTrips != 3 || c.Statements != 3 || c.Changes != 2 {
		t.Errorf("counters = %+v", c)
	}
	raw, err := os.ReadFile(filepath.Join(l.dir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Sup3r$ecret!") {
		t.Error("catalog.json holds the password")
	}
	if !json.Valid(raw) {
		t.Error("catalog.json is not JSON")
	}
	l.inst.Stop()
	again, err := Open(l.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(Startup{}); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	s2, msg := again.Handler().Login(context.Background(), tds.LoginRequest{User: "sa", Password: "Lab-Passw0rd!"})
	if msg != nil {
		t.Fatal(msg)
	}
	r := mustRun(t, s2.(*Session), "SELECT recovery_model_desc FROM sys.databases WHERE name = 'inventory'; SELECT COUNT(*) AS n FROM sys.symmetric_keys")
	if r.col(t, 0, "recovery_model_desc")[0] != "BULK_LOGGED" || r.col(t, 1, "n")[0] != 1 {
		t.Errorf("after reopen: %v %v", r.sets[0].rows, r.sets[1].rows)
	}
	r = run(t, s2.(*Session), "OPEN MASTER KEY DECRYPTION BY PASSWORD = N'wrong'")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15313 {
		t.Errorf("wrong password: %v", got)
	}
	mustRun(t, s2.(*Session), "OPEN MASTER KEY DECRYPTION BY PASSWORD = N'Sup3r$ecret!'; CLOSE MASTER KEY")
	if c := again.Counters(); c.Logins != 2 {
		t.Errorf("counters after reopen = %+v", c)
	}
}

func TestLogin(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	_, msg := l.inst.Handler().Login(context.Background(), tds.LoginRequest{User: "sa", Password: "nope"})
	if msg == nil || msg.Number != 18456 || msg.Class != 14 || msg.Text != "Login failed for user 'sa'." {
		t.Errorf("msg = %+v", msg)
	}
	s, msg := l.inst.Handler().Login(context.Background(), tds.LoginRequest{User: "sa", Password: "Lab-Passw0rd!", Database: "msdb"})
	if msg != nil || s.Database() != "msdb" {
		t.Errorf("login to msdb: %v %+v", s, msg)
	}
}

func TestStatementHook(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	var seen []string
	l.inst.SetStatementHook(func(n int64, st string) (bool, *tds.Message) {
		seen = append(seen, st)
		if n == 2 {
			return false, &tds.Message{Number: 50001, Class: 16, Text: "injected"}
		}
		if n == 4 {
			return true, nil
		}
		return false, nil
	})
	s := l.session(t)
	r := run(t, s, "SELECT 1 AS a; SELECT 2 AS b; SELECT 3 AS c")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 50001 || len(r.sets) != 2 {
		t.Errorf("fail injection: %v, %d sets", got, len(r.sets))
	}
	r = run(t, s, "SELECT 4; SELECT 5")
	if !r.aborted || len(r.sets) != 0 {
		t.Errorf("drop: aborted=%v sets=%d", r.aborted, len(r.sets))
	}
	if len(seen) != 4 || seen[1] != "SELECT 2 AS b" {
		t.Errorf("seen = %q", seen)
	}
}

func TestBackupSemantics(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	if err := os.MkdirAll(filepath.Join(l.root, "var", "opt", "mssql", "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	// COPY_ONLY does not start a chain.
	mustRun(t, s, "BACKUP DATABASE [inventory] TO DISK = N'/var/opt/mssql/backup/i1.bak' WITH COPY_ONLY, INIT")
	r := mustRun(t, s, "SELECT last_log_backup_lsn FROM sys.database_recovery_status WHERE database_id = DB_ID('inventory')")
	if v := r.col(t, 0, "last_log_backup_lsn")[0]; v != nil {
		t.Errorf("after copy-only: %v", v)
	}
	r = run(t, s, "BACKUP LOG [inventory] TO DISK = N'/var/opt/mssql/backup/i.trn'")
	if got := r.errNumbers(); len(got) != 2 || got[0] != 4214 || got[1] != 3013 {
		t.Errorf("log backup without chain: %v", got)
	}
	r = mustRun(t, s, "BACKUP DATABASE [inventory] TO DISK = N'/var/opt/mssql/backup/i2.bak' WITH CHECKSUM, FORMAT")
	if len(r.infos) != 3 || r.infos[2].Number != 3014 || !strings.HasPrefix(r.infos[2].Text, "BACKUP DATABASE successfully processed") {
		t.Errorf("infos = %v", r.infoTexts())
	}
	if _, err := os.Stat(filepath.Join(l.root, "var", "opt", "mssql", "backup", "i2.bak")); err != nil {
		t.Errorf("backup file: %v", err)
	}
	r = mustRun(t, s, "SELECT rs.last_log_backup_lsn FROM sys.database_recovery_status rs WHERE rs.database_id = DB_ID(N'inventory')")
	if v := r.col(t, 0, "last_log_backup_lsn")[0]; v == nil {
		t.Error("no chain after full backup")
	}
	r = mustRun(t, s, "SELECT b.is_copy_only, m.physical_device_name FROM msdb.dbo.backupset b JOIN msdb.dbo.backupmediafamily m ON m.media_set_id = b.media_set_id WHERE b.database_name = N'inventory' ORDER BY b.backup_set_id")
	if dev := r.col(t, 0, "physical_device_name"); len(dev) != 3 || dev[2] != "/var/opt/mssql/backup/i2.bak" {
		t.Errorf("devices = %v", dev)
	}
	// SIMPLE breaks the chain.
	mustRun(t, s, "ALTER DATABASE [inventory] SET RECOVERY SIMPLE; ALTER DATABASE [inventory] SET RECOVERY FULL")
	r = mustRun(t, s, "SELECT last_log_backup_lsn FROM sys.database_recovery_status WHERE database_id = DB_ID('inventory')")
	if v := r.col(t, 0, "last_log_backup_lsn")[0]; v != nil {
		t.Errorf("after SIMPLE: %v", v)
	}
	// Windows paths map below FSRoot.
	lw := newLab(t, "2019-cu20-windows", "sql01")
	if err := os.MkdirAll(filepath.Join(lw.root, "C", "Backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, lw.session(t), `BACKUP DATABASE [sales] TO DISK = N'C:\Backup\sales.bak' WITH STATS = 50`)
	if _, err := os.Stat(filepath.Join(lw.root, "C", "Backup", "sales.bak")); err != nil {
		t.Errorf("windows backup file: %v", err)
	}
}

func TestTDECertificateExport(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := mustRun(t, s, `SELECT c.name, c.certificate_id, c.pvt_key_encryption_type_desc, CERTENCODED(c.certificate_id) AS der,
		CERTPRIVATEKEY(c.certificate_id, N'Exp0rt!Passw0rd', N'`+SeedTDECertPassword+`') AS pvk,
		CERTPRIVATEKEY(c.certificate_id, N'Exp0rt!Passw0rd', N'wrong') AS bad
		FROM sys.dm_database_encryption_keys k JOIN sys.certificates c ON c.thumbprint = k.encryptor_thumbprint
		WHERE k.database_id = DB_ID(N'payroll')`)
	if r.col(t, 0, "pvt_key_encryption_type_desc")[0] != "ENCRYPTED_BY_PASSWORD" {
		t.Errorf("enc = %v", r.sets[0].rows)
	}
	der, _ := r.col(t, 0, "der")[0].([]byte)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("CERTENCODED: %v", err)
	}
	pvk, _ := r.col(t, 0, "pvk")[0].([]byte)
	key, err := DecodePVK(pvk, "Exp0rt!Passw0rd")
	if err != nil {
		t.Fatalf("CERTPRIVATEKEY: %v", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("private key does not match the certificate")
	}
	if _, err := DecodePVK(pvk, "other"); err == nil {
		t.Error("PVK decrypted with the wrong password")
	}
	if r.col(t, 0, "bad")[0] != nil {
		t.Error("CERTPRIVATEKEY with a wrong decryption password is not NULL")
	}
	if err := os.MkdirAll(filepath.Join(l.root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, "BACKUP CERTIFICATE TDECert TO FILE = N'/tmp/tde.cer' WITH PRIVATE KEY (FILE = N'/tmp/tde.pvk', ENCRYPTION BY PASSWORD = N'Exp0rt!Passw0rd', DECRYPTION BY PASSWORD = N'"+SeedTDECertPassword+"')")
	for _, f := range []string{"tde.cer", "tde.pvk"} {
		if _, err := os.Stat(filepath.Join(l.root, "tmp", f)); err != nil {
			t.Error(err)
		}
	}
	r = mustRun(t, s, "SELECT pvt_key_last_backup_date FROM sys.certificates WHERE name = 'TDECert'")
	if r.col(t, 0, "pvt_key_last_backup_date")[0] == nil {
		t.Error("pvt_key_last_backup_date not set")
	}
	r = run(t, s, "DROP CERTIFICATE TDECert")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 3716 {
		t.Errorf("drop TDE cert: %v", got)
	}
}

func TestEndpointPortBusyAndRestart(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s := l.session(t)
	mustRun(t, s, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Sup3r$ecret!'; CREATE CERTIFICATE c1 WITH SUBJECT = N'c1'")
	l.host.busy[5022] = true
	r := run(t, s, "CREATE ENDPOINT ep STATE = STARTED AS TCP (LISTENER_PORT = 5022) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE c1)")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 9692 || !strings.Contains(r.errs[0].Text, "port 5022") {
		t.Errorf("busy: %+v", r.errs)
	}
	delete(l.host.busy, 5022)
	mustRun(t, s, "CREATE ENDPOINT ep STATE = STOPPED AS TCP (LISTENER_PORT = 5022) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE c1)")
	if l.host.isOpen(5022) {
		t.Error("stopped endpoint listens")
	}
	mustRun(t, s, "ALTER ENDPOINT ep STATE = STARTED")
	if !l.host.isOpen(5022) {
		t.Error("started endpoint does not listen")
	}
	l.inst.Stop()
	if l.host.isOpen(5022) {
		t.Error("listener survives Stop")
	}
	if err := l.inst.Start(Startup{}); err != nil {
		t.Fatal(err)
	}
	if !l.host.isOpen(5022) {
		t.Error("listener not reopened by Start")
	}
}

func TestProfiles(t *testing.T) {
	ps := Profiles()
	want := []string{"2016-azure-connect-windows", "2016-sp3-windows", "2019-cu15-linux", "2019-cu20-windows", "2019-cu22-linux", "2019-cu22-linux-fci", "2022-cu13-windows", "2022-cu13-windows11", "2022-rtm-linux", "managed-instance"}
	if len(ps) != len(want) {
		t.Fatalf("profiles = %d", len(ps))
	}
	for n, p := range ps {
		if p.Name != want[n] {
			t.Errorf("profile %d = %s, want %s", n, p.Name, want[n])
		}
	}
	if p, _ := LookupProfile("managed-instance"); p.Kind != "managed_instance" || p.EngineEdition != 8 {
		t.Errorf("mi = %+v", p)
	}
	l := newLab(t, "2022-rtm-linux", "")
	r := mustRun(t, l.session(t), "SELECT SERVERPROPERTY('ProductUpdateLevel') AS u, SERVERPROPERTY('ProductVersion') AS v")
	if r.col(t, 0, "u")[0] != nil || r.col(t, 0, "v")[0] != "16.0.1000.6" {
		t.Errorf("2022 rtm: %v", r.sets[0].rows)
	}
}

func TestRegistry(t *testing.T) {
	l := newLab(t, "2019-cu20-windows", "")
	key := `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	l.inst.Stop()
	if err := l.inst.Start(Startup{Registry: []RegistryValue{{key, "SQLArg0", "-dC:\\data\\master.mdf"}, {key, "SQLArg3", "-T1800"}, {key, "DefaultData", "C:\\data"}}}); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, l.session(t), refreshSQL(t))
	if v := r.col(t, 9, "value_data"); len(v) != 2 || v[1] != "-T1800" {
		t.Errorf("registry = %v", v)
	}
}

func TestCompatibilityLevelPerProfile(t *testing.T) {
	want := map[string]int64{"2016-sp3-windows": 130, "2016-azure-connect-windows": 130, "2019-cu15-linux": 150,
		"2019-cu20-windows": 150, "2019-cu22-linux": 150, "2019-cu22-linux-fci": 150, "2022-rtm-linux": 160, "2022-cu13-windows": 160, "2022-cu13-windows11": 160, "managed-instance": 160}
	for _, p := range Profiles() {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("profile %s has no expected compatibility level here", p.Name)
			continue
		}
		if got := p.compatibilityLevel(); got != w {
			t.Errorf("%s: compatibility level %d, want %d", p.Name, got, w)
		}
	}
}

func TestTraceStatusWithNoFlagEnabled(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s := l.session(t)
	for _, q := range []string{"DBCC TRACESTATUS", "DBCC TRACESTATUS(-1)", "DBCC TRACESTATUS()"} {
		r := mustRun(t, s, q)
		if len(r.sets) != 0 {
			t.Errorf("%s with no flag enabled: %d result sets, want none", q, len(r.sets))
		}
		if len(r.infos) != 1 || r.infos[0].Number != 2528 {
			t.Errorf("%s: messages %v, want only 2528", q, r.infoTexts())
		}
	}
	// Asking for a given flag answers for it even when it is off.
	r := mustRun(t, s, "DBCC TRACESTATUS(1800)")
	if len(r.sets) != 1 || len(r.sets[0].rows) != 1 || r.col(t, 0, "TraceFlag")[0] != 1800 || r.col(t, 0, "Status")[0] != 0 {
		t.Errorf("TRACESTATUS(1800) = %+v", r.sets)
	}
}

// TestAlterMasterKeyProtectors: ADD and DROP ENCRYPTION BY, with a password
// or the service master key, change the master key's protectors as SQL
// Server does, and refuse what SQL Server refuses. One session, in order.
func TestAlterMasterKeyProtectors(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	steps := []struct {
		sql  string
		errs []int32
	}{
		{"ALTER MASTER KEY ADD ENCRYPTION BY PASSWORD = N'Sec0nd!Passw0rd'", []int32{15151}},
		{"CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'F1rst!Passw0rd'", nil},
		{"ALTER MASTER KEY ADD ENCRYPTION BY PASSWORD = N'weak'", []int32{15118}},
		{"ALTER MASTER KEY ADD ENCRYPTION BY PASSWORD = N'Sec0nd!Passw0rd'", nil},
		{"OPEN MASTER KEY DECRYPTION BY PASSWORD = N'Sec0nd!Passw0rd'; CLOSE MASTER KEY", nil},
		{"ALTER MASTER KEY DROP ENCRYPTION BY PASSWORD = N'N0t!The-Passw0rd'", []int32{15313}},
		{"ALTER MASTER KEY DROP ENCRYPTION BY SERVICE MASTER KEY", nil},
		{"SELECT is_master_key_encrypted_by_server FROM sys.databases WHERE name = N'master'", nil},
		{"ALTER MASTER KEY DROP ENCRYPTION BY PASSWORD = N'F1rst!Passw0rd'", nil},
		{"OPEN MASTER KEY DECRYPTION BY PASSWORD = N'F1rst!Passw0rd'", []int32{15313}},
		// The last protector stays.
		{"ALTER MASTER KEY DROP ENCRYPTION BY PASSWORD = N'Sec0nd!Passw0rd'", []int32{15593}},
		{"ALTER MASTER KEY ADD ENCRYPTION BY SERVICE MASTER KEY", nil},
		{"ALTER MASTER KEY DROP ENCRYPTION BY PASSWORD = N'Sec0nd!Passw0rd'", nil},
		// Syntax: each form needs its whole protector.
		{"ALTER MASTER KEY ADD ENCRYPTION", []int32{102}},
		{"ALTER MASTER KEY DROP ENCRYPTION BY SERVICE KEY", []int32{102}},
		{"ALTER MASTER KEY DROP BY PASSWORD = N'Sec0nd!Passw0rd'", []int32{102}},
		{"ALTER MASTER KEY ADD ENCRYPTION BY PASSWORD", []int32{102}},
		{"ALTER MASTER KEY FORCE ADD ENCRYPTION BY SERVICE MASTER KEY", []int32{102}},
	}
	for n, st := range steps {
		r := run(t, s, st.sql)
		got := r.errNumbers()
		if fmt.Sprint(got) != fmt.Sprint(st.errs) {
			t.Errorf("step %d %q: errors %v, want %v (%+v)", n, st.sql, got, st.errs, r.errs)
		}
		if strings.HasPrefix(st.sql, "SELECT is_master_key") {
			if v := r.col(t, 0, "is_master_key_encrypted_by_server"); len(v) != 1 || v[0] != false {
				t.Errorf("step %d: encrypted by server = %v after DROP ENCRYPTION BY SERVICE MASTER KEY", n, v)
			}
		}
	}
}
