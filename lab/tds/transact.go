package tds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// Token and ENVCHANGE ids for RPC output and transactions (MS-TDS 2.2.7).
const (
	tokReturnValue = 0xAC

	envBeginTx    = 8
	envCommitTx   = 9
	envRollbackTx = 10
)

// ReturnValue sends a RETURNVALUE token: ordinal, name, status 0x01 (an
// OUTPUT parameter), user type, flags (nullable), TYPE_INFO and the value.
func (w *response) ReturnValue(ordinal int, name string, col Column, value any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	c, err := normalize(col)
	if err != nil {
		return err
	}
	c = w.c.downlevel(c)
	if ordinal < 0 || ordinal > 0xFFFF {
		return fmt.Errorf("tds: return value ordinal %d out of range", ordinal)
	}
	b := []byte{tokReturnValue}
	b = appendU16(b, uint16(ordinal))
	b = appendBVarChar(b, name)
	b = append(b, 0x01) // status: output parameter
	b = w.c.appendUserType(b)
	b = appendU16(b, 1) // flags: nullable
	b = w.c.appendColTypeInfo(b, c)
	if b, err = w.c.appendColValue(b, c, value); err != nil {
		return err
	}
	w.emitPending()
	w.buf = append(w.buf, b...)
	return w.spill()
}

// Transaction sends the ENVCHANGE of a transaction that began (the new
// value is the descriptor) or ended (the old value is).
func (w *response) Transaction(change TxChange, descriptor uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(); err != nil {
		return err
	}
	var typ byte
	switch change {
	case TxBegin:
		typ = envBeginTx
	case TxCommit:
		typ = envCommitTx
	case TxRollback:
		typ = envRollbackTx
	default:
		return fmt.Errorf("tds: unknown transaction change %d", change)
	}
	w.emitPending()
	w.buf = appendTxEnvChange(w.buf, typ, descriptor)
	return w.spill()
}

func appendTxEnvChange(dst []byte, typ byte, descriptor uint64) []byte {
	desc := binary.LittleEndian.AppendUint64([]byte{8}, descriptor)
	body := []byte{typ}
	if typ == envBeginTx {
		body = append(append(body, desc...), 0)
	} else {
		body = append(append(body, 0), desc...)
	}
	dst = append(dst, tokEnvChange)
	dst = appendU16(dst, uint16(len(body)))
	return append(dst, body...)
}

// tmName reads a transaction name of a TM request: unlike B_VARCHAR its
// length byte counts bytes, not characters (MS-TDS 2.2.6.9; tedious and
// Microsoft's own drivers send it so; go-mssqldb only ever sends "").
func tmName(r *reader) string {
	n := int(r.u8())
	if n%2 != 0 {
		r.err = errors.New("tds: transaction name of odd byte length")
		return ""
	}
	return r.ucs2(n / 2)
}

// parseTransMgr parses a transaction manager request: ALL_HEADERS, the
// request type, and its payload.
func parseTransMgr(body []byte) (TMRequest, error) {
	r := &reader{b: body}
	if err := skipAllHeaders(r); err != nil {
		return TMRequest{}, err
	}
	req := TMRequest{Kind: TMKind(r.u16())}
	switch req.Kind {
	case TMBegin:
		req.Isolation = r.u8()
		req.Name = tmName(r)
	case TMCommit, TMRollback:
		req.Name = tmName(r)
		flags := r.u8()
		if flags&0x01 != 0 {
			req.BeginNew = true
			req.NewIsolation = r.u8()
			req.NewName = tmName(r)
		}
	case TMSave:
		req.Name = tmName(r)
	default:
		if r.err != nil {
			return req, r.err
		}
		return req, errUnsupported{fmt.Sprintf("transaction manager request type %d is not supported", req.Kind)}
	}
	if r.err != nil {
		return req, r.err
	}
	if req.Isolation > 5 || req.NewIsolation > 5 {
		return req, errUnsupported{fmt.Sprintf("isolation level %d is invalid", max(req.Isolation, req.NewIsolation))}
	}
	return req, nil
}

// transact answers a transaction manager request through the Session's
// Transactor; false means the connection must close.
func (c *conn) transact(ctx context.Context, body []byte, prefix []byte) bool {
	req, err := parseTransMgr(c.requestBody(body))
	var unsup errUnsupported
	if errors.As(err, &unsup) {
		return c.errorReply(prefix, Message{Number: 8009, State: 1, Class: 16,
			Text: "The incoming tabular data stream (TDS) protocol stream is incorrect: " + unsup.msg})
	}
	if err != nil {
		c.log.Debug("malformed transaction manager request; closing connection", "error", err)
		return false
	}
	tx, ok := c.sess.(Transactor)
	if !ok {
		return c.errorReply(prefix, Message{Number: 50000, State: 1, Class: 16,
			Text: "Transaction manager requests are not supported by this server."})
	}
	c.log.Trace("transaction manager request", "kind", int(req.Kind))
	w := c.newResponse(ctx, false, prefix)
	tx.Transact(ctx, req, w)
	return w.finish(true)
}
