package engine

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/milink/milink/lab/tds"
)

// TestThroughGoMSSQLDB runs the refresh batch and the procedure's HADR
// query through the real TDS server and the real client.
func TestThroughGoMSSQLDB(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	srv := tds.NewServer(l.inst.Handler(), tds.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", "Lab-Passw0rd!", port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var banner, version string
	var update, hadr, pack any
	if err := db.QueryRowContext(ctx, "SELECT @@VERSION, SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductUpdateLevel'), SERVERPROPERTY('IsHadrEnabled'), OBJECT_ID(N'master.sys.sp_certificate_add_issuer')").Scan(&banner, &version, &update, &hadr, &pack); err != nil {
		t.Fatal(err)
	}
	if version != "15.0.4322.2" || update != "CU22" || fmt.Sprint(hadr) != "0" || pack == nil {
		t.Errorf("got %q %v %v %v", version, update, hadr, pack)
	}
	rows, err := db.QueryContext(ctx, refreshSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	sets := 0
	for {
		for rows.Next() {
		}
		sets++
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if sets != 10 { // no flag enabled: DBCC TRACESTATUS sends no result set
		t.Errorf("result sets = %d", sets)
	}
	var status string
	if err := db.QueryRowContext(ctx, procedureSQL(t, "hadr-check.sql")).Scan(&hadr, &status); err != nil {
		t.Fatal(err)
	}
	if status != "The AlwaysOn availability groups is disabled." {
		t.Errorf("status = %q", status)
	}
	_, err = db.ExecContext(ctx, "ALTER DATABASE [master] SET RECOVERY FULL")
	var me mssql.Error
	if !asMSSQL(err, &me) || me.Number != 5058 {
		t.Errorf("err = %v", err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM sys.databases WHERE database_id = @p1", 6).Scan(&name); err != nil || name != "inventory" {
		t.Errorf("param query: %q %v", name, err)
	}
}

func asMSSQL(err error, out *mssql.Error) bool {
	e, ok := err.(mssql.Error)
	if ok {
		*out = e
	}
	return ok
}
