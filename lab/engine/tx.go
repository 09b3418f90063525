package engine

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/milink/milink/lab/tds"
)

// Transactions. The lab has no storage engine and no locks: a transaction
// is a snapshot of the catalogue taken when the outermost transaction of a
// session begins. COMMIT drops the snapshot; ROLLBACK puts it back. The
// snapshot is the whole instance's catalogue, so a rollback also undoes
// what other sessions changed meanwhile (there is no isolation), and
// effects outside the catalogue (files written, sockets opened) are
// reconciled, not undone: endpoint listeners follow the restored
// catalogue.

// txState is a session's transaction state.
type txState struct {
	count      int      // @@TRANCOUNT
	desc       uint64   // transaction descriptor sent in ENVCHANGE
	snap       *catalog // the catalogue as it was when the outermost transaction began
	xactAbort  bool     // SET XACT_ABORT
	implicitTx bool     // SET IMPLICIT_TRANSACTIONS
}

// cloneCatalog deep-copies a catalogue through its JSON form, the same form
// it is persisted in, so nothing a restart keeps is left out.
func cloneCatalog(c *catalog) *catalog {
	b, err := json.Marshal(c)
	if err != nil {
		panic("engine: clone catalogue: " + err.Error())
	}
	var out catalog
	if err := json.Unmarshal(b, &out); err != nil {
		panic("engine: clone catalogue: " + err.Error())
	}
	return &out
}

// beginTran is BEGIN TRANSACTION (and TM_BEGIN_XACT): the outermost one
// takes the snapshot and tells the client its descriptor.
func (s *Session) beginTran() {
	s.tx.count++
	if s.tx.count > 1 {
		return
	}
	i := s.inst
	i.mu.Lock()
	s.tx.snap = cloneCatalog(i.cat)
	i.nextTxDesc++
	s.tx.desc = i.nextTxDesc
	i.mu.Unlock()
	if s.w != nil {
		_ = s.w.Transaction(tds.TxBegin, s.tx.desc)
	}
}

// commitTran is COMMIT TRANSACTION: 3902 without a transaction; only the
// outermost commit ends it.
func (s *Session) commitTran() *sqlError {
	if s.tx.count == 0 {
		return errf(3902, 16, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	s.tx.count--
	if s.tx.count > 0 {
		return nil
	}
	s.tx.snap = nil
	if s.w != nil {
		_ = s.w.Transaction(tds.TxCommit, s.tx.desc)
	}
	return nil
}

// rollbackTran is ROLLBACK TRANSACTION: 3903 without a transaction;
// otherwise the whole transaction, however deeply nested, is undone.
func (s *Session) rollbackTran() *sqlError {
	if s.tx.count == 0 {
		return errf(3903, 16, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	s.abandonTran(true)
	return nil
}

// abandonTran rolls back an open transaction; notify says whether the
// client is told (not when the connection is closing or being reset).
func (s *Session) abandonTran(notify bool) {
	if s.tx.count == 0 {
		return
	}
	i := s.inst
	i.mu.Lock()
	if s.tx.snap != nil {
		counters := i.cat.Counters
		i.cat = s.tx.snap
		// The counters count work done, rolled back or not.
		i.cat.Counters = counters
		i.reconcileListenersLocked()
		_ = i.saveLocked()
	}
	i.mu.Unlock()
	s.tx.count, s.tx.snap = 0, nil
	if notify && s.w != nil {
		_ = s.w.Transaction(tds.TxRollback, s.tx.desc)
	}
}

// reconcileListenersLocked makes the endpoint listeners match the
// catalogue after a rollback: endpoints that no longer exist or are no
// longer STARTED stop listening, STARTED ones listen.
func (i *Instance) reconcileListenersLocked() {
	want := map[string]*endpoint{}
	for _, e := range i.cat.Endpoints {
		if e.State == "STARTED" {
			want[strings.ToLower(e.Name)] = e
		}
	}
	for name := range i.listeners {
		if want[name] == nil {
			i.closeListenerLocked(name)
		}
	}
	if !i.running {
		return
	}
	for _, e := range want {
		_ = i.listenLocked(e)
	}
}

// refuseInTran returns the error SQL Server gives for a statement that
// cannot run inside a user transaction, or nil.
func (s *Session) refuseInTran(st stmt) *sqlError {
	if s.tx.count == 0 {
		return nil
	}
	switch x := st.(type) {
	case *backupDBStmt:
		kind := "DATABASE"
		if x.log {
			kind = "LOG"
		}
		e := errf(3021, 16, "Cannot perform a backup or restore operation within a transaction.")
		e.also = errf(3013, 16, "BACKUP %s is terminating abnormally.", kind)
		return e
	case *alterDBStmt:
		e := errf(226, 16, "ALTER DATABASE statement not allowed within multi-statement transaction.")
		e.state = 6
		return e
	}
	return nil
}

// startsImplicitTran reports whether st opens a transaction under SET
// IMPLICIT_TRANSACTIONS ON: DDL, and SELECT from a table (not SELECT 1).
func startsImplicitTran(st stmt) bool {
	switch x := st.(type) {
	case *selectStmt:
		return len(x.from) > 0
	case *masterKeyStmt:
		return x.action != "OPEN" && x.action != "CLOSE"
	case *createCertStmt, *dropCertStmt, *createEndpointStmt, *dropEndpointStmt, *alterDBStmt:
		return true
	}
	return false
}

// Transact answers the transaction manager requests drivers send for
// BeginTx, Commit and Rollback, with SQL Server's errors and ENVCHANGEs.
func (s *Session) Transact(ctx context.Context, req tds.TMRequest, w tds.ResponseWriter) {
	s.inst.mu.Lock()
	s.inst.cat.Counters.RoundTrips++
	s.inst.mu.Unlock()
	s.ctx, s.w, s.aborted = ctx, w, false
	s.line = 1
	var err *sqlError
	switch req.Kind {
	case tds.TMBegin:
		s.beginTran()
	case tds.TMCommit:
		err = s.commitTran()
	case tds.TMRollback:
		err = s.rollbackTran()
	case tds.TMSave:
		if s.tx.count == 0 {
			err = errf(628, 16, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
		}
	}
	if err != nil {
		s.sendError(err)
		return
	}
	if req.BeginNew && (req.Kind == tds.TMCommit || req.Kind == tds.TMRollback) {
		s.beginTran()
	}
}

// ResetSession is sp_reset_connection, run when a client reuses a pooled
// connection: the login's database, SET options and session trace flags
// come back, and an open transaction is rolled back unless the client
// asked to keep it (RESETCONNECTIONSKIPTRAN). Prepared statements stay.
func (s *Session) ResetSession(keepTransaction bool) {
	if !keepTransaction {
		s.abandonTran(false)
	}
	s.db = s.loginDB
	s.nocount = false
	s.tx.xactAbort = false
	s.tx.implicitTx = false
	s.flags = map[int]bool{}
	s.rowcount = 0
	s.lastErr = 0
	s.vars = map[string]*variable{}
}

// execTran runs BEGIN, COMMIT, ROLLBACK and SAVE TRANSACTION. A savepoint
// is accepted but a ROLLBACK to it undoes the whole transaction: the lab
// keeps one snapshot per transaction.
func (s *Session) execTran(x *tranStmt) *sqlError {
	switch x.op {
	case "BEGIN":
		s.beginTran()
		return nil
	case "COMMIT":
		return s.commitTran()
	case "ROLLBACK":
		return s.rollbackTran()
	}
	if s.tx.count == 0 {
		return errf(628, 16, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
	}
	return nil
}
