package sqlserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/milink/milink/lab/tds"
	"github.com/milink/milink/resources"
)

// bound fails the test if f does not return within limit: every wait on the
// network must end on its own.
func bound(t *testing.T, limit time.Duration, f func() error) (time.Duration, error) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("still waiting after %s", limit)
		return 0, nil
	}
}

// faults is a statement hook for the lab: per statement matching a
// substring, what the server does (drop, error, stall) and how many times.
type faults struct {
	mu    sync.Mutex
	rules []*rule
	stall chan struct{} // closed at cleanup: stalled statements go on then
}

type rule struct {
	match string
	do    string // "drop", "error", "stall"
	times int
}

func (f *faults) add(match, do string, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &rule{match: match, do: do, times: times})
}

func (f *faults) hook(_ int64, stmt string) (bool, *tds.Message) {
	f.mu.Lock()
	var r *rule
	for _, x := range f.rules {
		if x.times > 0 && strings.Contains(stmt, x.match) {
			x.times--
			r = x
			break
		}
	}
	f.mu.Unlock()
	if r == nil {
		return false, nil
	}
	switch r.do {
	case "drop":
		return true, nil
	case "stall":
		// A server that stops answering and ignores ATTENTION: the
		// session is stuck in this hook.
		<-f.stall
		return false, nil
	}
	return false, &tds.Message{Number: 50000, Class: 16, State: 1, Text: "injected error."}
}

func withFaults(t *testing.T, l *lab) *faults {
	f := &faults{stall: make(chan struct{})}
	l.inst.SetStatementHook(f.hook)
	t.Cleanup(func() { close(f.stall) })
	return f
}

// salesChange is the plan's change of database.sales on a fresh lab.
func salesChange(t *testing.T, i *Instance) resources.Change {
	t.Helper()
	return databaseChange(t, i, "database.sales")
}

// A dropped connection under BACKUP ends the backup with an error at once
// (the driver's message loop alone waited for ever), naming the server and
// saying the backup's fate is unknown; the next statement reconnects.
func TestRunDroppedBackup(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	f := withFaults(t, l)
	s := l.config()
	i := l.open(t, s)
	ch := salesChange(t, i)
	f.add("BACKUP DATABASE", "drop", 1)
	took, err := bound(t, 20*time.Second, func() error {
		_, err := applyChange(context.Background(), i, s, ch, nil)
		return err
	})
	if took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	want := fmt.Sprintf("the connection to sql01 (127.0.0.1:%d) was lost (the server closed it); whether the statement ran is unknown", l.port)
	if err == nil || !strings.HasPrefix(err.Error(), "database.sales: backup to /var/opt/mssql/backup/sales_") || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v", err)
	}
	var notes []string
	i.Notify = func(m string) { notes = append(notes, m) }
	if _, err := i.refresh(context.Background()); err != nil {
		t.Fatalf("the next statement: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "was lost (the server closed it); reconnected") {
		t.Errorf("notes %q", notes)
	}
}

// An error on the first statement of a batch leaves the rest of the reply
// to be read; it used to be left on the connection, and the next query
// waited for ever. Now the whole reply is read, the error returned, and
// the connection stays usable (no new login).
func TestRunErrorThenNextStatement(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	f := withFaults(t, l)
	s := l.config()
	i := l.open(t, s)
	f.add("SET NOCOUNT ON", "error", 1)
	_, err := bound(t, 20*time.Second, func() error {
		_, _, err := i.readDatabase(context.Background(), "database.sales", "sales")
		return err
	})
	if err == nil || err.Error() != "database.sales: reading the database: injected error. (SQL Server error 50000)" || SQLErrorNumber(err) != 50000 {
		t.Fatalf("err = %v", err)
	}
	logins := l.inst.Counters().Logins
	_, err = bound(t, 20*time.Second, func() error {
		_, _, err := i.readDatabase(context.Background(), "database.inventory", "inventory")
		return err
	})
	if err != nil {
		t.Fatalf("the next statement: %v", err)
	}
	if n := l.inst.Counters().Logins - logins; n != 0 {
		t.Errorf("%d new logins after a SQL Server error", n)
	}
}

// What a broken connection does to each kind of statement, table-driven:
// reads are sent again once, on a new connection, with a message; a change
// that was sent is not; a statement that breaks twice fails.
func TestRunLostConnection(t *testing.T) {
	tests := []struct {
		name    string
		drops   int
		match   string
		run     func(i *Instance) error
		wantErr string // "" = success
		notes   int
	}{
		{"read retried", 1, "SELECT d.name",
			func(i *Instance) error {
				_, _, err := i.readDatabase(context.Background(), "database.sales", "sales")
				return err
			},
			"", 1},
		{"read dropped twice", 2, "SELECT d.name",
			func(i *Instance) error {
				_, _, err := i.readDatabase(context.Background(), "database.sales", "sales")
				return err
			},
			"database.sales: reading the database: the connection to sql01 (127.0.0.1:PORT) was lost (the server closed it) again after reconnecting", 1},
		{"refresh retried", 1, "DBCC TRACESTATUS",
			func(i *Instance) error { _, err := i.refresh(context.Background()); return err },
			"", 1},
		{"change not sent again", 1, "ALTER DATABASE",
			func(i *Instance) error {
				return i.exec(context.Background(), RecoveryFullSQL("sales"), RecoveryFullSQL("sales"))
			},
			"the connection to sql01 (127.0.0.1:PORT) was lost (the server closed it); whether the statement ran is unknown (the next plan reads what it did)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, "2019-cu22-linux")
			f := withFaults(t, l)
			i := l.open(t, l.config())
			var notes []string
			i.Notify = func(m string) { notes = append(notes, m) }
			f.add(tt.match, "drop", tt.drops)
			_, err := bound(t, 20*time.Second, func() error { return tt.run(i) })
			want := strings.ReplaceAll(tt.wantErr, "PORT", fmt.Sprint(l.port))
			switch {
			case want == "" && err != nil:
				t.Fatalf("err = %v", err)
			case want != "" && (err == nil || err.Error() != want):
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if len(notes) != tt.notes {
				t.Errorf("notes %q, want %d", notes, tt.notes)
			}
			if tt.notes > 0 && !strings.Contains(notes[0], "sending the statement") {
				t.Errorf("note %q does not say the statement is sent again", notes[0])
			}
		})
	}
}

// A connection the server closed while idle (a restart, a killed session)
// is noticed before the next statement is sent: even a change is then sent
// on a new connection, since the server cannot have run it.
func TestRunIdleConnectionClosed(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	i := l.open(t, l.config())
	var notes []string
	i.Notify = func(m string) { notes = append(notes, m) }
	l.srv.CloseConnections()
	time.Sleep(50 * time.Millisecond) // the FIN arrives
	q := RecoveryFullSQL("sales")
	if err := i.exec(context.Background(), q, q); err != nil {
		t.Fatalf("err = %v", err)
	}
	if len(notes) != 1 || !strings.HasSuffix(notes[0], "was lost (the server closed it); reconnected") {
		t.Errorf("notes %q", notes)
	}
	if got := l.changed(); len(got) != 1 || got[0] != "ALTER DATABASE [sales] SET RECOVERY FULL" {
		t.Errorf("changes %q", got)
	}
}

// A server that stops answering, ATTENTION included: the statement fails
// at StatementTimeout, and the socket is closed under the driver after the
// grace it has to cancel politely. The next statement reconnects.
func TestRunStatementTimeout(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	f := withFaults(t, l)
	s := l.config()
	i := l.open(t, s)
	i.StatementTimeout = 300 * time.Millisecond
	i.cancelGrace = 300 * time.Millisecond
	f.add("BACKUP DATABASE", "stall", 1)
	ch := salesChange(t, i)
	took, err := bound(t, 20*time.Second, func() error {
		_, err := applyChange(context.Background(), i, s, ch, nil)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "failed: did not finish within 300ms (statement_timeout); milink asked SQL Server to cancel it") ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("took %s with a 300ms timeout and 300ms grace", took)
	}
	i.StatementTimeout = 0
	if _, err := i.refresh(context.Background()); err != nil {
		t.Fatalf("the next statement: %v", err)
	}
}

// Ctrl-C: a change under way runs to its end (within its own deadline), a
// read under way stops, and nothing new starts.
func TestRunInterrupt(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	i := l.open(t, l.config())
	release := make(chan struct{})
	var entered atomic.Bool
	l.inst.SetStatementHook(func(_ int64, stmt string) (bool, *tds.Message) {
		if strings.HasPrefix(stmt, "ALTER DATABASE") {
			entered.Store(true)
			<-release // a slow ALTER
		}
		return false, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !entered.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
		close(release)
	}()
	q := RecoveryFullSQL("sales")
	if err := i.exec(ctx, q, q); err != nil {
		t.Fatalf("the change under way was stopped: %v", err)
	}
	if got := l.changed(); len(got) != 1 {
		t.Errorf("changes %q", got)
	}
	err := i.exec(ctx, q, q)
	if err == nil || err.Error() != "not started: interrupted" || !errors.Is(err, context.Canceled) {
		t.Errorf("a change after the interrupt: %v", err)
	}
	_, _, err = i.readDatabase(ctx, "database.sales", "sales")
	if err == nil || err.Error() != "database.sales: reading the database: not started: interrupted" {
		t.Errorf("a read after the interrupt: %v", err)
	}
}

// netReason turns the driver's errors into words.
func TestNetReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "Read", Err: io.EOF}, "the server closed it"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "the server reset it"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}, "the server stopped answering TCP keepalives"},
		{net.ErrClosed, "milink closed it after the driver did not stop"},
		{driver.ErrBadConn, "the driver found it broken"},
		{&net.OpError{Op: "write", Err: errors.New("broken pipe")}, "broken pipe"},
		{nil, "it was closed"},
	}
	for _, tt := range tests {
		if got := netReason(tt.err); got != tt.want {
			t.Errorf("netReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// An error that already names its object is not named twice by sqlError;
// a bare one gets the object and the step.
func TestSQLErrorKeepsNamedErrors(t *testing.T) {
	s := sql01()
	named := &stmtError{addr: "database.sales", what: "reading the database", err: io.EOF}
	if got := sqlError(s, "database.sales", "backup", named).Error(); got != "database.sales: reading the database: EOF" {
		t.Errorf("got %q", got)
	}
	bare := &stmtError{err: &lostError{server: "sql01 (h:1)", cause: io.EOF, mayHaveRun: true}}
	want := "database.sales: backup to /b/x.bak failed: the connection to sql01 (h:1) was lost (the server closed it); whether the statement ran is unknown (the next plan reads what it did)"
	if got := sqlError(s, "database.sales", "backup to /b/x.bak failed", bare).Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// The statement runner reads replies through the driver's message queue;
// what it returns must be what database/sql's plain reader (readSets)
// returns for the same batches.
func TestRunReadsWhatPlainQueryReads(t *testing.T) {
	l := startLab(t, "2019-cu20-windows")
	s := l.config()
	i := l.open(t, s)
	ctx := context.Background()
	for _, q := range []string{refreshSQL, DatabaseSQL("sales"), registrySQL, DirectoryCheckSQL(0, []string{`C:\x`, `D:\`})} {
		got, err := i.run(ctx, stmt{addr: s.Addr(), what: "reading", log: q, text: q})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := i.conn.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := readSets(rows)
		rows.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%.40q...:\nrun:      %v\nreadSets: %v", q, got, want)
		}
	}
}

// readSets drains every result set of rows with database/sql alone: the
// reference the statement runner is compared with.
func readSets(rows *sql.Rows) ([]resultSet, error) {
	var sets []resultSet
	for {
		cols, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		rs := resultSet{}
		for _, c := range cols {
			rs.cols = append(rs.cols, strings.ToLower(c))
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, err
			}
			rs.rows = append(rs.rows, vals)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(cols) > 0 {
			sets = append(sets, rs)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return sets, rows.Err()
}
