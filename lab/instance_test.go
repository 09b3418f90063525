package lab_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/lab"
)

func TestMSSQLConfTakesEffectOnlyAtRestart(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{})
	sql01, _ := l.Server(lab.SQLServerName)
	db := open(t, l, lab.SQLServerName)

	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "0" {
		t.Fatalf("IsHadrEnabled at first start = %s, want 0", got)
	}
	if got := globalTraceFlags(t, db); len(got) != 0 {
		t.Fatalf("startup trace flags at first start = %v, want none", got)
	}
	conf := sql01.MSSQLConf()
	if data, err := os.ReadFile(conf); err != nil || !strings.HasPrefix(string(data), "#") {
		t.Fatalf("new mssql.conf = %q, %v; want a comment header", data, err)
	}
	if err := os.WriteFile(conf, []byte("[hadr]\nhadrenabled = 1\n\n[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 9567\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without a restart nothing changes, even on a new connection.
	db.SetMaxIdleConns(0)
	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "0" {
		t.Fatalf("IsHadrEnabled changed without a restart: %s", got)
	}
	if got := globalTraceFlags(t, db); len(got) != 0 {
		t.Fatalf("trace flags changed without a restart: %v", got)
	}
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "1" {
		t.Fatalf("IsHadrEnabled after restart = %s, want 1", got)
	}
	if got := globalTraceFlags(t, db); !reflect.DeepEqual(got, []int{1800, 9567}) {
		t.Fatalf("trace flags after restart = %v, want [1800 9567]", got)
	}
	// Unsetting goes the same way.
	if err := os.WriteFile(conf, []byte("[hadr]\nhadrenabled = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "0" {
		t.Fatalf("IsHadrEnabled after unsetting and restart = %s, want 0", got)
	}
	if st := sql01.Status(); st.Restarts != 2 {
		t.Fatalf("restarts = %d, want 2", st.Restarts)
	}
}

func TestBadMSSQLConfFailsTheRestart(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{})
	sql01, _ := l.Server(lab.SQLServerName)
	os.WriteFile(sql01.MSSQLConf(), []byte("[hadr]\nhadrenabled = true\n"), 0o644)
	err := sql01.Restart(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "hadrenabled") {
		t.Fatalf("restart with a bad mssql.conf: %v, want an error naming the setting", err)
	}
	if state, _ := sql01.State(); state != lab.StateFailed {
		t.Fatalf("state = %s, want failed", state)
	}
	os.WriteFile(sql01.MSSQLConf(), []byte("[hadr]\nhadrenabled = 1\n"), 0o644)
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatalf("restart after fixing mssql.conf: %v", err)
	}
	if got := scalar(t, open(t, l, lab.SQLServerName), "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "1" {
		t.Fatalf("IsHadrEnabled = %s, want 1", got)
	}
}

func TestWindowsProfileReadsTheRegistry(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{Profile: "2019-cu20-windows"})
	sql01, _ := l.Server(lab.SQLServerName)
	info, _ := l.File().Server(lab.SQLServerName)
	if info.MSSQLConf != "" || info.RegistryFile == "" {
		t.Fatalf("lab.json: mssql_conf %q registry_file %q; want only a registry", info.MSSQLConf, info.RegistryFile)
	}
	if !strings.HasPrefix(info.BackupDirectory, `C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Backup`) {
		t.Fatalf("backup_directory = %q", info.BackupDirectory)
	}
	db := open(t, l, lab.SQLServerName)
	const params = `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	if got := scalar(t, db, `SELECT value_data FROM sys.dm_server_registry WHERE value_name = N'SQLArg0'`); !strings.HasPrefix(got, `-dC:\`) {
		t.Fatalf("SQLArg0 = %q", got)
	}
	data, err := os.ReadFile(info.RegistryFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), `"data": "0"`, `"data": "1"`, 1) // HADR_Enabled
	edited = strings.Replace(edited, `"values": [`, `"values": [
    {"key": "`+strings.ReplaceAll(params, `\`, `\\`)+`", "name": "SQLArg3", "type": "REG_SZ", "data": "-T1800"},`, 1)
	if err := os.WriteFile(info.RegistryFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0) // connections die with the restart
	if got := globalTraceFlags(t, db); len(got) != 0 {
		t.Fatalf("registry change applied without a restart: %v", got)
	}
	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "0" {
		t.Fatalf("IsHadrEnabled before the restart = %s, want 0", got)
	}
	// sys.dm_server_registry reads the registry when queried: the new
	// values show before the restart (configured, not yet running).
	if got := scalar(t, db, `SELECT value_data FROM sys.dm_server_registry WHERE value_name = N'SQLArg3'`); got != "-T1800" {
		t.Fatalf("sys.dm_server_registry SQLArg3 before the restart = %q, want -T1800", got)
	}
	if got := scalar(t, db, `SELECT value_data FROM sys.dm_server_registry WHERE value_name = N'HADR_Enabled'`); got != "1" {
		t.Fatalf("sys.dm_server_registry HADR_Enabled before the restart = %q, want 1", got)
	}
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := scalar(t, db, "SELECT SERVERPROPERTY('IsHadrEnabled')"); got != "1" {
		t.Fatalf("IsHadrEnabled after restart = %s, want 1", got)
	}
	if got := globalTraceFlags(t, db); !reflect.DeepEqual(got, []int{1800}) {
		t.Fatalf("trace flags after restart = %v, want [1800]", got)
	}
	if got := scalar(t, db, `SELECT value_data FROM sys.dm_server_registry WHERE registry_key = N'`+params+`' AND value_name = N'SQLArg3'`); got != "-T1800" {
		t.Fatalf("sys.dm_server_registry SQLArg3 = %q, want -T1800", got)
	}
}

func TestRestartDropsConnectionsAndRefusesLogins(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{RestartDelay: 700 * time.Millisecond})
	sql01, _ := l.Server(lab.SQLServerName)
	db := open(t, l, lab.SQLServerName)
	conn, err := db.Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(ctx(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sql01.Restart(ctx(t)) }()
	eventually(t, 5*time.Second, "the restart to begin", func() bool {
		s, _ := sql01.State()
		return s == lab.StateRestarting
	})
	if dials(sql01.Address(), sql01.Port()) {
		t.Fatal("a TCP connection succeeded while the server was restarting")
	}
	var one int
	if err := conn.QueryRowContext(ctx(t), "SELECT 1").Scan(&one); err == nil {
		t.Fatal("a connection from before the restart still works")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := scalar(t, db, "SELECT 1"); got != "1" {
		t.Fatalf("after restart SELECT 1 = %s", got)
	}
	if n := sql01.Status().Restarts; n != 1 {
		t.Fatalf("restarts = %d, want 1", n)
	}
}

func TestEndpointAndNetHelperJob(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{})
	sql01, _ := l.Server(lab.SQLServerName)
	sqlDB := open(t, l, lab.SQLServerName)
	miDB := open(t, l, lab.ManagedInstanceName)

	if dials(sql01.Address(), 5022) {
		t.Fatal("port 5022 accepts connections before any endpoint exists")
	}
	mustExec(t, sqlDB, procedureSQL(t, "master-key.sql", "<strong_password>", "Str0ng!Passw0rd-for-tests"))
	// The procedure's test certificate and endpoint, verbatim, one batch at
	// a time as sqlcmd would send them.
	for _, batch := range procedureBatches(t, "test-endpoint.sql") {
		mustExec(t, sqlDB, batch)
	}
	if !dials(sql01.Address(), 5022) {
		t.Fatalf("the endpoint does not accept TCP on %s:5022", sql01.Address())
	}
	// The procedure's NetHelper job, verbatim, with the SQL Server address.
	mustExec(t, miDB, procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", sql01.Address()))
	jobLogSQL := procedureSQL(t, "job-log.sql")
	jobLog := func() string {
		rows, err := miDB.QueryContext(ctx(t), jobLogSQL)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var last string
		for rows.Next() {
			var name, stepName sql.NullString
			var stepID sql.NullInt64
			var log sql.NullString
			var modified any
			if err := rows.Scan(&name, &stepID, &stepName, &log, &modified); err != nil {
				t.Fatal(err)
			}
			last = strings.TrimSpace(log.String)
		}
		return last
	}
	eventually(t, 15*time.Second, "the NetHelper job to log True", func() bool { return jobLog() == "True" })

	// The procedure's two drop batches, with the job run again between
	// them: with the endpoint gone the port is closed, the certificate
	// still there.
	drop := procedureBatches(t, "drop-test-endpoint.sql")
	if len(drop) != 2 {
		t.Fatalf("drop-test-endpoint.sql has %d batches, want 2", len(drop))
	}
	mustExec(t, sqlDB, drop[0])
	if dials(sql01.Address(), 5022) {
		t.Fatal("port 5022 still accepts connections after DROP ENDPOINT")
	}
	mustExec(t, miDB, procedureSQL(t, "start-job.sql"))
	eventually(t, 15*time.Second, "the NetHelper job to log False", func() bool { return jobLog() == "False" })
	mustExec(t, sqlDB, drop[1])
}

func TestEndpointSurvivesRestart(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{})
	sql01, _ := l.Server(lab.SQLServerName)
	db := open(t, l, lab.SQLServerName)
	mustExec(t, db, procedureSQL(t, "master-key.sql", "<strong_password>", "Str0ng!Passw0rd-for-tests"))
	for _, batch := range procedureBatches(t, "test-endpoint.sql") {
		mustExec(t, db, batch)
	}
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if !dials(sql01.Address(), 5022) {
		t.Fatal("a STARTED endpoint does not listen again after a restart")
	}
	l.Close()
	if dials(sql01.Address(), 5022) {
		t.Fatal("the endpoint still listens after the lab closed")
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{Faults: map[string]lab.Faults{lab.SQLServerName: {Latency: 300 * time.Millisecond}}})
	sql01, _ := l.Server(lab.SQLServerName)
	db := open(t, l, lab.SQLServerName)
	db.SetMaxOpenConns(1)

	t.Run("latency set at start", func(t *testing.T) {
		// The first statement logs in, and a login pays the latency as
		// against a distant server: TCP handshake, PRELOGIN, LOGIN7.
		start := time.Now()
		scalar(t, db, "SELECT 1")
		if d := time.Since(start); d < 4*300*time.Millisecond {
			t.Fatalf("login and first round trip took %s, want at least 4 × 300ms", d)
		}
		start = time.Now()
		scalar(t, db, "SELECT 1")
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("round trip took %s, want at least 300ms", d)
		}
		sql01.SetFaults(lab.Faults{})
		start = time.Now()
		scalar(t, db, "SELECT 1")
		if d := time.Since(start); d >= 300*time.Millisecond {
			t.Fatalf("round trip took %s after clearing the latency", d)
		}
	})
	t.Run("error at N", func(t *testing.T) {
		sql01.SetFaults(lab.Faults{ErrorAt: 2})
		scalar(t, db, "SELECT 1")
		_, err := db.ExecContext(ctx(t), "SELECT 2")
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 50000 || me.Class != 16 {
			t.Fatalf("second statement: %v, want error 50000 class 16", err)
		}
		scalar(t, db, "SELECT 3") // fires once; the connection survives
	})
	t.Run("drop at N", func(t *testing.T) {
		sql01.SetFaults(lab.Faults{DropAt: 1})
		conn, err := db.Conn(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var v int
		err = conn.QueryRowContext(ctx(t), "SELECT 1").Scan(&v)
		conn.Close()
		if err == nil {
			t.Fatal("the statement on which the connection drops succeeded")
		}
		if got := scalar(t, db, "SELECT 1"); got != "1" {
			t.Fatalf("a new connection after the drop: %s", got)
		}
	})
	t.Run("restart hangs", func(t *testing.T) {
		sql01.SetFaults(lab.Faults{RestartHangs: true})
		err := sql01.Restart(ctx(t))
		if !errors.Is(err, lab.ErrRestartHangs) {
			t.Fatalf("restart: %v, want ErrRestartHangs", err)
		}
		time.Sleep(300 * time.Millisecond) // longer than the restart delay
		if state, _ := sql01.State(); state != lab.StateHung {
			t.Fatalf("state = %s, want hung", state)
		}
		if dials(sql01.Address(), sql01.Port()) {
			t.Fatal("a hung server accepts connections")
		}
		sql01.SetFaults(lab.Faults{})
		if err := sql01.Restart(ctx(t)); err != nil {
			t.Fatal(err)
		}
		// A pooled connection died with the restart, as with a real server: use a new pool.
		if got := scalar(t, open(t, l, lab.SQLServerName), "SELECT 1"); got != "1" {
			t.Fatalf("after recovering: %s", got)
		}
	})
	// The other server was never affected.
	if f := mustServer(t, l, lab.ManagedInstanceName).Faults(); f != (lab.Faults{}) {
		t.Fatalf("mi01 faults = %+v", f)
	}
}

func mustServer(t *testing.T, l *lab.Lab, name string) *lab.Instance {
	t.Helper()
	s, ok := l.Server(name)
	if !ok {
		t.Fatalf("no server %s", name)
	}
	return s
}

func TestStatusCounters(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{})
	sql01 := mustServer(t, l, lab.SQLServerName)
	before := sql01.Status()
	db := open(t, l, lab.SQLServerName)
	db.SetMaxOpenConns(1)
	scalar(t, db, "SELECT 1")
	scalar(t, db, "SELECT @@VERSION")
	mustExec(t, db, "SELECT 1\nSELECT 2")
	mid := sql01.Status()
	if d := mid.Logins - before.Logins; d != 1 {
		t.Fatalf("logins +%d, want +1", d)
	}
	if d := mid.RoundTrips - before.RoundTrips; d < 3 {
		t.Fatalf("round trips +%d, want at least 3", d)
	}
	if d := mid.Statements - before.Statements; d < 4 {
		t.Fatalf("statements +%d, want at least 4", d)
	}
	if mid.Changes != before.Changes {
		t.Fatalf("reads counted as changes: %d → %d", before.Changes, mid.Changes)
	}
	mustExec(t, db, "ALTER DATABASE sales SET RECOVERY FULL")
	after := sql01.Status()
	if d := after.Changes - mid.Changes; d != 1 {
		t.Fatalf("changes +%d after ALTER DATABASE, want +1", d)
	}
	var sawChange bool
	for _, e := range sql01.StatementLog() {
		if e.Changed && strings.Contains(e.Text, "ALTER DATABASE sales") {
			sawChange = true
		}
	}
	if !sawChange {
		t.Fatal("the statement log does not mark ALTER DATABASE as a change")
	}
	if st := l.Status(); len(st.Servers) != 2 || st.Servers[0].Name != "sql01" || st.Servers[1].Name != "mi01" ||
		st.Servers[1].Kind != lab.KindManagedInstance {
		t.Fatalf("lab status = %+v", st)
	}
}

// TestRestartOutlivesItsCaller: like systemd, a restart once begun finishes
// even if whoever asked for it stops waiting (apply interrupted, the
// `milink lab restart` child killed, its HTTP request cancelled).
func TestRestartOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{RestartDelay: 500 * time.Millisecond})
	sql01, _ := l.Server(lab.SQLServerName)
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- sql01.Restart(c) }()
	eventually(t, 5*time.Second, "the restart to begin", func() bool {
		s, _ := sql01.State()
		return s == lab.StateRestarting
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Restart with its context cancelled = %v, want context.Canceled", err)
		}
	case <-time.After(300 * time.Millisecond):
		t.Fatal("Restart kept its caller waiting after the caller gave up")
	}
	eventually(t, 10*time.Second, "the restart to finish without its caller", func() bool {
		s, _ := sql01.State()
		return s == lab.StateRunning
	})
	if got := scalar(t, open(t, l, lab.SQLServerName), "SELECT 1"); got != "1" {
		t.Fatalf("after the restart SELECT 1 = %s", got)
	}
	if n := sql01.Status().Restarts; n != 1 {
		t.Fatalf("restarts = %d, want 1", n)
	}
}
