package tds

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHandler admits sa/pw and answers a handful of canned batches; it is
// the smallest engine that exercises every part of the ResponseWriter.
type testHandler struct {
	mu       sync.Mutex
	lastRPC  string
	params   []Param
	closed   int
	release  chan struct{} // "progress" waits on it between messages
	attnSeen chan struct{} // "slow" reports its cancellation here
	tms      []TMRequest
	resets   []bool
}

func newTestHandler() *testHandler {
	return &testHandler{release: make(chan struct{}), attnSeen: make(chan struct{}, 10)}
}

func (h *testHandler) Login(ctx context.Context, req LoginRequest) (Session, *Message) {
	if req.User != "sa" || req.Password != "pw" {
		return nil, &Message{Number: 18456, State: 1, Class: 14, Text: fmt.Sprintf("Login failed for user '%s'.", req.User)}
	}
	db := req.Database
	if db == "" {
		db = "master"
	}
	return &testSession{h: h, db: db}, nil
}

type testSession struct {
	h  *testHandler
	db string
	tx int
}

func (s *testSession) Database() string { return s.db }
func (s *testSession) Close() {
	s.h.mu.Lock()
	s.h.closed++
	s.h.mu.Unlock()
}

var (
	testTime  = time.Date(2024, 3, 5, 13, 14, 15, 123_000_000, time.UTC)
	testTime2 = time.Date(2024, 3, 5, 13, 14, 15, 123_456_700, time.UTC)
	testGUID  = [16]byte{0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x78, 0x56, 1, 2, 3, 4, 5, 6, 7, 8}
)

func allTypeColumns() []Column {
	return []Column{
		{Name: "i", Type: Int, Nullable: true},
		{Name: "bi", Type: BigInt, Nullable: true},
		{Name: "si", Type: SmallInt, Nullable: true},
		{Name: "ti", Type: TinyInt, Nullable: true},
		{Name: "b", Type: Bit, Nullable: true},
		{Name: "f", Type: Float, Nullable: true},
		{Name: "lsn", Type: Decimal, Size: 25, Nullable: true},
		{Name: "nv", Type: NVarChar, Size: 50, Nullable: true},
		{Name: "nvmax", Type: NVarChar, Size: -1, Nullable: true},
		{Name: "vc", Type: VarChar, Size: 20, Nullable: true},
		{Name: "vb", Type: VarBinary, Size: 10, Nullable: true},
		{Name: "vbmax", Type: VarBinary, Size: -1, Nullable: true},
		{Name: "dt", Type: DateTime, Nullable: true},
		{Name: "dt2", Type: DateTime2, Nullable: true},
		{Name: "g", Type: UniqueIdentifier, Nullable: true},
		{Name: "v", Type: Variant, Nullable: true},
	}
}

func allTypeValues() []any {
	return []any{
		int32(-7), int64(1) << 40, int16(-300), uint8(200), true, 2.5,
		"98000000012345600001", "héllo wörld ☃", strings.Repeat("ab", 3000), "café",
		[]byte{1, 2, 3}, []byte{}, testTime, testTime2, testGUID, "variant text",
	}
}

func (s *testSession) Batch(ctx context.Context, sql string, w ResponseWriter) {
	q := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sql), ";")))
	switch q {
	case "select 1":
		w.Columns([]Column{{Type: Int}})
		w.Row(1)
		w.Done(1)
	case "alltypes":
		w.Columns(allTypeColumns())
		w.Row(allTypeValues()...)
		w.Row(make([]any, len(allTypeColumns()))...)
		w.Done(2)
		w.Columns([]Column{{Name: "base", Type: NVarChar, Size: 20}, {Name: "val", Type: Variant, Nullable: true}})
		// FreeTDS keeps the character conversion of a string variant for
		// the rest of the column and then fails on a non-string one, so the
		// string comes last (go-mssqldb does not care).
		w.Row("int", 42)
		w.Row("bigint", int64(1)<<40)
		w.Row("bit", true)
		w.Row("datetime", testTime)
		w.Row("null", nil)
		w.Row("nvarchar", "Enterprise Edition")
		w.Done(6)
		w.Columns([]Column{{Name: "empty", Type: Int}})
		w.Done(0)
	case "progress":
		w.Info(Message{Number: 3211, State: 1, Class: 0, Text: "10 percent processed."})
		w.Flush()
		select {
		case <-s.h.release:
		case <-ctx.Done():
			return
		}
		w.Info(Message{Number: 3211, State: 1, Class: 0, Text: "100 percent processed."})
		w.Columns([]Column{{Name: "done", Type: Bit}})
		w.Row(true)
		w.Done(1)
	case "fail":
		w.Error(Message{Number: 50001, State: 3, Class: 16, Text: "custom failure", Procedure: "p", Line: 7})
		w.Done(-1)
	case "update":
		w.Done(3)
		w.Done(4)
	case "nothing":
	case "big":
		w.Columns([]Column{{Name: "n", Type: Int}, {Name: "s", Type: NVarChar, Size: 300}})
		for i := 0; i < 1000; i++ {
			w.Row(i, fmt.Sprintf("%04d%s", i, strings.Repeat("x", 200)))
		}
		w.Done(1000)
	case "slow":
		select {
		case <-ctx.Done():
			s.h.attnSeen <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	case "abort":
		w.Columns([]Column{{Name: "n", Type: Int}})
		w.Row(1)
		w.Flush()
		w.Abort()
	default:
		w.Error(Message{Number: 102, State: 1, Class: 15, Text: fmt.Sprintf("Incorrect syntax near '%s'.", q), Line: 1})
	}
}

func (s *testSession) RPC(ctx context.Context, proc string, params []Param, w ResponseWriter) {
	s.h.mu.Lock()
	s.h.lastRPC, s.h.params = proc, params
	s.h.mu.Unlock()
	if proc == "myproc" {
		w.Columns([]Column{{Name: "n", Type: Int}})
		w.Row(params[0].Value)
		w.Done(1)
		w.ReturnStatus(42)
		return
	}
	if proc != "sp_executesql" {
		// go-mssqldb sends a lone identifier ("big") as an RPC by name.
		s.Batch(ctx, proc, w)
		return
	}
	// sp_executesql: echo every value after the statement and declarations.
	if len(params) < 2 {
		w.Error(Message{Number: 201, State: 4, Class: 16, Text: "Procedure expects parameter '@statement'."})
		return
	}
	var cols []Column
	var vals []any
	for _, p := range params[2:] {
		c := Column{Name: strings.TrimPrefix(p.Name, "@"), Nullable: true}
		v := p.Value
		switch x := v.(type) {
		case string:
			c.Type, c.Size = NVarChar, -1
		case int64:
			c.Type = BigInt
		case bool:
			c.Type = Bit
		case float64:
			c.Type = Float
		case []byte:
			c.Type, c.Size = VarBinary, -1
		case time.Time:
			c.Type, v = DateTime2, x.UTC()
		case nil:
			c.Type = NVarChar
		}
		cols = append(cols, c)
		vals = append(vals, v)
	}
	if len(cols) == 0 {
		w.Done(-1)
		return
	}
	w.Columns(cols)
	w.Row(vals...)
	w.Done(1)
	// OUTPUT parameters come back doubled (ints) or as sent, after the
	// return status.
	w.ReturnStatus(0)
	for i, p := range params {
		if !p.Output || i < 2 {
			continue
		}
		v := p.Value
		if n, ok := v.(int64); ok {
			v = 2 * n
		}
		w.ReturnValue(i, p.Name, cols[i-2], v)
	}
}

// Transact answers transaction manager requests with the ENVCHANGEs, so
// the client's BeginTx/Commit/Rollback see a transaction come and go.
func (s *testSession) Transact(ctx context.Context, req TMRequest, w ResponseWriter) {
	s.h.mu.Lock()
	s.h.tms = append(s.h.tms, req)
	s.h.mu.Unlock()
	switch req.Kind {
	case TMBegin:
		s.tx++
		w.Transaction(TxBegin, uint64(s.tx))
	case TMCommit:
		w.Transaction(TxCommit, uint64(s.tx))
	case TMRollback:
		w.Transaction(TxRollback, uint64(s.tx))
	}
}

func (s *testSession) ResetSession(keepTransaction bool) {
	s.h.mu.Lock()
	s.h.resets = append(s.h.resets, keepTransaction)
	s.h.mu.Unlock()
}

// startServer serves h on a free loopback port until the test ends.
func startServer(t testing.TB, h Handler, opts Options) (*Server, string) {
	t.Helper()
	return startServerHook(t, h, opts, func(r any) { t.Errorf("server panicked: %v", r) })
}

// startServerHook is startServer with a chosen panic hook (the fuzz target
// checks for panics itself, from its own goroutine).
func startServerHook(t testing.TB, h Handler, opts Options, onPanic func(any)) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName == "" {
		opts.ServerName = "LABSQL"
	}
	srv := NewServer(h, opts)
	srv.onPanic = onPanic
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
	return srv, l.Addr().String()
}
