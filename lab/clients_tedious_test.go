package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// tedious (Node.js, npm) is a third independent TDS client: its own
// encoder and decoder, its own idea of RPC parameter names (@statement,
// not @stmt), prepared statements through sp_prepare/sp_execute, and
// transactions through the TDS transaction manager requests.

// tediousDir is the npm project of lab/testdata/tedious, installed (npm ci)
// or the test skips: CI installs it and sets MILINK_REQUIRE_CLIENTS.
func tediousDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "tedious"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "tedious", "package.json")); err != nil {
		missing = "tedious is not installed (run npm ci in lab/testdata/tedious)"
	}
	if missing != "" {
		if os.Getenv("MILINK_REQUIRE_CLIENTS") != "" {
			t.Fatalf("%s, and MILINK_REQUIRE_CLIENTS is set", missing)
		}
		t.Skip(missing)
	}
	return dir
}

type tdMessage struct {
	Number  int32  `json:"number"`
	Class   int    `json:"class"`
	Message string `json:"message"`
	Line    int    `json:"line"`
}

type tdSet struct {
	Columns []struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Precision int    `json:"precision"`
		Scale     int    `json:"scale"`
		Length    int    `json:"length"`
	} `json:"columns"`
	Rows [][]any `json:"rows"`
}

// tdOut is what client.js prints for one step (or for a failed login).
type tdOut struct {
	Step         int            `json:"step"`
	Sets         []tdSet        `json:"sets"`
	Errors       []tdMessage    `json:"errors"`
	Infos        []tdMessage    `json:"infos"`
	ReturnValues map[string]any `json:"returnValues"`
	Error        *string        `json:"error"`
	Handle       *int           `json:"handle"`
	Login        string         `json:"login"`
	Message      string         `json:"message"`
}

func (o tdOut) errNumbers() []int32 {
	var n []int32
	for _, e := range o.Errors {
		n = append(n, e.Number)
	}
	return n
}

type step map[string]any

// runTedious runs steps on one tedious connection to info.
func runTedious(t *testing.T, info lab.ServerInfo, steps ...step) []tdOut {
	t.Helper()
	dir := tediousDir(t)
	conn, _ := json.Marshal(map[string]any{"address": info.Address, "port": info.Port, "user": info.User, "password": info.Password})
	in, _ := json.Marshal(steps)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LAB_CONN="+string(conn))
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tedious client: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	var res []tdOut
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o tdOut
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("tedious client printed %q: %v", sc.Text(), err)
		}
		res = append(res, o)
	}
	if len(res) == 1 && res[0].Login == "failed" {
		return res
	}
	if len(res) != len(steps) {
		t.Fatalf("tedious client ran %d of %d steps:\n%s\n%s", len(res), len(steps), out.String(), stderr.String())
	}
	return res
}

// mustOK fails on any error of a step.
func mustOK(t *testing.T, what string, o tdOut) tdOut {
	t.Helper()
	if o.Error != nil || len(o.Errors) > 0 {
		msg := ""
		if o.Error != nil {
			msg = *o.Error
		}
		t.Fatalf("tedious %s: %s %+v", what, msg, o.Errors)
	}
	return o
}

// TestTediousProcedure: the procedure's validation queries, master key,
// endpoint and NetHelper blocks through tedious.
func TestTediousProcedure(t *testing.T) {
	tediousDir(t)
	l, sql01 := configuredLab(t)
	mi01, _ := l.File().Server("mi01")

	res := runTedious(t, sql01,
		step{"batch": procedureSQL(t, "validation.sql")},
		step{"batch": procedureSQL(t, "master-key.sql", "<strong_password>", "Str0ng!Passw0rd-for-tests")},
		step{"batch": procedureSQL(t, "check-master-key.sql")},
		step{"batch": procedureSQL(t, "master-key.sql", "<strong_password>", "Str0ng!Passw0rd-for-tests")},
	)
	v := mustOK(t, "validation", res[0])
	if len(v.Sets) != 3 {
		t.Fatalf("validation: %d result sets, want 3", len(v.Sets))
	}
	if b, _ := v.Sets[0].Rows[0][0].(string); !strings.HasPrefix(b, "Microsoft SQL Server 2019") {
		t.Errorf("@@VERSION = %v", v.Sets[0].Rows[0][0])
	}
	if c := v.Sets[1].Columns[0]; c.Type != "Variant" || v.Sets[1].Rows[0][0] != float64(1) {
		t.Errorf("IsHadrEnabled: %s %v, want Variant 1", c.Type, v.Sets[1].Rows[0][0])
	}
	var flags []any
	for _, r := range v.Sets[2].Rows {
		flags = append(flags, r[0])
	}
	if len(flags) != 2 || flags[0] != float64(1800) || flags[1] != float64(9567) || v.Sets[2].Columns[0].Length != 2 {
		t.Errorf("TRACESTATUS flags %v (%+v), want smallint 1800, 9567", flags, v.Sets[2].Columns[0])
	}
	mustOK(t, "CREATE MASTER KEY", res[1])
	k := mustOK(t, "sys.symmetric_keys", res[2])
	if len(k.Sets) != 1 || len(k.Sets[0].Rows) != 1 || k.Sets[0].Rows[0][0] != "##MS_DatabaseMasterKey##" {
		t.Errorf("master key rows: %+v", k.Sets)
	}
	if got := res[3].errNumbers(); len(got) != 1 || got[0] != 15578 || res[3].Errors[0].Line != 4 {
		t.Errorf("second CREATE MASTER KEY: %+v, want 15578 on line 4", res[3].Errors)
	}

	var steps []step
	for _, b := range procedureBatches(t, "test-endpoint.sql") {
		steps = append(steps, step{"batch": b})
	}
	for i, o := range runTedious(t, sql01, steps...) {
		mustOK(t, "test endpoint batch "+string(rune('1'+i)), o)
	}
	mustOK(t, "NetHelper job", runTedious(t, mi01, step{"batch": procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", sql01.Address)})[0])
	jobLog := func(want string) bool {
		o := runTedious(t, mi01, step{"batch": procedureSQL(t, "job-log.sql")})[0]
		if len(o.Sets) != 1 || len(o.Sets[0].Rows) != 1 {
			return false
		}
		log, _ := o.Sets[0].Rows[0][3].(string)
		return strings.TrimSpace(log) == want
	}
	eventually(t, 15*time.Second, "tedious to read the NetHelper log True", func() bool { return jobLog("True") })
	steps = nil
	for _, b := range procedureBatches(t, "drop-test-endpoint.sql") {
		steps = append(steps, step{"batch": b})
	}
	runTedious(t, sql01, steps...)
	mustOK(t, "sp_start_job", runTedious(t, mi01, step{"batch": procedureSQL(t, "start-job.sql")})[0])
	eventually(t, 15*time.Second, "tedious to read the NetHelper log False", func() bool { return jobLog("False") })
}

// TestTediousRPCAndTransactions: parameters (tedious names sp_executesql's
// first parameter @statement), OUTPUT parameters, typed decimals and
// datetimeoffset, a prepared statement, transactions through the
// transaction manager (commit and rollback) and a connection reset.
func TestTediousRPCAndTransactions(t *testing.T) {
	tediousDir(t)
	l := startLab(t, lab.Config{})
	sql01, _ := l.File().Server("sql01")
	keyCount := step{"batch": "SELECT COUNT(*) AS n FROM master.sys.symmetric_keys"}
	res := runTedious(t, sql01,
		/*0*/ step{"sql": "SELECT name, recovery_model_desc FROM sys.databases WHERE name = @name AND database_id > @min",
			"params": []any{map[string]any{"name": "name", "type": "NVarChar", "value": "inventory"}, map[string]any{"name": "min", "type": "Int", "value": 4}}},
		/*1*/ step{"sql": "SET @doubled = @n * 2; SET @d = @amount",
			"params": []any{
				map[string]any{"name": "n", "type": "Int", "value": 21},
				map[string]any{"name": "amount", "type": "Decimal", "value": 12.345, "precision": 10, "scale": 3},
				map[string]any{"name": "doubled", "type": "Int", "output": true},
				map[string]any{"name": "d", "type": "Decimal", "output": true, "precision": 10, "scale": 3},
			}},
		/*2*/ step{"sql": "SELECT CAST(@p AS decimal(10,2)) AS p, @t AS t, SYSDATETIMEOFFSET() AS now",
			"params": []any{
				map[string]any{"name": "p", "type": "Decimal", "value": 1234.567, "precision": 10, "scale": 3},
				map[string]any{"name": "t", "type": "DateTimeOffset", "value": "2024-03-05T13:14:15.123Z"},
			}},
		/*3*/ step{"prepare": "SELECT DB_NAME(@id) AS name", "params": []any{map[string]any{"name": "id", "type": "Int"}},
			"executions": []any{map[string]any{"id": 1}, map[string]any{"id": 6}}},
		/*4*/ step{"begin": "t1"},
		/*5*/ step{"batch": "CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'; SELECT @@TRANCOUNT AS n"},
		/*6*/ step{"rollback": true},
		/*7*/ keyCount,
		/*8*/ step{"begin": "t2"},
		/*9*/ step{"batch": "CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'"},
		/*10*/ step{"commit": true},
		/*11*/ keyCount,
		/*12*/ step{"batch": "SELECT 1 AS one\nCOMMIT"},
		/*13*/ step{"batch": "BEGIN TRAN\nBACKUP DATABASE sales TO DISK = '/var/opt/mssql/backup/s.bak'\nALTER DATABASE sales SET RECOVERY FULL\nROLLBACK"},
		/*14*/ step{"batch": "USE inventory; SET XACT_ABORT ON"},
		/*15*/ step{"reset": true},
		/*16*/ step{"batch": "SELECT DB_NAME() AS db, @@TRANCOUNT AS n, CONVERT(varchar(20), 0x1A2B, 1) AS s1, CONVERT(varchar(20), 0x1A2B, 2) AS s2, CONVERT(varbinary(4), '0x1A2B', 1) AS b1"},
		/*17*/ step{"batch": "SET XACT_ABORT ON\nBEGIN TRAN\nSELECT 1/0 AS x\nSELECT 2 AS y"},
		/*18*/ step{"batch": "SELECT @@TRANCOUNT AS n"},
	)
	q := mustOK(t, "parameterised query", res[0])
	if len(q.Sets) != 1 || len(q.Sets[0].Rows) != 1 || q.Sets[0].Rows[0][1] != "FULL" {
		t.Errorf("parameterised query: %+v", q.Sets)
	}
	o := mustOK(t, "OUTPUT parameters", res[1])
	if o.ReturnValues["doubled"] != float64(42) || o.ReturnValues["d"] != 12.345 {
		t.Errorf("return values %v, want doubled 42, d 12.345", o.ReturnValues)
	}
	d := mustOK(t, "decimal and datetimeoffset", res[2])
	cols := d.Sets[0].Columns
	if cols[0].Type != "DecimalN" || cols[0].Precision != 10 || cols[0].Scale != 2 || d.Sets[0].Rows[0][0] != 1234.57 {
		t.Errorf("decimal(10,2): %+v %v", cols[0], d.Sets[0].Rows[0][0])
	}
	if cols[1].Type != "DateTimeOffset" || d.Sets[0].Rows[0][1] != "2024-03-05T13:14:15.123Z" || cols[2].Type != "DateTimeOffset" {
		t.Errorf("datetimeoffset: %+v %v", cols, d.Sets[0].Rows[0])
	}
	p := mustOK(t, "prepared statement", res[3])
	if p.Handle == nil || len(p.Sets) != 2 || p.Sets[0].Rows[0][0] != "master" || p.Sets[1].Rows[0][0] != "inventory" {
		t.Errorf("prepared: handle %v, sets %+v", p.Handle, p.Sets)
	}
	mustOK(t, "begin", res[4])
	if in := mustOK(t, "in transaction", res[5]); in.Sets[0].Rows[0][0] != float64(1) {
		t.Errorf("@@TRANCOUNT in the transaction = %v", in.Sets[0].Rows[0][0])
	}
	mustOK(t, "rollback", res[6])
	if n := mustOK(t, "count", res[7]).Sets[0].Rows[0][0]; n != float64(0) {
		t.Errorf("after rollback: %v master keys, want 0", n)
	}
	mustOK(t, "begin", res[8])
	mustOK(t, "create in transaction", res[9])
	mustOK(t, "commit", res[10])
	if n := mustOK(t, "count", res[11]).Sets[0].Rows[0][0]; n != float64(1) {
		t.Errorf("after commit: %v master keys, want 1", n)
	}
	if e := res[12].Errors; len(e) != 1 || e[0].Number != 3902 || e[0].Line != 2 ||
		e[0].Message != "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION." {
		t.Errorf("COMMIT without BEGIN: %+v", e)
	}
	if got := res[13].errNumbers(); len(got) != 3 || got[0] != 3021 || got[1] != 3013 || got[2] != 226 || res[13].Errors[0].Line != 2 || res[13].Errors[2].Line != 3 {
		t.Errorf("BACKUP in a transaction: %+v", res[13].Errors)
	}
	mustOK(t, "USE", res[14])
	mustOK(t, "reset", res[15])
	r := mustOK(t, "after reset", res[16]).Sets[0].Rows[0]
	if r[0] != "master" || r[1] != float64(0) || r[2] != "0x1A2B" || r[3] != "1A2B" || r[4] != "0x1A2B" {
		t.Errorf("after reset and CONVERT styles: %v", r)
	}
	if c := res[16].Sets[0].Columns[1]; c.Type != "IntN" || c.Length != 4 {
		t.Errorf("@@TRANCOUNT is %s, want int", c.Type)
	}
	// XACT_ABORT ON: the division by zero rolls back and ends the batch.
	if x := res[17]; len(x.Errors) != 1 || x.Errors[0].Number != 8134 || x.Errors[0].Line != 3 || len(x.Sets) != 0 {
		t.Errorf("XACT_ABORT: errors %+v, sets %+v", x.Errors, x.Sets)
	}
	if n := mustOK(t, "@@TRANCOUNT", res[18]).Sets[0].Rows[0][0]; n != float64(0) {
		t.Errorf("@@TRANCOUNT after XACT_ABORT = %v", n)
	}
}

// TestTediousWrongPassword: a refused login reaches tedious as 18456.
func TestTediousWrongPassword(t *testing.T) {
	tediousDir(t)
	l := startLab(t, lab.Config{})
	info, _ := l.File().Server("sql01")
	info.Password = "wrong"
	res := runTedious(t, info, step{"batch": "SELECT 1"})
	if res[0].Login != "failed" || len(res[0].Errors) != 1 || res[0].Errors[0].Number != 18456 ||
		!strings.Contains(res[0].Message, "Login failed for user 'sa'.") {
		t.Errorf("wrong password: %+v", res[0])
	}
}
