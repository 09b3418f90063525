package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/milink/milink/lab/tds"
)

type resultSet struct {
	cols []tds.Column
	rows [][]any
}

// recorder is a tds.ResponseWriter that keeps everything written to it.
type recorder struct {
	sets    []*resultSet
	infos   []tds.Message
	errs    []tds.Message
	dones   []int64
	status  []int32
	flushes int
	aborted bool
	order   []string // "cols", "info:N", "err:N", "done", "flush", "ret:NAME", "tx:N"
	rets    []returned
	raw     [][]any // rows as written, sql_variant values with their base type
	txs     []tds.TxChange
}

// returned is one RETURNVALUE.
type returned struct {
	ordinal int
	name    string
	col     tds.Column
	v       any
}

func (r *recorder) Columns(c []tds.Column) error {
	r.sets = append(r.sets, &resultSet{cols: c})
	r.order = append(r.order, "cols")
	return nil
}
func (r *recorder) Row(v ...any) error {
	if len(r.sets) == 0 {
		return errors.New("row before columns")
	}
	s := r.sets[len(r.sets)-1]
	if len(v) != len(s.cols) {
		return fmt.Errorf("row has %d values for %d columns", len(v), len(s.cols))
	}
	// Tests compare values; a sql_variant's base type is kept in raw.
	r.raw = append(r.raw, append([]any(nil), v...))
	for i, x := range v {
		if vv, ok := x.(tds.VariantValue); ok {
			v[i] = vv.Value
		}
	}
	s.rows = append(s.rows, v)
	return nil
}
func (r *recorder) Done(n int64) error {
	r.dones = append(r.dones, n)
	r.order = append(r.order, "done")
	return nil
}
func (r *recorder) Info(m tds.Message) error {
	r.infos = append(r.infos, m)
	r.order = append(r.order, fmt.Sprintf("info:%d", m.Number))
	return nil
}
func (r *recorder) Error(m tds.Message) error {
	r.errs = append(r.errs, m)
	r.order = append(r.order, fmt.Sprintf("err:%d", m.Number))
	return nil
}
func (r *recorder) ReturnStatus(s int32) error { r.status = append(r.status, s); return nil }
func (r *recorder) Flush() error {
	r.flushes++
	r.order = append(r.order, "flush")
	return nil
}
func (r *recorder) Abort() { r.aborted = true }
func (r *recorder) ReturnValue(ordinal int, name string, col tds.Column, v any) error {
	r.rets = append(r.rets, returned{ordinal, name, col, v})
	r.order = append(r.order, "ret:"+name)
	return nil
}
func (r *recorder) Transaction(c tds.TxChange, _ uint64) error {
	r.txs = append(r.txs, c)
	r.order = append(r.order, fmt.Sprintf("tx:%d", c))
	return nil
}

func (r *recorder) errNumbers() []int32 {
	var out []int32
	for _, e := range r.errs {
		out = append(out, e.Number)
	}
	return out
}

func (r *recorder) infoTexts() []string {
	var out []string
	for _, m := range r.infos {
		out = append(out, m.Text)
	}
	return out
}

// col returns the values of the named column of result set n.
func (r *recorder) col(t *testing.T, n int, name string) []any {
	t.Helper()
	if n >= len(r.sets) {
		t.Fatalf("no result set %d (have %d); errors %v", n, len(r.sets), r.errs)
	}
	s := r.sets[n]
	for ci, c := range s.cols {
		if strings.EqualFold(c.Name, name) {
			var out []any
			for _, row := range s.rows {
				out = append(out, row[ci])
			}
			return out
		}
	}
	t.Fatalf("result set %d has no column %q: %+v", n, name, s.cols)
	return nil
}

// fakeHost listens on nothing real: ports are tracked in a map, and Dial
// succeeds for addresses in reach.
type fakeHost struct {
	mu    sync.Mutex
	open  map[int]bool
	busy  map[int]bool
	reach map[string]bool
	dials []string
}

func newFakeHost() *fakeHost {
	return &fakeHost{open: map[int]bool{}, busy: map[int]bool{}, reach: map[string]bool{}}
}

type closer func()

func (c closer) Close() error { c(); return nil }

func (h *fakeHost) Listen(port int) (io.Closer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[port] || h.open[port] {
		return nil, fmt.Errorf("listen tcp :%d: address already in use", port)
	}
	h.open[port] = true
	return closer(func() {
		h.mu.Lock()
		delete(h.open, port)
		h.mu.Unlock()
	}), nil
}

func (h *fakeHost) Dial(ctx context.Context, address string, port int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dials = append(h.dials, fmt.Sprintf("%s:%d", address, port))
	return h.reach[fmt.Sprintf("%s:%d", address, port)]
}

func (h *fakeHost) isOpen(port int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open[port]
}

type lab struct {
	inst *Instance
	host *fakeHost
	dir  string
	root string
	opts Options
}

func newLab(t *testing.T, profile, seed string) *lab {
	t.Helper()
	p, ok := LookupProfile(profile)
	if !ok {
		t.Fatalf("no profile %q", profile)
	}
	dir, root := t.TempDir(), t.TempDir()
	h := newFakeHost()
	opts := Options{Name: "sql01", Profile: p, DataDir: dir, FSRoot: root, Host: h, Login: "sa", Password: "Lab-Passw0rd!", Seed: seed}
	inst, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(Startup{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Stop)
	return &lab{inst: inst, host: h, dir: dir, root: root, opts: opts}
}

func (l *lab) session(t *testing.T) *Session {
	t.Helper()
	s, msg := l.inst.Handler().Login(context.Background(), tds.LoginRequest{User: "sa", Password: "Lab-Passw0rd!"})
	if msg != nil {
		t.Fatalf("login: %+v", msg)
	}
	return s.(*Session)
}

func run(t *testing.T, s *Session, sql string) *recorder {
	t.Helper()
	r := &recorder{}
	s.Batch(context.Background(), sql, r)
	return r
}

// mustRun runs sql and fails the test on any error message.
func mustRun(t *testing.T, s *Session, sql string) *recorder {
	t.Helper()
	r := run(t, s, sql)
	if len(r.errs) > 0 {
		t.Fatalf("batch %q: errors %+v", sql, r.errs)
	}
	return r
}
