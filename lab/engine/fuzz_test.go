package engine

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func fuzzLab(f *testing.F) (*Instance, func() *Session) {
	p, _ := LookupProfile(DefaultProfile)
	inst, err := Open(Options{Name: "fz", Profile: p, DataDir: f.TempDir(), FSRoot: f.TempDir(), Host: newFakeHost(), Login: "sa", Password: "x", Seed: "sql01"})
	if err != nil {
		f.Fatal(err)
	}
	if err := inst.Start(Startup{}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(inst.Stop)
	return inst, inst.NewSession
}

// FuzzBatch feeds arbitrary text: the engine must never panic (a recovered
// panic still counts as a failure here), must return, and every error must
// look like SQL Server's.
func FuzzBatch(f *testing.F) {
	seeds := []string{
		"SELECT 1", refreshSeed, "SELECT 'abc", "SELECT [a]]b] FROM sys.databases", procedureSQL(f, "hadr-check.sql"), procedureSQL(f, "validation.sql"),
		"DECLARE @x int = 1; IF @x = 1 BEGIN PRINT 'x' END ELSE SELECT 2", "EXEC msdb.dbo.sp_add_job @job_name = N'j'",
		"SELECT * FROM sys.databases d LEFT JOIN sys.database_recovery_status r ON r.database_id = d.database_id ORDER BY 1",
		"SELECT CASE WHEN 1=1 THEN 'a' END, CAST(1 AS bit), CONVERT(nvarchar(5), 12345678)",
		"/* c */ -- x\nSELECT N'it''s' AS \"q\"\nGO\nSELECT 2", "BACKUP DATABASE sales TO DISK = N'x.bak' WITH STATS = 50",
		"SELECT name FROM sys.databases GROUP BY name HAVING COUNT(*) > 0", "SELECT TOP (1) * FROM msdb.dbo.backupset",
		"SET XACT_ABORT ON; BEGIN TRAN t; SAVE TRAN s; CREATE CERTIFICATE c WITH SUBJECT = 'c'; SELECT 1/0; ROLLBACK",
		"SET IMPLICIT_TRANSACTIONS ON\nSELECT name FROM sys.databases\nCOMMIT\nCOMMIT",
		"DECLARE @d decimal(10,3) = 12.3456; SELECT @d * 2, CAST(@d AS money), CONVERT(varbinary(4), '0x1A2B', 1), CONVERT(varchar(9), 0x1A, 2), SYSDATETIMEOFFSET()",
		"DECLARE @h int; EXEC sp_prepare @h OUTPUT, N'@x int', N'SELECT @x'; EXEC sp_execute @h, 1; EXEC sp_unprepare @h",
		// The DBA statements (dba.go).
		"CREATE DATABASE [a]] b] COLLATE Latin1_General_CI_AS; ALTER DATABASE [a]] b] SET SINGLE_USER WITH ROLLBACK AFTER 5 SECONDS",
		"ALTER DATABASE sales ADD LOG FILE (NAME = l2, FILENAME = N'/x/l2.ldf', SIZE = 8MB, FILEGROWTH = 10%)",
		"ALTER DATABASE sales ADD FILEGROUP fx CONTAINS MEMORY_OPTIMIZED_DATA; ALTER DATABASE sales REMOVE FILEGROUP fx",
		"CREATE LOGIN [r] WITH PASSWORD = N'p', CHECK_POLICY = OFF; ALTER SERVER ROLE sysadmin ADD MEMBER [r]; DROP LOGIN [r]",
		"CREATE AVAILABILITY GROUP ag WITH (CLUSTER_TYPE = NONE) FOR DATABASE sales REPLICA ON N'n' WITH (ENDPOINT_URL = N'TCP://n:5022')",
		"ALTER AVAILABILITY GROUP ag JOIN; ALTER DATABASE sales SET HADR AVAILABILITY GROUP = ag; DROP DATABASE IF EXISTS sales, inventory",
		// The link's statements (hadr.go).
		"USE [master]; CREATE CERTIFICATE [127.0.0.3] FROM BINARY = 0x3082; DECLARE @CERTID int = CERT_ID(N'x'); EXEC sp_certificate_add_issuer @CERTID, N'*.database.windows.net'",
		agSeed, dagSeed,
		"ALTER AVAILABILITY GROUP [d] MODIFY AVAILABILITY GROUP ON N'a' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT), N'b' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT); ALTER AVAILABILITY GROUP [a] GRANT CREATE ANY DATABASE",
		"ALTER ENDPOINT [e] STATE = STARTED AS TCP (LISTENER_PORT = 5022) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE [c], ENCRYPTION = REQUIRED ALGORITHM AES)",
		"USE sales; CREATE TABLE dbo.t (id int); INSERT INTO sales.dbo.t VALUES (1); UPDATE t SET id = CASE WHEN id = 1 THEN 2 END; DELETE FROM t; TRUNCATE TABLE t; BEGIN INSERT t VALUES ((1)) END",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	inst, newSession := fuzzLab(f)
	f.Fuzz(func(t *testing.T, sql string) { checkBatch(t, inst, newSession(), sql) })
}

// FuzzLinkBatch runs the link's statements on an instance with HADR on,
// so that availability groups, endpoints and certificates are created and
// altered, not refused with 35221.
func FuzzLinkBatch(f *testing.F) {
	for _, s := range []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Fuzz-Passw0rd!'; CREATE CERTIFICATE [c] WITH SUBJECT = N's', EXPIRY_DATE = '20991231'; CREATE ENDPOINT [e] STATE = STARTED AS TCP (LISTENER_PORT = 5022, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE [c], ENCRYPTION = REQUIRED ALGORITHM AES)",
		"ALTER DATABASE [inventory] SET RECOVERY FULL; BACKUP DATABASE [inventory] TO DISK = N'i.bak'; " + strings.ReplaceAll(agSeed, "[sales]", "[inventory]") + "; " + dagSeed,
		"ALTER AVAILABILITY GROUP [d] MODIFY AVAILABILITY GROUP ON N'ag' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT), N'mi' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT); DROP AVAILABILITY GROUP [d]; DROP AVAILABILITY GROUP [ag]",
		"SELECT * FROM sys.dm_hadr_database_replica_states; SELECT * FROM sys.availability_replicas; SELECT * FROM sys.dm_hadr_availability_replica_states; SELECT * FROM sys.dm_hadr_automatic_seeding; SELECT * FROM sys.dm_hadr_physical_seeding_stats",
		"USE [inventory]; INSERT INTO dbo.t VALUES (1); BACKUP LOG [inventory] TO DISK = N'i.trn'",
	} {
		f.Add(s)
	}
	p, _ := LookupProfile(DefaultProfile)
	inst, err := Open(Options{Name: "fz", Profile: p, DataDir: f.TempDir(), FSRoot: f.TempDir(), Host: newFakeHost(), Login: "sa", Password: "x", Seed: "sql01", Scratch: true})
	if err != nil {
		f.Fatal(err)
	}
	if err := inst.Start(Startup{Hadr: true}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(inst.Stop)
	f.Fuzz(func(t *testing.T, sql string) { checkBatch(t, inst, inst.NewSession(), sql) })
}

// checkBatch runs sql: the engine must not panic, must return, and every
// error must look like SQL Server's.
func checkBatch(t *testing.T, inst *Instance, s *Session, sql string) {
	t.Helper()
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Batch(context.Background(), sql, r)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("batch hangs: %q", sql)
	}
	if n := inst.panics.Load(); n != 0 {
		t.Fatalf("engine panicked (%d) on %q", n, sql)
	}
	for _, e := range r.errs {
		if e.Number <= 0 || e.Class < 11 || e.Class > 16 || e.Text == "" || e.Server != "fz" {
			t.Errorf("error not SQL Server-shaped: %+v", e)
		}
	}
	for _, m := range r.infos {
		if m.Class > 10 {
			t.Errorf("info with error class: %+v", m)
		}
	}
}

var refreshSeed = `SET NOCOUNT ON;
SELECT @@VERSION AS banner, SERVERPROPERTY('ProductVersion') AS product_version, OBJECT_ID(N'master.sys.sp_certificate_add_issuer') AS x;
DBCC TRACESTATUS(-1) WITH NO_INFOMSGS;
SELECT database_name, MAX(backup_finish_date) AS last_full_backup FROM msdb.dbo.backupset WHERE type = 'D' AND is_copy_only = 0 GROUP BY database_name;`

// FuzzQuoting checks that QuoteIdent/QuoteString (and "..." identifiers)
// round-trip any text through the lexer and the engine.
func FuzzQuoting(f *testing.F) {
	for _, s := range []string{"a", "it's", "a]b", `x"y`, "[[", "]]", "--", "/*", "N'", "é ü", "'"} {
		f.Add(s)
	}
	_, newSession := fuzzLab(f)
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || !utf8.ValidString(s) || strings.ContainsRune(s, 0) || len([]rune(s)) > 128 {
			t.Skip()
		}
		for _, ln := range strings.Split(s, "\n") {
			if strings.EqualFold(strings.TrimSpace(ln), "go") {
				t.Skip() // a GO line splits a script, as in sqlcmd
			}
		}
		dq := `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		sql := "SELECT " + QuoteString(s) + " AS " + QuoteIdent(s) + ", '" + strings.ReplaceAll(s, "'", "''") + "' AS " + dq
		r := &recorder{}
		newSession().Batch(context.Background(), sql, r)
		if len(r.errs) > 0 || len(r.sets) != 1 {
			t.Fatalf("%q: errors %+v", sql, r.errs)
		}
		set := r.sets[0]
		if set.cols[0].Name != s || set.cols[1].Name != s || set.rows[0][0] != s || set.rows[0][1] != s {
			t.Fatalf("round trip of %q: cols %q %q values %q %q", s, set.cols[0].Name, set.cols[1].Name, set.rows[0][0], set.rows[0][1])
		}
	})
}

const (
	agSeed  = "CREATE AVAILABILITY GROUP [ag] WITH (CLUSTER_TYPE = NONE) FOR DATABASE [sales] REPLICA ON N'sql01' WITH (ENDPOINT_URL = N'TCP://h:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SECONDARY_ROLE (ALLOW_CONNECTIONS = ALL))"
	dagSeed = "CREATE AVAILABILITY GROUP [d] WITH (DISTRIBUTED) AVAILABILITY GROUP ON N'ag' WITH (LISTENER_URL = N'TCP://h:5022', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SESSION_TIMEOUT = 20), N'mi' WITH (LISTENER_URL = N'tcp://m:5022;Server=[mi01]', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT)"
)
