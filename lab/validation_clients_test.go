package lab_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// configuredLab is a lab whose sql01 was configured through mssql.conf and
// restarted, as the procedure asks: HADR on, flags 1800 and 9567.
func configuredLab(t *testing.T) (*lab.Lab, lab.ServerInfo) {
	t.Helper()
	l := startLab(t, lab.Config{})
	inst, _ := l.Server("sql01")
	conf := "[hadr]\nhadrenabled = 1\n\n[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 9567\n"
	if err := os.WriteFile(inst.MSSQLConf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inst.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ := l.File().Server("sql01")
	return l, info
}

// TestValidationQueriesGoMssqldb: the real go-mssqldb client gets three
// correctly typed result sets.
func TestValidationQueriesGoMssqldb(t *testing.T) {
	l, _ := configuredLab(t)
	db := open(t, l, "sql01")
	rows, err := db.Query(procedureSQL(t, "validation.sql"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()

	// 1: @@VERSION, an nvarchar banner.
	var banner string
	if !rows.Next() {
		t.Fatal("no @@VERSION row")
	}
	if err := rows.Scan(&banner); err != nil || !strings.HasPrefix(banner, "Microsoft SQL Server 2019") {
		t.Fatalf("banner %q, %v", banner, err)
	}
	drain(t, rows)
	// 2: SERVERPROPERTY is a sql_variant holding int 1.
	if !rows.NextResultSet() || !rows.Next() {
		t.Fatal("no IsHadrEnabled row")
	}
	types, _ := rows.ColumnTypes()
	if got := types[0].DatabaseTypeName(); got != "SQL_VARIANT" {
		t.Errorf("IsHadrEnabled type %s, want SQL_VARIANT", got)
	}
	var hadr any
	if err := rows.Scan(&hadr); err != nil {
		t.Fatal(err)
	}
	if v, ok := hadr.(int64); !ok || v != 1 {
		t.Errorf("IsHadrEnabled = %#v, want int64 1", hadr)
	}
	drain(t, rows)
	// 3: DBCC TRACESTATUS, four smallint columns, one row per flag.
	if !rows.NextResultSet() {
		t.Fatal("no TRACESTATUS result")
	}
	cols, _ := rows.Columns()
	if strings.Join(cols, ",") != "TraceFlag,Status,Global,Session" {
		t.Errorf("TRACESTATUS columns %v", cols)
	}
	var flags []int
	for rows.Next() {
		var f, status, global, session int
		if err := rows.Scan(&f, &status, &global, &session); err != nil {
			t.Fatal(err)
		}
		if status != 1 || global != 1 {
			t.Errorf("flag %d status %d global %d", f, status, global)
		}
		flags = append(flags, f)
	}
	if len(flags) != 2 || flags[0] != 1800 || flags[1] != 9567 {
		t.Errorf("flags %v, want [1800 9567]", flags)
	}
}

// TestValidationQueriesFreeTDS: FreeTDS tsql, an independent client, runs
// the same batch against the lab and prints the same values.
func TestValidationQueriesFreeTDS(t *testing.T) {
	tsqlPath(t)
	_, info := configuredLab(t)
	text, stderr := runTSQL(t, info, procedureSQL(t, "validation.sql"))
	for _, want := range []string{
		"Microsoft SQL Server 2019 (RTM-CU22)",
		"15.0.4322.2",
		"TraceFlag\tStatus\tGlobal\tSession",
		"1800\t1\t1\t0",
		"9567\t1\t1\t0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tsql output lacks %q:\n%s", want, text)
		}
	}
	// The sql_variant IsHadrEnabled prints as 1 on a line of its own.
	if !containsLine(text, "1") {
		t.Errorf("tsql output lacks IsHadrEnabled = 1:\n%s", text)
	}
	// DBCC's closing message 2528 is informational (severity 0), as on
	// SQL Server; anything of severity 11 or more is an error.
	if regexp.MustCompile(`severity (1[1-9]|2[0-5])`).MatchString(stderr) {
		t.Errorf("tsql reported errors:\n%s", stderr)
	}
}

// tsqlPath is FreeTDS's tsql, or skips the test (fails where CI requires it).
func tsqlPath(t *testing.T) string {
	t.Helper()
	tsql, err := exec.LookPath("tsql")
	if err != nil {
		if os.Getenv("MILINK_REQUIRE_TSQL") != "" {
			t.Fatal("tsql (FreeTDS) not on PATH, and MILINK_REQUIRE_TSQL is set")
		}
		t.Skip("tsql (FreeTDS) not on PATH")
	}
	return tsql
}

// runTSQL runs one batch through FreeTDS tsql (TDS 7.4) and returns its
// output and its messages.
func runTSQL(t *testing.T, info lab.ServerInfo, batch string) (string, string) {
	t.Helper()
	tsql := tsqlPath(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(conf, []byte("[global]\n\ttds version = 7.4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsql, "-H", info.Address, "-p", strconv.Itoa(info.Port), "-U", info.User, "-P", info.Password)
	cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "TDSVER=7.4", "HOME="+dir)
	// tsql reads the batch from stdin and runs it at "go".
	cmd.Stdin = strings.NewReader(batch + "\ngo\nexit\n")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tsql: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	return out.String(), stderr.String()
}

// TestHadrCheckBothClients: the declare ... case batch through both
// clients, before (HADR off) and after the configured restart (on).
func TestHadrCheckBothClients(t *testing.T) {
	tsqlPath(t)
	l := startLab(t, lab.Config{})
	info, _ := l.File().Server("sql01")
	hadrCheck := procedureSQL(t, "hadr-check.sql")
	check := func(wantHadr int64, wantText string) {
		t.Helper()
		db := openInfo(t, info)
		var hadr any
		var status string
		if err := db.QueryRowContext(ctx(t), hadrCheck).Scan(&hadr, &status); err != nil {
			t.Fatal(err)
		}
		if v, ok := hadr.(int64); !ok || v != wantHadr || status != wantText {
			t.Errorf("go-mssqldb: IsHadrEnabled %#v, HadrStatus %q; want %d, %q", hadr, status, wantHadr, wantText)
		}
		db.Close()
		out, stderr := runTSQL(t, info, hadrCheck)
		if !strings.Contains(out, "IsHadrEnabled\tHadrStatus") || !strings.Contains(out, strconv.FormatInt(wantHadr, 10)+"\t"+wantText) {
			t.Errorf("tsql output lacks %d and %q:\n%s\n%s", wantHadr, wantText, out, stderr)
		}
	}
	check(0, "The AlwaysOn availability groups is disabled.")
	inst, _ := l.Server("sql01")
	if err := os.WriteFile(inst.MSSQLConf(), []byte("[hadr]\nhadrenabled = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := inst.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	check(1, "The AlwaysOn availability groups is enabled.")
}

// TestMasterKeyAndNetHelperThroughFreeTDS: the procedure's master key blocks
// and its NetHelper job, verbatim, through tsql alone.
func TestMasterKeyAndNetHelperThroughFreeTDS(t *testing.T) {
	tsqlPath(t)
	l := startLab(t, lab.Config{})
	sql01, _ := l.File().Server("sql01")
	mi01, _ := l.File().Server("mi01")

	createKey := procedureSQL(t, "master-key.sql", "<strong_password>", "Str0ng!Passw0rd-for-tests")
	runTSQL(t, sql01, createKey)
	out, stderr := runTSQL(t, sql01, procedureSQL(t, "check-master-key.sql"))
	if !strings.Contains(out, "##MS_DatabaseMasterKey##\t1\t101\t256\tA3\tAES_256\t") {
		t.Fatalf("tsql: no master key row:\n%s\n%s", out, stderr)
	}
	// A second CREATE fails with SQL Server's 15578.
	_, stderr = runTSQL(t, sql01, createKey)
	if !strings.Contains(stderr, "Msg 15578") || !strings.Contains(stderr, "There is already a master key in the database.") {
		t.Fatalf("tsql: second CREATE MASTER KEY:\n%s", stderr)
	}

	for _, batch := range procedureBatches(t, "test-endpoint.sql") {
		runTSQL(t, sql01, batch)
	}
	job := procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", sql01.Address)
	if _, stderr := runTSQL(t, mi01, job); regexp.MustCompile(`Msg \d+, Level (1[1-9]|2[0-5])`).MatchString(stderr) {
		t.Fatalf("tsql: NetHelper job:\n%s", stderr)
	}
	jobLog := procedureSQL(t, "job-log.sql")
	eventually(t, 15*time.Second, "tsql to show the NetHelper log True", func() bool {
		out, _ := runTSQL(t, mi01, jobLog)
		return strings.Contains(out, "NetHelper\t1\ttnc step\tTrue")
	})
	for _, batch := range procedureBatches(t, "drop-test-endpoint.sql") {
		runTSQL(t, sql01, batch)
	}
	runTSQL(t, mi01, procedureSQL(t, "start-job.sql"))
	eventually(t, 15*time.Second, "tsql to show the NetHelper log False", func() bool {
		out, _ := runTSQL(t, mi01, jobLog)
		return strings.Contains(out, "NetHelper\t1\ttnc step\tFalse")
	})
}

// drain reads the rest of the current result set: go-mssqldb moves to the
// next one only after the current one is read to its end.
func drain(t *testing.T, rows *sql.Rows) {
	t.Helper()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
