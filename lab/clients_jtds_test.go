package lab_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// jTDS (Java, Debian's libjtds-java) is a fourth independent TDS client,
// older and stricter than the others: it logs in with TDS 7.1 or 7.2 and
// sends RPCs by name with unnamed parameters.

const jtdsJar = "/usr/share/java/jtds.jar"

var (
	jtdsOnce  sync.Once
	jtdsClass string // directory of the compiled JtdsClient
	jtdsErr   error
)

// jtdsClient compiles testdata/jtds/JtdsClient.java once per test binary,
// or skips when java, javac or jTDS is missing (fails with
// MILINK_REQUIRE_CLIENTS, as in CI).
func jtdsClient(t *testing.T) string {
	t.Helper()
	missing := ""
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil && missing == "" {
			missing = tool + " is not on PATH"
		}
	}
	if _, err := os.Stat(jtdsJar); err != nil && missing == "" {
		missing = "jTDS is not installed (Debian package libjtds-java)"
	}
	if missing != "" {
		if os.Getenv("MILINK_REQUIRE_CLIENTS") != "" {
			t.Fatalf("%s, and MILINK_REQUIRE_CLIENTS is set", missing)
		}
		t.Skip(missing)
	}
	jtdsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "milink-jtds-")
		if err != nil {
			jtdsErr = err
			return
		}
		src, _ := filepath.Abs(filepath.Join("testdata", "jtds", "JtdsClient.java"))
		out, err := exec.Command("javac", "-d", dir, "-cp", jtdsJar, src).CombinedOutput()
		if err != nil {
			jtdsErr = fmt.Errorf("javac: %v\n%s", err, out)
			return
		}
		jtdsClass = dir
	})
	if jtdsErr != nil {
		t.Fatal(jtdsErr)
	}
	return jtdsClass
}

// jtdsStep is the output of one step: result sets, counts, errors, OUT
// values, as JtdsClient printed them.
type jtdsStep struct {
	Cols   []string   // one "COLS" line per result set
	Rows   [][]string // rows of all result sets, in order
	Errors []string   // "number\tmessage"
	Outs   []string
	Infos  []string
}

func (s jtdsStep) errNumbers() []string {
	var n []string
	for _, e := range s.Errors {
		n = append(n, strings.SplitN(e, "\t", 2)[0])
	}
	return n
}

// runJTDS runs steps (lines of the JtdsClient protocol) on one connection;
// a failed login returns nil and the LOGINERR line.
func runJTDS(t *testing.T, info lab.ServerInfo, tdsVersion string, steps ...string) ([]jtdsStep, string) {
	t.Helper()
	dir := jtdsClient(t)
	url := fmt.Sprintf("jdbc:jtds:sqlserver://%s:%d/master;tds=%s;loginTimeout=15;socketTimeout=30", info.Address, info.Port, tdsVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-cp", dir+string(os.PathListSeparator)+jtdsJar, "JtdsClient", url, info.User, info.Password)
	cmd.Stdin = strings.NewReader(strings.Join(steps, "\n") + "\n")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jTDS client: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	var res []jtdsStep
	var cur *jtdsStep
	for _, line := range strings.Split(out.String(), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "LOGINERR":
			return nil, rest
		case "STEP":
			res = append(res, jtdsStep{})
			cur = &res[len(res)-1]
		case "COLS":
			cur.Cols = append(cur.Cols, rest)
		case "ROW":
			cur.Rows = append(cur.Rows, strings.Split(rest, "\t"))
		case "ERR":
			cur.Errors = append(cur.Errors, rest)
		case "OUT":
			cur.Outs = append(cur.Outs, rest)
		case "INFO":
			cur.Infos = append(cur.Infos, rest)
		}
	}
	if len(res) != len(steps) {
		t.Fatalf("jTDS client ran %d of %d steps:\n%s\n%s", len(res), len(steps), out.String(), stderr.String())
	}
	return res, ""
}

func jtdsOK(t *testing.T, what string, s jtdsStep) jtdsStep {
	t.Helper()
	if len(s.Errors) > 0 {
		t.Fatalf("jTDS %s: %v", what, s.Errors)
	}
	return s
}

func oneLine(sql string) string {
	return strings.ReplaceAll(strings.ReplaceAll(sql, "\r", ""), "\n", `\n`)
}

// TestJTDSProcedure: the procedure's validation queries, master key,
// endpoint and NetHelper blocks through jTDS (TDS 7.1).
func TestJTDSProcedure(t *testing.T) {
	jtdsClient(t)
	l, sql01 := configuredLab(t)
	mi01, _ := l.File().Server("mi01")
	pw := "Str0ng!Passw0rd-for-tests"
	res, _ := runJTDS(t, sql01, "8.0",
		"batch\t"+oneLine(procedureSQL(t, "validation.sql")),
		"batch\t"+oneLine(procedureSQL(t, "master-key.sql", "<strong_password>", pw)),
		"batch\t"+oneLine(procedureSQL(t, "check-master-key.sql")),
		"batch\t"+oneLine(procedureSQL(t, "master-key.sql", "<strong_password>", pw)),
	)
	v := jtdsOK(t, "validation", res[0])
	if len(v.Cols) != 3 || len(v.Rows) != 4 {
		t.Fatalf("validation: %d result sets, %d rows; want 3 and 4:\n%+v", len(v.Cols), len(v.Rows), v)
	}
	if !strings.HasPrefix(v.Rows[0][0], "Microsoft SQL Server 2019") || v.Rows[1][0] != "1" || !strings.Contains(v.Cols[1], ":sql_variant") {
		t.Errorf("validation: %q / %q (%s)", v.Rows[0][0], v.Rows[1][0], v.Cols[1])
	}
	if strings.Join(v.Rows[2], ",") != "1800,1,1,0" || strings.Join(v.Rows[3], ",") != "9567,1,1,0" || !strings.Contains(v.Cols[2], "TraceFlag:smallint") {
		t.Errorf("TRACESTATUS: %v %v (%s)", v.Rows[2], v.Rows[3], v.Cols[2])
	}
	jtdsOK(t, "CREATE MASTER KEY", res[1])
	if k := jtdsOK(t, "sys.symmetric_keys", res[2]); len(k.Rows) != 1 || k.Rows[0][0] != "##MS_DatabaseMasterKey##" {
		t.Errorf("master key rows: %v", k.Rows)
	}
	if got := res[3].errNumbers(); len(got) != 1 || got[0] != "15578" {
		t.Errorf("second CREATE MASTER KEY: %v, want 15578", res[3].Errors)
	}

	var steps []string
	for _, b := range procedureBatches(t, "test-endpoint.sql") {
		steps = append(steps, "batch\t"+oneLine(b))
	}
	res, _ = runJTDS(t, sql01, "8.0", steps...)
	for _, s := range res {
		jtdsOK(t, "test endpoint", s)
	}
	res, _ = runJTDS(t, mi01, "8.0", "batch\t"+oneLine(procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", sql01.Address)))
	jtdsOK(t, "NetHelper job", res[0])
	jobLog := func(want string) bool {
		res, _ := runJTDS(t, mi01, "8.0", "batch\t"+oneLine(procedureSQL(t, "job-log.sql")))
		return len(res[0].Rows) == 1 && len(res[0].Rows[0]) == 5 && strings.TrimSpace(strings.ReplaceAll(res[0].Rows[0][3], `\n`, "")) == want
	}
	eventually(t, 20*time.Second, "jTDS to read the NetHelper log True", func() bool { return jobLog("True") })
	steps = nil
	for _, b := range procedureBatches(t, "drop-test-endpoint.sql") {
		steps = append(steps, "batch\t"+oneLine(b))
	}
	runJTDS(t, sql01, "8.0", steps...)
	res, _ = runJTDS(t, mi01, "8.0", "batch\t"+oneLine(procedureSQL(t, "start-job.sql")))
	jtdsOK(t, "sp_start_job", res[0])
	eventually(t, 20*time.Second, "jTDS to read the NetHelper log False", func() bool { return jobLog("False") })
}

// TestJTDSRPCAndTransactions: a prepared parameterised query (sp_prepare,
// sp_execute), sp_executesql called with unnamed parameters and an OUTPUT
// one, decimal scale, and transactions as JDBC runs them (SET
// IMPLICIT_TRANSACTIONS ON, then IF @@TRANCOUNT > 0 COMMIT/ROLLBACK TRAN).
func TestJTDSRPCAndTransactions(t *testing.T) {
	jtdsClient(t)
	l := startLab(t, lab.Config{})
	sql01, _ := l.File().Server("sql01")
	keys := "batch\tSELECT COUNT(*) AS n FROM master.sys.symmetric_keys"
	res, _ := runJTDS(t, sql01, "8.0",
		/*0*/ "query\tSELECT name, recovery_model_desc FROM sys.databases WHERE name = ? AND database_id > ?\ts:inventory\ti:4",
		/*1*/ "callout\t{call sp_executesql(?, ?, ?, ?)}\ts:SET @o = @i * 2\ts:@i int, @o int OUTPUT\ti:21\to:int",
		/*2*/ "batch\tSELECT CAST(1234.567 AS decimal(10,2)) AS p, CAST(-0.5 AS numeric(5,3)) AS q",
		/*3*/ "autocommit\t0",
		/*4*/ "batch\tCREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'",
		/*5*/ "batch\tSELECT @@TRANCOUNT AS n",
		/*6*/ "rollback",
		/*7*/ "autocommit\t1",
		/*8*/ keys,
		/*9*/ "autocommit\t0",
		/*10*/ "batch\tCREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'",
		/*11*/ "commit",
		/*12*/ "autocommit\t1",
		/*13*/ keys,
		/*14*/ "batch\tSELECT 1 AS one\\nCOMMIT TRANSACTION",
		/*15*/ "batch\tBEGIN TRAN\\nBACKUP DATABASE sales TO DISK = '/var/opt/mssql/backup/s.bak'\\nROLLBACK",
		/*16*/ "batch\tSELECT @@TRANCOUNT AS n",
	)
	if q := jtdsOK(t, "prepared query", res[0]); len(q.Rows) != 1 || strings.Join(q.Rows[0], ",") != "inventory,FULL" {
		t.Errorf("prepared query: %+v", q)
	}
	if o := jtdsOK(t, "sp_executesql OUTPUT", res[1]); len(o.Outs) != 1 || o.Outs[0] != "4\t42" {
		t.Errorf("OUTPUT parameter: %v, want 4 = 42", o.Outs)
	}
	if d := jtdsOK(t, "decimal", res[2]); strings.Join(d.Rows[0], ",") != "1234.57,-0.500" || d.Cols[0] != "p:decimal(10,2)\tq:decimal(5,3)" {
		t.Errorf("decimal: %v %v", d.Cols, d.Rows)
	}
	jtdsOK(t, "create in transaction", res[4])
	if n := jtdsOK(t, "@@TRANCOUNT", res[5]); n.Rows[0][0] != "1" {
		t.Errorf("@@TRANCOUNT in the implicit transaction = %v", n.Rows)
	}
	jtdsOK(t, "rollback", res[6])
	if n := jtdsOK(t, "count", res[8]); n.Rows[0][0] != "0" {
		t.Errorf("after rollback: %v master keys, want 0", n.Rows)
	}
	jtdsOK(t, "commit", res[11])
	if n := jtdsOK(t, "count", res[13]); n.Rows[0][0] != "1" {
		t.Errorf("after commit: %v master keys, want 1", n.Rows)
	}
	if got := res[14].errNumbers(); len(got) != 1 || got[0] != "3902" {
		t.Errorf("COMMIT without BEGIN: %v", res[14].Errors)
	}
	if got := res[15].errNumbers(); len(got) < 1 || got[0] != "3021" {
		t.Errorf("BACKUP in a transaction: %v", res[15].Errors)
	}
	if n := jtdsOK(t, "@@TRANCOUNT", res[16]); n.Rows[0][0] != "0" {
		t.Errorf("@@TRANCOUNT at the end = %v", n.Rows)
	}
}

// TestJTDSWrongPassword: a refused login reaches jTDS as 18456.
func TestJTDSWrongPassword(t *testing.T) {
	jtdsClient(t)
	l := startLab(t, lab.Config{})
	info, _ := l.File().Server("sql01")
	info.Password = "wrong"
	res, loginErr := runJTDS(t, info, "8.0", "batch\tSELECT 1")
	if res != nil || !strings.HasPrefix(loginErr, "18456\tLogin failed for user 'sa'.") {
		t.Errorf("wrong password: %v %q", res, loginErr)
	}
}
