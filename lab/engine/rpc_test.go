package engine

import (
	"context"
	"testing"

	"github.com/milink/milink/lab/tds"
)

func rpc(s *Session, proc string, params ...tds.Param) *recorder {
	r := &recorder{}
	s.RPC(context.Background(), proc, params, r)
	return r
}

// TestSpExecuteSQLBindsByPosition: the statement and declarations bind by
// position whatever their names; values by name or by position.
func TestSpExecuteSQLBindsByPosition(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	for _, tc := range []struct {
		name   string
		params []tds.Param
	}{
		{"no names", []tds.Param{{Value: "SELECT @a + @b AS n"}, {Value: "@a int, @b int"}, {Value: int64(40)}, {Value: int64(2)}}},
		{"tedious names", []tds.Param{{Name: "@statement", Value: "SELECT @a + @b AS n"}, {Name: "@params", Value: "@a int, @b int"}, {Name: "@a", Value: int64(40)}, {Name: "@b", Value: int64(2)}}},
		{"odd names, values by name out of order", []tds.Param{{Name: "@x", Value: "SELECT @a + @b AS n"}, {Name: "@y", Value: "@a int, @b int"}, {Name: "@B", Value: int64(2)}, {Name: "@a", Value: int64(40)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rpc(s, "sp_executesql", tc.params...)
			if len(r.errs) > 0 || r.col(t, 0, "n")[0] != 42 {
				t.Errorf("errors %+v, sets %+v", r.errs, r.sets)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		params []tds.Param
		want   int32
	}{
		{"no statement", nil, 214},
		{"statement not a string", []tds.Param{{Value: int64(1)}}, 214},
		{"too many values", []tds.Param{{Value: "SELECT @a"}, {Value: "@a int"}, {Value: int64(1)}, {Value: int64(2)}}, 8144},
		{"unknown name", []tds.Param{{Value: "SELECT @a"}, {Value: "@a int"}, {Name: "@zz", Value: int64(1)}}, 8145},
		{"missing value", []tds.Param{{Value: "SELECT @a"}, {Value: "@a int"}}, 8178},
		{"positional after named", []tds.Param{{Value: "SELECT @a, @b"}, {Value: "@a int, @b int"}, {Name: "@a", Value: int64(1)}, {Value: int64(2)}}, 119},
		{"output not declared so", []tds.Param{{Value: "SELECT @a"}, {Value: "@a int"}, {Name: "@a", Value: int64(1), Output: true}}, 8162},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rpc(s, "sp_executesql", tc.params...)
			if got := r.errNumbers(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("errors %v, want [%d]", got, tc.want)
			}
		})
	}
}

// TestRPCOutputParameters: OUTPUT parameters come back as RETURNVALUEs,
// after the return status, with the declared type.
func TestRPCOutputParameters(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := rpc(s, "sp_executesql",
		tds.Param{Value: "SET @out = @in * 2; SET @name = DB_NAME()"},
		tds.Param{Value: "@in int, @out int OUTPUT, @name nvarchar(128) OUTPUT"},
		tds.Param{Name: "@in", Value: int64(21)},
		tds.Param{Name: "@out", Output: true},
		tds.Param{Name: "@name", Output: true})
	if len(r.errs) > 0 || len(r.rets) != 2 {
		t.Fatalf("errors %+v, return values %+v", r.errs, r.rets)
	}
	if got := r.rets[0]; got.name != "@out" || got.ordinal != 3 || got.v != 42 || got.col.Type != tds.Int {
		t.Errorf("@out = %+v", got)
	}
	if got := r.rets[1]; got.name != "@name" || got.v != "master" || got.col.Type != tds.NVarChar || got.col.Size != 128 {
		t.Errorf("@name = %+v", got)
	}
	if len(r.status) != 1 || r.status[0] != 0 {
		t.Errorf("return status %v", r.status)
	}
}

// TestPreparedStatements: sp_prepare, sp_execute, sp_prepexec and
// sp_unprepare, handles per session.
func TestPreparedStatements(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := rpc(s, "sp_prepare",
		tds.Param{Name: "@handle", Output: true},
		tds.Param{Value: "@id int"},
		tds.Param{Value: "SELECT name FROM sys.databases WHERE database_id = @id"},
		tds.Param{Value: int64(1)})
	if len(r.errs) > 0 || len(r.rets) != 1 || r.rets[0].name != "@handle" {
		t.Fatalf("sp_prepare: errors %+v, return values %+v", r.errs, r.rets)
	}
	h := int64(r.rets[0].v.(int))
	for id, want := range map[int64]string{1: "master", 6: "inventory"} {
		r = rpc(s, "sp_execute", tds.Param{Value: h}, tds.Param{Value: id})
		if len(r.errs) > 0 || r.col(t, 0, "name")[0] != want {
			t.Errorf("sp_execute %d: %+v %+v", id, r.errs, r.sets)
		}
	}
	// Another session does not see this handle.
	other := l.session(t)
	if got := rpc(other, "sp_execute", tds.Param{Value: h}, tds.Param{Value: int64(1)}).errNumbers(); len(got) != 1 || got[0] != 8179 {
		t.Errorf("other session's sp_execute: %v, want [8179]", got)
	}
	r = rpc(s, "sp_prepexec",
		tds.Param{Name: "@h", Output: true},
		tds.Param{Value: "@n nvarchar(20)"},
		tds.Param{Value: "SELECT DB_ID(@n) AS id"},
		tds.Param{Value: "payroll"})
	if len(r.errs) > 0 || len(r.rets) != 1 || r.col(t, 0, "id")[0] == nil {
		t.Fatalf("sp_prepexec: %+v %+v %+v", r.errs, r.sets, r.rets)
	}
	h2 := int64(r.rets[0].v.(int))
	if h2 == h {
		t.Errorf("sp_prepexec reused handle %d", h)
	}
	if got := rpc(s, "sp_unprepare", tds.Param{Value: h}).errNumbers(); len(got) != 0 {
		t.Errorf("sp_unprepare: %v", got)
	}
	if got := rpc(s, "sp_execute", tds.Param{Value: h}, tds.Param{Value: int64(1)}).errNumbers(); len(got) != 1 || got[0] != 8179 {
		t.Errorf("sp_execute after unprepare: %v, want [8179]", got)
	}
	// A syntax error is reported at prepare time.
	r = rpc(s, "sp_prepare", tds.Param{Output: true}, tds.Param{Value: ""}, tds.Param{Value: "SELECT FROM"})
	if got := r.errNumbers(); len(got) == 0 {
		t.Errorf("sp_prepare of bad SQL: no error")
	}
	// T-SQL reaches the same procedures.
	r = mustRun(t, s, "DECLARE @h int; EXEC sp_prepare @h OUTPUT, N'@x int', N'SELECT @x + 1 AS y'; EXEC sp_execute @h, 41; EXEC sp_unprepare @h")
	if r.col(t, 0, "y")[0] != 42 {
		t.Errorf("T-SQL prepared: %+v", r.sets)
	}
}

// TestTransactions: BEGIN/COMMIT/ROLLBACK, @@TRANCOUNT, 3902/3903, the
// rollback of catalogue changes, statements refused in a transaction.
func TestTransactions(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	trancount := func() any { return mustRun(t, s, "SELECT @@TRANCOUNT AS n").col(t, 0, "n")[0] }
	if got := run(t, s, "COMMIT").errNumbers(); len(got) != 1 || got[0] != 3902 {
		t.Errorf("COMMIT without BEGIN: %v", got)
	}
	if got := run(t, s, "ROLLBACK TRANSACTION").errNumbers(); len(got) != 1 || got[0] != 3903 {
		t.Errorf("ROLLBACK without BEGIN: %v", got)
	}
	r := mustRun(t, s, "BEGIN TRAN; BEGIN TRANSACTION t2")
	if trancount() != 2 || len(r.txs) != 1 || r.txs[0] != tds.TxBegin {
		t.Errorf("after two BEGINs: @@TRANCOUNT %v, changes %v", trancount(), r.txs)
	}
	mustRun(t, s, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'")
	r = mustRun(t, s, "COMMIT")
	if trancount() != 1 || len(r.txs) != 0 {
		t.Errorf("inner COMMIT: @@TRANCOUNT %v, changes %v", trancount(), r.txs)
	}
	r = mustRun(t, s, "ROLLBACK")
	if trancount() != 0 || len(r.txs) != 1 || r.txs[0] != tds.TxRollback {
		t.Errorf("ROLLBACK: @@TRANCOUNT %v, changes %v", trancount(), r.txs)
	}
	keys := func() int {
		return len(mustRun(t, s, "SELECT name FROM sys.symmetric_keys WHERE name = '##MS_DatabaseMasterKey##'").sets[0].rows)
	}
	if keys() != 0 {
		t.Error("the master key created in a rolled-back transaction is still there")
	}
	r = mustRun(t, s, "BEGIN TRAN; CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'; COMMIT TRAN")
	if keys() != 1 || len(r.txs) != 2 || r.txs[1] != tds.TxCommit {
		t.Errorf("committed master key: %d keys, changes %v", keys(), r.txs)
	}
	// Refused inside a transaction, with SQL Server's numbers.
	mustRun(t, s, "BEGIN TRAN")
	if got := run(t, s, "BACKUP DATABASE inventory TO DISK = '/var/opt/mssql/backup/i.bak'").errNumbers(); len(got) != 2 || got[0] != 3021 || got[1] != 3013 {
		t.Errorf("BACKUP in a transaction: %v", got)
	}
	if got := run(t, s, "ALTER DATABASE sales SET RECOVERY FULL").errNumbers(); len(got) != 1 || got[0] != 226 {
		t.Errorf("ALTER DATABASE in a transaction: %v", got)
	}
	mustRun(t, s, "ROLLBACK")
	// Closing the connection rolls back.
	mustRun(t, s, "BEGIN TRAN; DROP MASTER KEY")
	s.Close()
	if keys() != 1 {
		t.Error("closing the session did not roll back DROP MASTER KEY")
	}
}

// TestXactAbort: with XACT_ABORT ON a run-time error rolls back and ends
// the batch; OFF, only the statement fails.
func TestXactAbort(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := run(t, s, "BEGIN TRAN; SELECT 1/0; SELECT @@TRANCOUNT AS n")
	if len(r.sets) != 1 || r.col(t, 0, "n")[0] != 1 {
		t.Errorf("XACT_ABORT OFF: sets %+v errors %v", r.sets, r.errNumbers())
	}
	mustRun(t, s, "ROLLBACK")
	r = run(t, s, "SET XACT_ABORT ON; BEGIN TRAN; SELECT 1/0; SELECT @@TRANCOUNT AS n")
	if len(r.sets) != 0 || len(r.txs) != 2 || r.txs[1] != tds.TxRollback {
		t.Errorf("XACT_ABORT ON: sets %+v changes %v", r.sets, r.txs)
	}
	if got := mustRun(t, s, "SELECT @@TRANCOUNT AS n").col(t, 0, "n")[0]; got != 0 {
		t.Errorf("@@TRANCOUNT after the abort = %v", got)
	}
}

// TestTransactionManagerAndReset: TM requests and a connection reset.
func TestTransactionManagerAndReset(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := &recorder{}
	s.Transact(context.Background(), tds.TMRequest{Kind: tds.TMCommit}, r)
	if got := r.errNumbers(); len(got) != 1 || got[0] != 3902 {
		t.Errorf("TM commit without a transaction: %v", got)
	}
	r = &recorder{}
	s.Transact(context.Background(), tds.TMRequest{Kind: tds.TMBegin, Isolation: 2}, r)
	if len(r.txs) != 1 || r.txs[0] != tds.TxBegin {
		t.Errorf("TM begin: %v", r.txs)
	}
	mustRun(t, s, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd'; USE inventory; SET NOCOUNT ON")
	s.ResetSession(true) // SKIPTRAN: the transaction stays
	if got := mustRun(t, s, "SELECT @@TRANCOUNT AS n, DB_NAME() AS d").sets[0].rows[0]; got[0] != 1 || got[1] != "master" {
		t.Errorf("after RESETCONNECTIONSKIPTRAN: %v", got)
	}
	s.ResetSession(false)
	if got := mustRun(t, s, "SELECT @@TRANCOUNT AS n").col(t, 0, "n")[0]; got != 0 {
		t.Errorf("after RESETCONNECTION: @@TRANCOUNT %v", got)
	}
	if n := len(mustRun(t, s, "SELECT name FROM sys.symmetric_keys").sets[0].rows); n != 0 {
		t.Errorf("the reset did not roll back the master key")
	}
}

// TestMessageLines: errors and PRINT carry their statement's line.
func TestMessageLines(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := run(t, s, "SELECT 1\nPRINT 'two'\nIF 1 = 1\nBEGIN\n  SELECT 1/0\nEND\nSELECT nosuchcol FROM sys.databases")
	if len(r.infos) != 1 || r.infos[0].Line != 2 {
		t.Errorf("PRINT: %+v", r.infos)
	}
	if len(r.errs) != 2 || r.errs[0].Line != 5 || r.errs[1].Line != 7 {
		t.Errorf("errors: %+v", r.errs)
	}
	r = run(t, s, "SELECT 1\n\nSELECT FROM")
	if len(r.errs) != 1 || r.errs[0].Line != 3 {
		t.Errorf("syntax error: %+v", r.errs)
	}
}
