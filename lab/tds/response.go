package tds

import (
	"context"
	"errors"
	"sync"
)

// Token ids (MS-TDS 2.2.7).
const (
	tokReturnStatus = 0x79
	tokColMetadata  = 0x81
	tokError        = 0xAA
	tokInfo         = 0xAB
	tokLoginAck     = 0xAD
	tokRow          = 0xD1
	tokEnvChange    = 0xE3
	tokDone         = 0xFD
	tokDoneProc     = 0xFE
	tokDoneInProc   = 0xFF
)

// DONE status bits.
const (
	doneMore  = 0x01
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
)

const curCmdSelect = 0xC1

var (
	errFinished = errors.New("tds: reply already finished")
	errAborted  = errors.New("tds: connection aborted")
)

// response implements ResponseWriter for one batch or RPC. Tokens are
// buffered and go out as full packets while the reply grows; the last DONE
// is held back so the server can clear its MORE bit when the Session
// returns.
type response struct {
	mu   sync.Mutex
	c    *conn
	ctx  context.Context
	rpc  bool
	buf  []byte
	err  error // sticky: write failure, abort, cancel or finished
	cols []Column

	open        bool  // a result set is open (Columns sent, no Done yet)
	openRows    int64 // rows sent in the open result set
	stmtCols    bool  // the current statement sent columns
	errSince    bool  // an ERROR token since the last DONE
	sentStatus  bool  // RETURNSTATUS sent
	havePending bool
	pending     [13]byte // held-back DONE/DONEINPROC token, MORE bit clear
}

var _ ResponseWriter = (*response)(nil)

// begin returns the sticky error, or the context's error once the client
// has cancelled (attention) so a long Session stops producing output.
func (w *response) begin() error {
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return nil
}

// emitPending writes the held-back DONE with MORE set: something follows.
func (w *response) emitPending() {
	if w.havePending {
		w.pending[1] |= doneMore
		w.buf = append(w.buf, w.c.doneBytes(w.pending)...)
		w.havePending = false
	}
}

func doneToken(tok byte, status uint16, curCmd uint16, rows uint64) [13]byte {
	var d [13]byte
	d[0] = tok
	d[1], d[2] = byte(status), byte(status>>8)
	d[3], d[4] = byte(curCmd), byte(curCmd>>8)
	for i := 0; i < 8; i++ {
		d[5+i] = byte(rows >> (8 * i))
	}
	return d
}

// stmtDone closes the current statement: it becomes the pending DONE.
func (w *response) stmtDone(rowCount int64) {
	w.emitPending()
	var status uint16
	var rows uint64
	if rowCount >= 0 {
		status |= doneCount
		rows = uint64(rowCount)
	}
	if w.errSince {
		status |= doneError
	}
	var curCmd uint16
	if w.stmtCols {
		curCmd = curCmdSelect
	}
	tok := byte(tokDone)
	if w.rpc {
		tok = tokDoneInProc
	}
	w.pending = doneToken(tok, status, curCmd, rows)
	w.havePending = true
	w.open, w.openRows, w.stmtCols, w.errSince = false, 0, false, false
}

// spill sends whole packets once more than one is buffered, so a large
// result streams instead of growing in memory.
func (w *response) spill() error {
	payload := w.c.pw.size - headerLen
	if len(w.buf) <= payload {
		return nil
	}
	n := len(w.buf) / payload * payload
	if n == len(w.buf) {
		n -= payload
	}
	if err := w.c.writeReply(w.buf[:n], false); err != nil {
		w.err = err
		return err
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
	return nil
}

func (w *response) Columns(cols []Column) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	if len(cols) == 0 || len(cols) > 4096 {
		return errors.New("tds: a result set needs 1 to 4096 columns")
	}
	norm := make([]Column, len(cols))
	for i, c := range cols {
		n, err := normalize(c)
		if err != nil {
			return err
		}
		norm[i] = w.c.downlevel(n)
	}
	if w.open {
		// The previous result set was never closed: close it for the Session.
		w.stmtDone(w.openRows)
	}
	w.emitPending()
	w.buf = append(w.buf, tokColMetadata)
	w.buf = appendU16(w.buf, uint16(len(norm)))
	for _, c := range norm {
		w.buf = w.c.appendUserType(w.buf)
		var flags uint16
		if c.Nullable {
			flags |= 0x01
		}
		w.buf = appendU16(w.buf, flags)
		w.buf = appendTypeInfo(w.buf, c)
		w.buf = appendBVarChar(w.buf, c.Name)
	}
	w.cols = norm
	w.open, w.openRows, w.stmtCols = true, 0, true
	return w.spill()
}

func (w *response) Row(values ...any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	if !w.open {
		return errors.New("tds: Row without Columns")
	}
	if len(values) != len(w.cols) {
		return errors.New("tds: row has a different number of values than columns")
	}
	row := []byte{tokRow}
	for i, v := range values {
		var err error
		if row, err = appendValue(row, w.cols[i], downlevelValue(w.cols[i], v)); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, row...)
	w.openRows++
	return w.spill()
}

func (w *response) Done(rowCount int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	w.stmtDone(rowCount)
	return w.spill()
}

func (w *response) message(tok byte, m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	w.emitPending()
	if m.Server == "" {
		m.Server = w.c.srv.opts.ServerName
	}
	if tok == tokError && m.Class < 11 {
		// An ERROR token below severity 11 would read as a warning to some
		// clients; SQL Server's default for user errors is 16.
		m.Class = 16
	}
	w.buf = appendMessage(w.buf, tok, m)
	if tok == tokError {
		w.errSince = true
	}
	return w.spill()
}

func appendMessage(dst []byte, tok byte, m Message) []byte {
	body := make([]byte, 0, 64)
	body = appendU32(body, uint32(m.Number))
	body = append(body, m.State, m.Class)
	body = appendUSVarChar(body, m.Text)
	body = appendBVarChar(body, m.Server)
	body = appendBVarChar(body, m.Procedure)
	body = appendU32(body, uint32(m.Line))
	dst = append(dst, tok)
	dst = appendU16(dst, uint16(len(body)))
	return append(dst, body...)
}

func (w *response) Info(m Message) error  { return w.message(tokInfo, m) }
func (w *response) Error(m Message) error { return w.message(tokError, m) }

func (w *response) ReturnStatus(status int32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	w.emitPending()
	w.buf = append(w.buf, tokReturnStatus)
	w.buf = appendU32(w.buf, uint32(status))
	w.sentStatus = true
	return w.spill()
}

func (w *response) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	// The pending DONE must go out too or a progress message behind it
	// would wait; anything else still to come (at least the final DONE)
	// justifies its MORE bit.
	w.emitPending()
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.c.writeReply(w.buf, false); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *response) Abort() {
	w.mu.Lock()
	if w.err == nil {
		w.err = errAborted
	}
	w.mu.Unlock()
	w.c.abort()
}

// finish ends the reply with a final DONE (DONEPROC for an RPC) and sends
// it. It reports whether the connection is still usable.
// When an RPC request holds several calls, every call but the last ends
// with DONEPROC(MORE) and no end of message.
func (w *response) finish(last bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		w.err = errFinished
		return false
	}
	if w.open {
		w.stmtDone(w.openRows)
	}
	if w.rpc {
		w.emitPending()
		if !w.sentStatus {
			w.buf = append(w.buf, tokReturnStatus)
			w.buf = appendU32(w.buf, 0)
		}
		var status uint16
		if w.errSince {
			status |= doneError
		}
		if !last {
			status |= doneMore
		}
		d := doneToken(tokDoneProc, status, 0, 0)
		w.buf = append(w.buf, w.c.doneBytes(d)...)
	} else if w.havePending {
		w.buf = append(w.buf, w.c.doneBytes(w.pending)...)
		w.havePending = false
	} else {
		var status uint16
		if w.errSince {
			status |= doneError
		}
		d := doneToken(tokDone, status, 0, 0)
		w.buf = append(w.buf, w.c.doneBytes(d)...)
	}
	err := w.c.writeReply(w.buf, last)
	w.buf = nil
	w.err = errFinished
	return err == nil
}
