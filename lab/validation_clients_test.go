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

// The procedure's validation batch, verbatim: what a DBA runs after the
// restart to see the version, HADR and the trace flags.
const validationBatch = `-- Run on SQL Server
-- Shows the version and CU of SQL Server
SELECT @@VERSION

-- Shows if the Always On availability groups feature is enabled 
SELECT SERVERPROPERTY ('IsHadrEnabled')

-- Lists all trace flags enabled on SQL Server
DBCC TRACESTATUS
`

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
	rows, err := db.Query(validationBatch)
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
	tsql, err := exec.LookPath("tsql")
	if err != nil {
		if os.Getenv("MILINK_REQUIRE_TSQL") != "" {
			t.Fatal("tsql (FreeTDS) not on PATH, and MILINK_REQUIRE_TSQL is set")
		}
		t.Skip("tsql (FreeTDS) not on PATH")
	}
	_, info := configuredLab(t)
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
	cmd.Stdin = strings.NewReader(validationBatch + "go\nexit\n")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tsql: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	text := out.String()
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
	if regexp.MustCompile(`severity (1[1-9]|2[0-5])`).MatchString(stderr.String()) {
		t.Errorf("tsql reported errors:\n%s", stderr.String())
	}
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
