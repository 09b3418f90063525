package sqlserver

// The statements of a run on the instance's one connection: running a
// batch, reading the startup settings, one database, a backup with its
// progress, and the wait for logins after a restart.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-sql/sqlexp"

	"github.com/milink/milink/resources/host"
)

// exec runs one batch on the pinned connection, logging it redacted.
func (i *Instance) exec(ctx context.Context, redacted, real string) error {
	i.log.Debug("executing", "sql", redacted)
	if err := i.ensureConn(ctx); err != nil {
		return err
	}
	_, err := i.conn.ExecContext(ctx, real)
	return err
}

// startup re-reads only what is configured now for the next start (a
// re-run may find it done): mssql.conf on Linux, which costs no round
// trip; the registry rows on Windows, one small query. The running values
// are not needed here: the plan's After already says what they will be.
func (i *Instance) startup(ctx context.Context) (host.Startup, error) {
	if i.linux != nil {
		st, err := i.linux.ReadStartup(ctx)
		if err != nil {
			return host.Startup{}, fmt.Errorf("%s: reading the startup settings: %w", i.s.Addr(), err)
		}
		return st, nil
	}
	if err := i.ensureConn(ctx); err != nil {
		return host.Startup{}, err
	}
	rows, err := i.conn.QueryContext(ctx, registrySQL)
	if err != nil {
		return host.Startup{}, sqlError(i.s, i.s.Addr(), "reading the startup parameters", err)
	}
	sets, err := readSets(rows)
	rows.Close()
	if err != nil {
		return host.Startup{}, sqlError(i.s, i.s.Addr(), "reading the startup parameters", err)
	}
	var reg []host.RegistryValue
	for _, rs := range sets {
		reg = append(reg, registryRows(rs)...)
	}
	st, err := host.StartupFromRegistry(reg)
	if err != nil {
		return host.Startup{}, fmt.Errorf("%s: reading the startup settings: %w", i.s.Addr(), err)
	}
	return st, nil
}

// waitForLogins drops the old connection (it died with the old process) and
// logs in again until a new login and SELECT 1 succeed, or
// host.restart_timeout has passed. Progress is reported at the first failed
// attempt, then every reportInterval.
func (i *Instance) waitForLogins(ctx context.Context, s *Server, progress func(string)) error {
	i.Close()
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
	var one int
	if err := i.conn.QueryRowContext(pctx, probeSQL).Scan(&one); err != nil {
		i.Close()
		return sqlError(i.s, i.s.Addr(), "SELECT 1", err)
	}
	return nil
}

// readDatabase reads one database in one round trip (DatabaseSQL).
func (i *Instance) readDatabase(ctx context.Context, addr, name string) (DatabaseState, bool, error) {
	if err := i.ensureConn(ctx); err != nil {
		return DatabaseState{}, false, err
	}
	q := DatabaseSQL(name)
	i.log.Debug("executing", "sql", q)
	rows, err := i.conn.QueryContext(ctx, q)
	if err != nil {
		return DatabaseState{}, false, sqlError(i.s, addr, "reading the database", err)
	}
	sets, err := readSets(rows)
	rows.Close()
	if err != nil {
		return DatabaseState{}, false, sqlError(i.s, addr, "reading the database", err)
	}
	d, ok := parseDatabase(sets)
	return d, ok, nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// backup runs BACKUP DATABASE and passes its "n percent processed."
// messages to progress as they arrive.
func (i *Instance) backup(ctx context.Context, q string, progress func(string)) error {
	i.log.Debug("executing", "sql", q)
	if err := i.ensureConn(ctx); err != nil {
		return err
	}
	msgs := &sqlexp.ReturnMessage{}
	rows, err := i.conn.QueryContext(ctx, q, msgs)
	if err != nil {
		return err
	}
	defer rows.Close()
	var errs []error
	for active := true; active; {
		switch m := msgs.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			progress(strings.TrimSpace(m.Message.String()))
		case sqlexp.MsgError:
			errs = append(errs, m.Error)
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		case sqlexp.MsgNextResultSet:
			active = rows.NextResultSet()
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		errs = append(errs, err)
	}
	// A cancelled context ends the message loop as if the reply were
	// complete (sqlexp returns MsgNextResultSet); only the context tells
	// that the backup was not seen to finish.
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs[0] // the first is the cause (3201 before 3013)
	}
	return nil
}
