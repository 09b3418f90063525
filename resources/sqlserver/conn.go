package sqlserver

// The statements of a run on the instance's one connection: running a
// batch, reading the startup settings, one database, a backup with its
// progress, and the wait for logins after a restart.
//
// Every statement goes through run, which makes three promises:
//
//   - It ends. Each statement has a deadline (StatementTimeout); a
//     connection that breaks ends the statement at once (guardedConn reports
//     it, TCP keepalive finds a silent peer); and if the driver is still
//     stuck cancelGrace after any of these, the socket is closed under it.
//   - It reads the whole reply, collecting every error, through go-mssqldb's
//     message queue (sqlexp). Its plain Query path returns at the first
//     error and leaves the rest of the reply unread, and the next query on
//     the connection then waits for ever for that reader to finish.
//   - A broken connection is reopened once, with a message: a statement
//     that cannot have reached the server, or that only reads, is then sent
//     again; a change that may have run is not, and its error says so.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/resources/host"
)

// DefaultStatementTimeout bounds a statement when Instance.StatementTimeout
// is zero. Every statement but a backup takes milliseconds; an hour lets a
// full backup of a database of a few hundred GB finish, and still ends a run
// whose server stopped making progress.
const DefaultStatementTimeout = time.Hour

// defaultCancelGrace is how long the driver may take to cancel a statement
// politely once it must stop (deadline, lost connection, interrupt): it
// sends ATTENTION and waits up to 5s, twice, for the server's confirmation
// (go-mssqldb's cancelDrainTimeout). A server that answers nothing at all
// would keep it reading for ever; after this grace the socket is closed.
const defaultCancelGrace = 12 * time.Second

// stmt is one batch milink sends, and what it is for.
type stmt struct {
	// addr is the object the statement acts for, and what milink is doing
	// ("reading the database"): errors start with both. Both empty: the
	// caller wraps the error (exec and backup, whose callers name the
	// object and step).
	addr, what string
	log, text  string // logged (secrets redacted), and sent
	// change: the statement changes the server. Once sent it runs to its
	// end even if the run is interrupted (stopping it halfway would leave
	// a state nobody asked for), within its own deadline; and it is not
	// sent again after the connection broke, since it may have run.
	change bool
	// once: no reconnecting and no second attempt (the wait for logins
	// after a restart has its own loop).
	once bool
	// messages receives the server's informational messages (backup
	// progress); nil drops them.
	messages func(string)
	// progress receives milink's own remarks (a reconnect); nil sends them
	// to Instance.Notify.
	progress func(string)
}

// errConnLost is the cause a statement's context is cancelled with when its
// connection breaks.
var errConnLost = errors.New("connection lost")

// exec runs one batch that changes the server, logging it redacted. Its
// errors do not name the object: the caller wraps them (sqlError).
func (i *Instance) exec(ctx context.Context, redacted, real string) error {
	_, err := i.run(ctx, stmt{log: redacted, text: real, change: true})
	return err
}

// readDatabase reads one database in one round trip (DatabaseSQL).
func (i *Instance) readDatabase(ctx context.Context, addr, name string) (DatabaseState, bool, error) {
	q := DatabaseSQL(name)
	sets, err := i.run(ctx, stmt{addr: addr, what: "reading the database", log: q, text: q})
	if err != nil {
		return DatabaseState{}, false, err
	}
	d, ok := parseDatabase(sets)
	return d, ok, nil
}

// startup re-reads only what is configured now for the next start (a
// re-run may find it done): mssql.conf on Linux, which costs no round
// trip; the registry rows on Windows, one small query. The running values
// are not needed here: the plan's After already says what they will be.
// addr is the object that needs them (hadr.sql01, startup_trace_flags.sql01).
func (i *Instance) startup(ctx context.Context, addr string) (host.Startup, error) {
	if i.linux != nil {
		st, err := i.linux.ReadStartup(ctx)
		if err != nil {
			return host.Startup{}, fmt.Errorf("%s: reading the startup settings: %w", addr, err)
		}
		return st, nil
	}
	sets, err := i.run(ctx, stmt{addr: addr, what: "reading the startup parameters", log: registrySQL, text: registrySQL})
	if err != nil {
		return host.Startup{}, err
	}
	var reg []host.RegistryValue
	for _, rs := range sets {
		reg = append(reg, registryRows(rs)...)
	}
	st, err := host.StartupFromRegistry(reg)
	if err != nil {
		return host.Startup{}, fmt.Errorf("%s: reading the startup settings: %w", addr, err)
	}
	return st, nil
}

// waitForLogins drops the old connection (it died with the old process) and
// logs in again until a new login and SELECT 1 succeed, or
// host.restart_timeout has passed. Progress is reported at the first failed
// attempt, then every reportInterval.
func (i *Instance) waitForLogins(ctx context.Context, s *Server, progress func(string)) error {
	i.closeConn()
	timeout := s.Host.RestartTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	start := time.Now()
	deadline := start.Add(timeout)
	var reported time.Time
	var last error
	for {
		last = i.probe(ctx, deadline)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: waiting for logins after the restart: %w", s.Addr(), ctx.Err())
		}
		now := time.Now()
		if !now.Before(deadline) {
			return fmt.Errorf("%s did not accept logins within %s after the restart (host.restart_timeout); last attempt: %w", s.Addr(), timeout, last)
		}
		if reported.IsZero() || now.Sub(reported) >= i.reportInterval {
			reported = now
			progress(fmt.Sprintf("waiting for %s to accept logins (%s of %s)", s.Addr(), now.Sub(start).Round(time.Second), timeout))
		}
		// Never sleep past the deadline: the last attempt is made at it.
		t := time.NewTimer(min(i.pollInterval, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// probe is one attempt: a new login, then SELECT 1.
func (i *Instance) probe(ctx context.Context, deadline time.Time) error {
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := i.connect(pctx); err != nil {
		return err
	}
	if _, err := i.run(pctx, stmt{addr: i.s.Addr(), what: "SELECT 1", log: probeSQL, text: probeSQL, once: true}); err != nil {
		i.closeConn()
		return err
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// run sends one statement and reads its whole reply; see the top of this
// file for what it promises.
func (i *Instance) run(ctx context.Context, st stmt) ([]resultSet, error) {
	if ctx.Err() != nil {
		// After an interrupt nothing new starts: what runs now finishes
		// (see stmt.change) and the run stops.
		return nil, i.stmtError(st, &interruptedError{cause: context.Cause(ctx)})
	}
	i.log.Debug("executing", "sql", st.log)
	reopened, again := false, false
	for {
		if err := i.ready(ctx, st, &reopened, again); err != nil {
			return nil, err
		}
		sets, out, err := i.send(ctx, st)
		switch out {
		case sent:
			return sets, nil
		case notSent:
			// Safe to send again, whatever the statement: the server never
			// had it.
		case lost:
			if st.change {
				return nil, i.stmtError(st, &lostError{server: i.server(), cause: err, mayHaveRun: true})
			}
		default: // refused, timedOut, interrupted
			return nil, i.stmtError(st, err)
		}
		if st.once || reopened {
			return nil, i.stmtError(st, &lostError{server: i.server(), cause: err, reopened: reopened})
		}
		again = true // ready reconnects: the connection was discarded
	}
}

// outcome is how one attempt at a statement ended.
type outcome int

const (
	sent        outcome = iota // the reply was read in full, without error
	refused                    // SQL Server answered with an error
	notSent                    // the connection was dead before the statement left
	lost                       // the connection broke after the statement was sent
	timedOut                   // StatementTimeout passed
	interrupted                // the run was interrupted (reads only)
)

// ready makes sure there is a connection that looks alive, reconnecting
// (once per statement) when the last one broke or was discarded; again
// says the statement is being sent a second time.
func (i *Instance) ready(ctx context.Context, st stmt, reopened *bool, again bool) error {
	why := i.dropped
	if i.conn != nil {
		if i.wire == nil {
			return nil
		}
		err := i.wire.alive()
		if err == nil {
			return nil
		}
		why = err
		i.discard(err)
	}
	if st.once || *reopened {
		return i.stmtError(st, &lostError{server: i.server(), cause: why, reopened: *reopened})
	}
	*reopened = true
	if err := i.connect(ctx); err != nil {
		if why == nil {
			return err // no connection yet (a failed wait after a restart): as Open
		}
		return i.stmtError(st, &lostError{server: i.server(), cause: why, reconnect: err})
	}
	i.dropped = nil
	if why != nil {
		msg := fmt.Sprintf("the connection to %s was lost (%s); reconnected", i.server(), netReason(why))
		if again {
			msg += ", sending " + describe(st) + " again"
		}
		i.tell(st, msg)
	}
	return nil
}

// send is one attempt at a statement on the current connection.
func (i *Instance) send(ctx context.Context, st stmt) ([]resultSet, outcome, error) {
	base := ctx
	if st.change {
		base = context.WithoutCancel(ctx)
	}
	tctx, cancelTimeout := context.WithTimeout(base, i.statementTimeout())
	defer cancelTimeout()
	sctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)

	wire := i.wire
	finished := make(chan struct{})
	defer close(finished)
	go i.watch(sctx, cancel, wire, finished)

	msgs := &sqlexp.ReturnMessage{}
	rows, err := i.conn.QueryContext(sctx, st.text, msgs)
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
			if wire != nil && wire.lost() != nil {
				err = wire.lost()
			}
			i.discard(err)
			return nil, notSent, err
		}
		return i.outcome(base, sctx, wire, []error{err})
	}
	var sets []resultSet
	var errs []error
	for active := true; active; {
		switch m := msgs.Message(sctx).(type) {
		case sqlexp.MsgNotice:
			if st.messages != nil {
				st.messages(strings.TrimSpace(m.Message.String()))
			}
		case sqlexp.MsgError:
			errs = append(errs, m.Error)
			// Only SQL Server's errors leave the reply going; anything else
			// is the stream breaking, and nothing more will be queued.
			active = isServerError(m.Error)
		case sqlexp.MsgNext:
			rs, err := scanSet(rows)
			if err != nil {
				errs = append(errs, err)
				active = false
			}
			if len(rs.cols) > 0 {
				sets = append(sets, rs)
			}
		case sqlexp.MsgNextResultSet:
			// A cancelled sctx also lands here (sqlexp reports it as the
			// end); NextResultSet then returns false with the reason in
			// rows.Err, and outcome reads the cause from sctx.
			active = rows.NextResultSet()
		}
	}
	if err := rows.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := rows.Close(); err != nil {
		errs = append(errs, err)
	}
	if _, out, err := i.outcome(base, sctx, wire, errs); out != sent {
		return nil, out, err
	}
	return sets, sent, nil
}

// watch ends a statement whose connection broke, and closes the socket
// under a driver that has not stopped cancelGrace after the statement had
// to end, so that every read or write blocked on it fails.
func (i *Instance) watch(sctx context.Context, cancel context.CancelCauseFunc, wire *guardedConn, finished <-chan struct{}) {
	var failed <-chan struct{}
	if wire != nil {
		failed = wire.failed
	}
	select {
	case <-finished:
		return
	case <-failed:
		cancel(errConnLost)
	case <-sctx.Done():
	}
	t := time.NewTimer(i.cancelGrace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		if wire != nil {
			i.log.Warn("the driver did not stop; closing the connection", "after", i.cancelGrace)
			wire.Close()
		}
	}
}

// outcome classifies the errors of one attempt. A SQL Server error is the
// answer even if the connection broke afterwards; otherwise the contexts
// say whether the statement timed out or was interrupted (base is the
// caller's context, or for a change the same without its cancellation),
// and the connection whether it broke.
func (i *Instance) outcome(base, sctx context.Context, wire *guardedConn, errs []error) ([]resultSet, outcome, error) {
	var lostWhy error
	if wire != nil {
		lostWhy = wire.lost()
	}
	broken := sctx.Err() != nil || lostWhy != nil
	var transport error
	for _, err := range errs {
		if isServerError(err) {
			if broken {
				i.discard(lostWhy)
			}
			return nil, refused, err
		}
		if transport == nil {
			transport = err
		}
	}
	// The connection cannot be trusted any more. Why, for the message of
	// the reconnect: what broke it, if it broke; nothing to say if milink
	// gave up on it (timeout, interrupt), since that error is reported.
	why := lostWhy
	if why == nil && sctx.Err() == nil {
		why = transport
	}
	if broken || transport != nil {
		i.discard(why)
	}
	switch {
	case errors.Is(context.Cause(sctx), errConnLost):
		return nil, lost, lostWhy
	case base.Err() != nil && errors.Is(base.Err(), context.DeadlineExceeded):
		// The caller's own deadline (the end of the wait after a restart).
		return nil, timedOut, base.Err()
	case base.Err() != nil:
		return nil, interrupted, &interruptedError{cause: context.Cause(base), started: true}
	case sctx.Err() != nil:
		return nil, timedOut, &timeoutError{after: i.statementTimeout()}
	case lostWhy != nil:
		return nil, lost, lostWhy
	case transport != nil:
		return nil, lost, transport
	}
	return nil, sent, nil
}

// scanSet reads the rows of the result set that MsgNext announced.
func scanSet(rows *sql.Rows) (resultSet, error) {
	cols, err := rows.Columns()
	if err != nil {
		return resultSet{}, err
	}
	rs := resultSet{}
	for _, c := range cols {
		rs.cols = append(rs.cols, strings.ToLower(c))
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for n := range vals {
			ptrs[n] = &vals[n]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return rs, err
		}
		rs.rows = append(rs.rows, vals)
	}
	return rs, rows.Err()
}

// discard drops the connection after it broke or its state is unknown;
// the next statement opens a new one. why (nil: nothing to tell) is kept
// for the message then.
func (i *Instance) discard(why error) {
	i.dropped = why
	conn, db, wire := i.conn, i.db, i.wire
	i.conn, i.db, i.wire = nil, nil, nil
	if wire != nil {
		wire.Close() // whatever still reads or writes on it fails now
	}
	if conn == nil && db == nil {
		return
	}
	// database/sql may wait for the driver to let go of the connection;
	// with the socket closed that ends soon, and milink need not wait.
	go func() {
		if conn != nil {
			conn.Close()
		}
		if db != nil {
			db.Close()
		}
	}()
}

func (i *Instance) statementTimeout() time.Duration {
	if i.StatementTimeout > 0 {
		return i.StatementTimeout
	}
	return DefaultStatementTimeout
}

// server names the instance in messages about its connection.
func (i *Instance) server() string {
	return fmt.Sprintf("%s (%s)", i.s.Name, target(i.s))
}

// tell says something the user should see that no step reports.
func (i *Instance) tell(st stmt, msg string) {
	i.log.Warn(msg)
	switch {
	case st.progress != nil:
		st.progress(msg)
	case i.Notify != nil:
		i.Notify(msg)
	}
}

// describe is the statement in a sentence.
func describe(st stmt) string {
	if st.what != "" {
		return "the statement (" + st.what + ")"
	}
	return "the statement"
}

// stmtError wraps an attempt's error with the object and step, redacted.
func (i *Instance) stmtError(st stmt, err error) error {
	return redact(i.s, &stmtError{addr: st.addr, what: st.what, err: err})
}

// stmtError is a statement's failure: the object it acted for, what milink
// was doing, and why it failed. Without addr and what it reads as the bare
// reason, for callers that add them (sqlError).
type stmtError struct {
	addr, what string
	err        error
}

func (e *stmtError) Error() string {
	var b strings.Builder
	if e.addr != "" {
		b.WriteString(e.addr + ": ")
	}
	if e.what != "" {
		b.WriteString(e.what + ": ")
	}
	var se mssql.Error
	if errors.As(e.err, &se) {
		b.WriteString(sqlText(se))
	} else {
		b.WriteString(e.err.Error())
	}
	return b.String()
}

func (e *stmtError) Unwrap() error { return e.err }

// lostError: the connection broke, so the statement did not complete.
type lostError struct {
	server string
	cause  error
	// mayHaveRun: a change was sent before the connection broke.
	mayHaveRun bool
	// reopened: it broke again on the connection opened for this statement.
	reopened bool
	// reconnect is why opening a new connection failed.
	reconnect error
}

func (e *lostError) Error() string {
	msg := fmt.Sprintf("the connection to %s was lost (%s)", e.server, netReason(e.cause))
	switch {
	case e.reconnect != nil:
		msg += "; reconnecting failed: " + connectReason(e.reconnect)
	case e.reopened:
		msg += " again after reconnecting"
	}
	if e.mayHaveRun {
		msg += "; whether the statement ran is unknown (the next plan reads what it did)"
	}
	return msg
}

func (e *lostError) Unwrap() error { return e.cause }

// timeoutError: the statement passed StatementTimeout.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("did not finish within %s (statement_timeout); milink asked SQL Server to cancel it", e.after)
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// interruptedError: the run was interrupted (Ctrl-C).
type interruptedError struct {
	cause   error
	started bool // a read was under way; a change is never stopped halfway
}

func (e *interruptedError) Error() string {
	msg := "interrupted"
	if !e.started {
		msg = "not started: interrupted"
	}
	// Ctrl-C's plain context.Canceled says nothing more; a cause given
	// with it does.
	if e.cause != nil && e.cause != context.Canceled {
		msg += fmt.Sprintf(" (%v)", e.cause)
	}
	return msg
}

func (e *interruptedError) Unwrap() error { return e.cause }

// isServerError tells SQL Server's errors (which carry a number) from the
// transport's.
func isServerError(err error) bool {
	var se mssql.Error
	return errors.As(err, &se)
}

// netReason says in words why a connection broke, rather than the driver's
// "Read: EOF".
func netReason(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "it was closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed it"
	case errors.As(err, &errno) && errno == syscall.ECONNRESET:
		return "the server reset it"
	case errors.As(err, &errno) && errno == syscall.ETIMEDOUT:
		return "the server stopped answering TCP keepalives"
	case errors.Is(err, net.ErrClosed):
		return "milink closed it after the driver did not stop"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return "the driver found it broken"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
