package tds

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"
)

func dsn(addr, user, password, extra string) string {
	host, port, _ := net.SplitHostPort(addr)
	s := fmt.Sprintf("sqlserver://%s:%s@%s:%s?database=master&dial+timeout=5&connection+timeout=10", user, password, host, port)
	if extra != "" {
		s += "&" + extra
	}
	return s
}

func openDB(t testing.TB, addr, extra string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn(addr, "sa", "pw", extra))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPingEncryptSettings(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	for _, tc := range []struct {
		name, extra string
		wantErr     bool
	}{
		{"disable", "encrypt=disable", false},
		{"default", "", false},
		{"false", "encrypt=false", false},
		{"true fails cleanly", "encrypt=true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, addr, tc.extra)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			err := db.PingContext(ctx)
			if tc.wantErr {
				if err == nil {
					t.Fatal("ping succeeded, want an encryption error")
				}
				if time.Since(start) > 3*time.Second {
					t.Fatalf("failure took %v, want it fast", time.Since(start))
				}
				if !strings.Contains(err.Error(), "encrypt") {
					t.Fatalf("error %q does not mention encryption", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, "select 1").Scan(&n); err != nil || n != 1 {
				t.Fatalf("select 1 = %d, %v", n, err)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	db, err := sql.Open("sqlserver", dsn(addr, "sa", "nope", "encrypt=disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Ping()
	var me mssql.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not an mssql.Error", err, err)
	}
	if me.Number != 18456 || me.Class != 14 || !strings.Contains(me.Message, "Login failed for user 'sa'") {
		t.Fatalf("got %+v", me)
	}
	if strings.Contains(err.Error(), "nope") {
		t.Fatal("password leaked into the error")
	}
}

func TestAllTypes(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "encrypt=disable")
	rows, err := db.Query("alltypes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()

	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"INT", "BIGINT", "SMALLINT", "TINYINT", "BIT", "FLOAT", "DECIMAL", "NVARCHAR", "NVARCHAR",
		"VARCHAR", "VARBINARY", "VARBINARY", "DATETIME", "DATETIME2", "UNIQUEIDENTIFIER", "SQL_VARIANT"}
	for i, ct := range cts {
		if ct.DatabaseTypeName() != wantTypes[i] {
			t.Errorf("column %s: type %s, want %s", ct.Name(), ct.DatabaseTypeName(), wantTypes[i])
		}
		if n, ok := ct.Nullable(); !ok || !n {
			t.Errorf("column %s: nullable = %v, %v", ct.Name(), n, ok)
		}
	}
	if l, ok := cts[7].Length(); !ok || l != 50 {
		t.Errorf("nvarchar(50) length = %d, %v", l, ok)
	}
	if p, s, ok := cts[6].DecimalSize(); !ok || p != 25 || s != 0 {
		t.Errorf("decimal size = %d,%d,%v", p, s, ok)
	}

	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatalf("no first row: %v", rows.Err())
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	want := []any{int64(-7), int64(1) << 40, int64(-300), int64(200), true, 2.5,
		[]byte("98000000012345600001"), "héllo wörld ☃", strings.Repeat("ab", 3000), "café",
		[]byte{1, 2, 3}, []byte{}, testTime, testTime2, testGUID[:], "variant text"}
	for i := range want {
		if !equalValue(vals[i], want[i]) {
			t.Errorf("column %s = %#v, want %#v", cts[i].Name(), vals[i], want[i])
		}
	}
	if !rows.Next() {
		t.Fatal("no NULL row")
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != nil {
			t.Errorf("NULL row column %s = %#v", cts[i].Name(), v)
		}
	}
	if rows.Next() {
		t.Fatal("extra row in first result set")
	}

	if !rows.NextResultSet() {
		t.Fatalf("no variant result set: %v", rows.Err())
	}
	wantVariant := map[string]any{"int": int64(42), "bigint": int64(1) << 40, "nvarchar": "Enterprise Edition",
		"bit": true, "datetime": testTime, "null": nil}
	seen := 0
	for rows.Next() {
		var base string
		var v any
		if err := rows.Scan(&base, &v); err != nil {
			t.Fatal(err)
		}
		if !equalValue(v, wantVariant[base]) {
			t.Errorf("variant %s = %#v, want %#v", base, v, wantVariant[base])
		}
		seen++
	}
	if seen != len(wantVariant) {
		t.Errorf("saw %d variant rows", seen)
	}
	if !rows.NextResultSet() {
		t.Fatalf("no empty result set: %v", rows.Err())
	}
	if cols, _ := rows.Columns(); len(cols) != 1 || cols[0] != "empty" {
		t.Errorf("empty result set columns %v", cols)
	}
	if rows.Next() {
		t.Error("empty result set has a row")
	}
	if rows.NextResultSet() {
		t.Error("unexpected fourth result set")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func equalValue(got, want any) bool {
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	}
	return got == want
}

func TestSpExecuteSQLParams(t *testing.T) {
	h := newTestHandler()
	_, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "encrypt=disable")
	long := strings.Repeat("é", 5000)
	ts := time.Date(2023, 7, 1, 8, 30, 0, 500_000_000, time.FixedZone("", 2*3600))
	args := []any{"hello", long, "", int64(42), int32(-7), true, 3.25, []byte{9, 8, 7}, nil, ts, bytes.Repeat([]byte{1}, 9000)}
	rows, err := db.Query("select echo", args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	vals := make([]any, len(args))
	ptrs := make([]any, len(args))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	want := []any{"hello", long, "", int64(42), int64(-7), true, 3.25, []byte{9, 8, 7}, nil, ts, bytes.Repeat([]byte{1}, 9000)}
	for i := range want {
		if !equalValue(vals[i], want[i]) {
			t.Errorf("param %d echoed %#v, want %#v", i+1, trunc(vals[i]), trunc(want[i]))
		}
	}
	rows.Close()

	h.mu.Lock()
	proc, params := h.lastRPC, h.params
	h.mu.Unlock()
	if proc != "sp_executesql" {
		t.Fatalf("proc = %q", proc)
	}
	if params[0].Value != "select echo" {
		t.Errorf("statement = %#v", params[0].Value)
	}
	decl, _ := params[1].Value.(string)
	if !strings.Contains(decl, "@p1 nvarchar(") || !strings.Contains(decl, "@p4 bigint") {
		t.Errorf("declarations = %q", decl)
	}
	if params[2].Name != "@p1" {
		t.Errorf("first parameter name %q", params[2].Name)
	}
	if got, ok := params[11].Value.(time.Time); !ok || !got.Equal(ts) {
		t.Errorf("datetimeoffset param = %#v", params[11].Value)
	} else if _, off := got.Zone(); off != 2*3600 {
		t.Errorf("datetimeoffset lost its offset: %v", got)
	}
}

func trunc(v any) any {
	if s, ok := v.(string); ok && len(s) > 40 {
		return fmt.Sprintf("%s... (%d bytes)", s[:40], len(s))
	}
	if b, ok := v.([]byte); ok && len(b) > 40 {
		return fmt.Sprintf("%x... (%d bytes)", b[:20], len(b))
	}
	return v
}

func TestProcByNameAndReturnStatus(t *testing.T) {
	h := newTestHandler()
	_, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "encrypt=disable")
	var rs mssql.ReturnStatus
	var n int
	if err := db.QueryRow("myproc", sql.Named("a", 5), &rs).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("n = %d", n)
	}
	res, err := db.Exec("myproc", sql.Named("a", 6), &rs)
	if err != nil {
		t.Fatal(err)
	}
	if rs != 42 {
		t.Errorf("return status = %d, want 42", rs)
	}
	if ra, _ := res.RowsAffected(); ra != 1 {
		t.Errorf("rows affected = %d", ra)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastRPC != "myproc" || len(h.params) != 1 || h.params[0].Name != "@a" || h.params[0].Value != int64(6) {
		t.Errorf("RPC %q %+v", h.lastRPC, h.params)
	}
}

func TestInfoMessagesStreamed(t *testing.T) {
	h := newTestHandler()
	_, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "encrypt=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	retmsg := &sqlexp.ReturnMessage{}
	rows, err := db.QueryContext(ctx, "progress", retmsg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var notices []string
	var got []bool
	for active := true; active; {
		switch m := retmsg.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			notices = append(notices, m.Message.String())
			if len(notices) == 1 {
				// The statement is still running: it only goes on once
				// the first message arrived, which proves Flush streams.
				close(h.release)
			}
		case sqlexp.MsgNext:
			for rows.Next() {
				var b bool
				if err := rows.Scan(&b); err != nil {
					t.Fatal(err)
				}
				got = append(got, b)
			}
		case sqlexp.MsgNextResultSet:
			active = rows.NextResultSet()
		case sqlexp.MsgError:
			t.Fatalf("error message: %v", m.Error)
		case nil:
			t.Fatalf("no message before timeout: %v", ctx.Err())
		}
	}
	if len(notices) != 2 || notices[0] != "10 percent processed." || notices[1] != "100 percent processed." {
		t.Errorf("notices = %q", notices)
	}
	if len(got) != 1 || !got[0] {
		t.Errorf("rows = %v", got)
	}
}

func TestErrorKeepsFields(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{ServerName: "LAB1"})
	db := openDB(t, addr, "encrypt=disable")
	_, err := db.Exec("fail")
	var me mssql.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not an mssql.Error", err, err)
	}
	if me.Number != 50001 || me.Class != 16 || me.State != 3 || me.Message != "custom failure" ||
		me.ServerName != "LAB1" || me.ProcName != "p" || me.LineNo != 7 {
		t.Errorf("got %+v", me)
	}
	// The connection survives an ordinary error.
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	// Query (not Exec) reports it too.
	if _, err := db.Query("no such thing"); err == nil || !strings.Contains(err.Error(), "Incorrect syntax") {
		t.Errorf("query error = %v", err)
	}
}

func TestRowsAffected(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "encrypt=disable")
	for _, tc := range []struct {
		query string
		want  int64
	}{{"update", 7}, {"nothing", 0}, {"select 1", 1}} {
		res, err := db.Exec(tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if n, _ := res.RowsAffected(); n != tc.want {
			t.Errorf("%s: rows affected %d, want %d", tc.query, n, tc.want)
		}
	}
}

func TestReplyLargerThanPacket(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	for _, extra := range []string{"encrypt=disable", "encrypt=disable&packet+size=512", "encrypt=disable&packet+size=32767"} {
		db := openDB(t, addr, extra)
		rows, err := db.Query("big")
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for rows.Next() {
			var n int
			var s string
			if err := rows.Scan(&n, &s); err != nil {
				t.Fatal(err)
			}
			if n != i || s != fmt.Sprintf("%04d%s", i, strings.Repeat("x", 200)) {
				t.Fatalf("%s: row %d = %d %q", extra, i, n, s[:10])
			}
			i++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if i != 1000 {
			t.Fatalf("%s: %d rows", extra, i)
		}
	}
}

func TestQueryRowNoAttentionStall(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "encrypt=disable")
	db.SetMaxOpenConns(1)
	start := time.Now()
	for i := 0; i < 50; i++ {
		var n int
		if err := db.QueryRow("select 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("50 QueryRow calls took %v: attention not answered?", d)
	}
}

func TestConcurrentConnections(t *testing.T) {
	srv, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "encrypt=disable")
	db.SetMaxOpenConns(50)
	ctx := context.Background()
	var conns []*sql.Conn
	for i := 0; i < 50; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n := srv.ActiveConnections(); n != 50 {
		t.Errorf("ActiveConnections = %d, want 50", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for _, c := range conns {
		wg.Add(1)
		go func(c *sql.Conn) {
			defer wg.Done()
			for j := 0; j < 2; j++ {
				rows, err := c.QueryContext(ctx, "big")
				if err != nil {
					errs <- err
					return
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if n != 1000 {
					errs <- fmt.Errorf("%d rows", n)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestCloseConnections(t *testing.T) {
	h := newTestHandler()
	srv, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "encrypt=disable")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	srv.CloseConnections()
	if n := srv.ActiveConnections(); n != 0 {
		t.Errorf("ActiveConnections after CloseConnections = %d", n)
	}
	var n int
	if err := c.QueryRowContext(ctx, "select 1").Scan(&n); err == nil {
		t.Fatal("query on a dropped connection succeeded")
	}
	// The server still listens: a new connection works.
	if err := db.QueryRow("select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after restart: %d, %v", n, err)
	}
	waitFor(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.closed >= 1 }, "dropped session closed")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAbort(t *testing.T) {
	srv, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "encrypt=disable")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	rows, err := c.QueryContext(ctx, "abort")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if err == nil {
		t.Fatal("aborted statement reported no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("abort took %v", time.Since(start))
	}
	waitFor(t, func() bool { return srv.ActiveConnections() == 0 }, "aborted connection to go")
	var n int
	if err := db.QueryRow("select 1").Scan(&n); err != nil {
		t.Fatalf("server unusable after abort: %v", err)
	}
}

func TestAttentionCancelsRunningRequest(t *testing.T) {
	h := newTestHandler()
	_, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "encrypt=disable")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A plain cancel, not a deadline: go-mssqldb treats DeadlineExceeded
	// as a net.Error and discards the connection whatever the server does.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.ExecContext(qctx, "slow")
	if err == nil {
		t.Fatal("slow statement was not cancelled")
	}
	select {
	case <-h.attnSeen:
	case <-time.After(5 * time.Second):
		t.Fatal("session context was not cancelled by the attention")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The same connection is still good.
	var n int
	if err := c.QueryRowContext(ctx, "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after cancel: %d, %v", n, err)
	}
}
