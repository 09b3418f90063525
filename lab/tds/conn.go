package tds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// conn is one client connection. Its goroutine (serve) runs the handshake
// and then every request in turn; a reader goroutine reads ahead so that an
// ATTENTION can cancel the request that is running.
type conn struct {
	srv  *Server
	nc   net.Conn
	log  hclog.Logger
	spid uint16

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	wmu sync.Mutex // serializes packet writes
	pw  packetWriter

	closeOnce sync.Once

	// rw is the transport: nc, or TLS over it once negotiated. It changes
	// only during the handshake, before the reader goroutine starts.
	rw      net.Conn
	version uint32     // the TDS version of LOGINACK; 0 before login
	enc     Encryption // what PRELOGIN negotiated

	mu         sync.Mutex
	lastCancel context.CancelFunc // cancels the newest request read

	sess Session
}

func newConn(s *Server, nc net.Conn, spid uint16) *conn {
	c := &conn{srv: s, nc: nc, spid: spid,
		log: s.log.With("spid", spid, "remote", nc.RemoteAddr().String())}
	ci := ConnInfo{SPID: spid, LocalAddr: nc.LocalAddr(), RemoteAddr: nc.RemoteAddr()}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(s.ctx, connInfoKey{}, ci))
	c.rw = nc
	c.enc = EncryptionNone
	c.pw = packetWriter{w: nc, size: 4096, spid: spid}
	return c
}

// close drops the connection; safe from any goroutine, any number of times.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

// abort is ResponseWriter.Abort: the connection goes away at once.
func (c *conn) abort() {
	c.log.Debug("connection aborted by the session")
	c.close()
}

func (c *conn) writeReply(b []byte, eom bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.pw.write(b, eom)
}

func (c *conn) serve() {
	defer c.srv.connDone(c)
	defer c.close()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic serving connection; closing it", "panic", r, "stack", string(debug.Stack()))
			if c.srv.onPanic != nil {
				c.srv.onPanic(r)
			}
		}
	}()
	c.log.Debug("connection accepted")

	_ = c.nc.SetDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	if err := c.handshake(); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.log.Debug("handshake failed; closing connection", "error", err)
		}
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	defer func() {
		c.sess.Close()
	}()

	reqs := make(chan request, 4)
	go c.readLoop(reqs)
	defer func() {
		// Unblock and wait for the reader: it closes reqs when it ends.
		c.close()
		for r := range reqs {
			if r.cancel != nil {
				r.cancel()
			}
		}
	}()
	for r := range reqs {
		ok := c.handle(r)
		if r.cancel != nil {
			r.cancel()
		}
		if !ok {
			return
		}
	}
}

type request struct {
	msg    message
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *conn) readLoop(reqs chan<- request) {
	defer close(reqs)
	for {
		m, err := readMessage(c.rw)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("read failed; closing connection", "error", err)
			}
			// The client is gone or the stream is broken: stop the
			// running request too.
			c.close()
			return
		}
		r := request{msg: m}
		if m.typ == pktAttention {
			c.mu.Lock()
			if c.lastCancel != nil {
				c.lastCancel()
			}
			c.mu.Unlock()
		} else {
			r.ctx, r.cancel = context.WithCancel(c.ctx)
			c.mu.Lock()
			c.lastCancel = r.cancel
			c.mu.Unlock()
		}
		select {
		case reqs <- r:
		case <-c.ctx.Done():
			if r.cancel != nil {
				r.cancel()
			}
			return
		}
	}
}

// handle answers one request; false means the connection must close.
func (c *conn) handle(r request) bool {
	m := r.msg
	switch m.typ {
	case pktAttention:
		// Always answered, even after a complete reply: go-mssqldb sends
		// one after every Rows.Close and waits for this DONE(ATTN).
		return c.writeReply(c.done(doneToken(tokDone, doneAttn, 0, 0)), true) == nil
	case pktBatch, pktRPC, pktTransMgr:
	default:
		c.log.Debug("unexpected packet type after login; closing connection", "type", m.typ)
		return false
	}
	if m.body == nil {
		return true // the client cancelled the message while sending it
	}
	var prefix []byte
	if m.status&(statusReset|statusResetSkipTx) != 0 {
		if rs, ok := c.sess.(Resetter); ok {
			rs.ResetSession(m.status&statusResetSkipTx != 0)
		}
		prefix = append(prefix, tokEnvChange, 3, 0, 18, 0, 0)
	}
	switch m.typ {
	case pktBatch:
		sql, err := parseBatch(c.requestBody(m.body))
		if err != nil {
			c.log.Debug("malformed SQL batch; closing connection", "error", err)
			return false
		}
		c.log.Trace("batch", "chars", len(sql))
		w := c.newResponse(r.ctx, false, prefix)
		c.sess.Batch(r.ctx, sql, w)
		return w.finish(true)
	case pktRPC:
		calls, err := parseRPC(c.requestBody(m.body))
		var unsup errUnsupported
		if errors.As(err, &unsup) {
			return c.errorReply(prefix, Message{Number: 8009, State: 1, Class: 16,
				Text: "The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect: " + unsup.msg})
		}
		if err != nil {
			c.log.Debug("malformed RPC; closing connection", "error", err)
			return false
		}
		for i, call := range calls {
			c.log.Trace("rpc", "proc", call.proc, "params", len(call.params))
			w := c.newResponse(r.ctx, true, prefix)
			prefix = nil
			c.sess.RPC(r.ctx, call.proc, call.params, w)
			if !w.finish(i == len(calls)-1) {
				return false
			}
		}
		return true
	default: // pktTransMgr
		return c.transact(r.ctx, m.body, prefix)
	}
}

func (c *conn) newResponse(ctx context.Context, rpc bool, prefix []byte) *response {
	return &response{c: c, ctx: ctx, rpc: rpc, buf: append([]byte(nil), prefix...)}
}

// errorReply answers a request with one ERROR and a final DONE(ERROR).
func (c *conn) errorReply(prefix []byte, m Message) bool {
	if m.Server == "" {
		m.Server = c.srv.opts.ServerName
	}
	b := appendMessage(prefix, tokError, m)
	return c.writeReply(append(b, c.done(doneToken(tokDone, doneError, 0, 0))...), true) == nil
}

// handshake runs the TLS handshake of TDS 8.0 (strict clients), PRELOGIN
// (optional for TDS 7.x clients) with the TLS handshake it negotiates, and
// LOGIN7. A nil error means a Session is established.
func (c *conn) handshake() error {
	var first [1]byte
	if _, err := io.ReadFull(c.nc, first[:]); err != nil {
		return err
	}
	// The first reply also pays for the TCP handshake (Options.LoginLatency).
	c.networkDelay(2)
	plain := &prefixConn{Conn: c.nc, pre: first[:]}
	c.setTransport(plain)
	if first[0] == tlsRecordHandshake {
		tc, err := c.startStrict(plain)
		if err != nil {
			return err
		}
		c.setTransport(tc)
		c.enc = EncryptionStrict
		c.networkDelay(1) // the TLS handshake's round trip
	}
	m, err := readMessage(c.rw)
	if err != nil {
		return err
	}
	if m.typ == pktPrelogin {
		out, reply, err := c.prelogin(m.body)
		if err != nil {
			return err
		}
		if err := c.writeReply(reply, true); err != nil {
			return err
		}
		if out.refuse != "" {
			return errors.New("tds: connection terminated after PRELOGIN: " + out.refuse)
		}
		if out.enc != EncryptionNone {
			tc, err := c.startTLSInTDS(plain)
			if err != nil {
				return err
			}
			c.setTransport(tc)
			c.enc = out.enc
			c.networkDelay(1)
		}
		if m, err = readMessage(c.rw); err != nil {
			return err
		}
		c.networkDelay(1)
		if c.enc == EncryptionLogin {
			// Only LOGIN7 was encrypted: the reply and everything after
			// it travel in clear text again.
			c.setTransport(plain)
		}
	} else if c.srv.opts.ForceEncryption && c.enc != EncryptionStrict {
		return errors.New("tds: LOGIN7 without PRELOGIN, and the server forces encryption")
	}
	if m.typ != pktLogin7 {
		return fmt.Errorf("tds: expected LOGIN7, got packet type 0x%02x", m.typ)
	}
	return c.login(m.body)
}

// setTransport switches the connection to t for reading and writing.
func (c *conn) setTransport(t net.Conn) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.rw = t
	c.pw.w = t
}

// networkDelay waits n round trips of the simulated network
// (Options.LoginLatency) before a handshake reply, or until the connection
// closes.
func (c *conn) networkDelay(n int) {
	if c.srv.opts.LoginLatency == nil {
		return
	}
	d := time.Duration(n) * c.srv.opts.LoginLatency()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// prelogin validates the client's option list and answers: the encryption
// MS-TDS's table gives for the client's wish and the server's certificate
// and Force Encryption setting (see negotiate), no MARS, instance name
// matched. Inside a TDS 8.0 connection TLS is already up: the answer is ON
// and no further handshake follows.
func (c *conn) prelogin(b []byte) (preloginOutcome, []byte, error) {
	var out preloginOutcome
	for i := 0; ; i += 5 {
		if i >= len(b) {
			return out, nil, errors.New("tds: PRELOGIN option list not terminated")
		}
		if b[i] == 0xFF {
			break
		}
		if i+5 > len(b) {
			return out, nil, errors.New("tds: PRELOGIN option truncated")
		}
		off := int(binary.BigEndian.Uint16(b[i+1:]))
		n := int(binary.BigEndian.Uint16(b[i+3:]))
		if off+n > len(b) {
			return out, nil, errors.New("tds: PRELOGIN option points past the message")
		}
	}
	if c.enc == EncryptionStrict {
		out = preloginOutcome{answer: encryptOn, enc: EncryptionStrict}
	} else {
		out = negotiate(clientEncryption(b), c.srv.opts.Certificate != nil, c.srv.opts.ForceEncryption)
	}
	v := c.srv.opts.Version
	opts := []struct {
		tok  byte
		data []byte
	}{
		{0, []byte{v.Major, v.Minor, byte(v.Build >> 8), byte(v.Build), 0, 0}}, // VERSION
		{1, []byte{out.answer}}, // ENCRYPTION
		{2, []byte{0}},          // INSTOPT: instance matches
		{3, nil},                // THREADID
		{4, []byte{0}},          // MARS off
	}
	if c.srv.opts.FedAuth != nil && preloginHas(b, preloginFedAuthRequired) {
		// The client may use Microsoft Entra: say the server takes it.
		opts = append(opts, struct {
			tok  byte
			data []byte
		}{preloginFedAuthRequired, []byte{1}})
	}
	off := 5*len(opts) + 1
	var hdr, data []byte
	for _, o := range opts {
		hdr = append(hdr, o.tok)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(off+len(data)))
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	hdr = append(hdr, 0xFF)
	if out.enc == EncryptionStrict {
		out.enc = EncryptionNone // nothing more to start
	}
	return out, append(hdr, data...), nil
}

// Offsets in the fixed part of LOGIN7 (MS-TDS 2.2.6.4).
const (
	l7TDSVersion = 4
	l7PacketSize = 8
	l7Flags2     = 25
	l7HostName   = 36
	l7UserName   = 40
	l7Password   = 44
	l7AppName    = 48
	l7ServerName = 52
	l7Database   = 68
	l7SSPI       = 78 // ibSSPI, cbSSPI (bytes, 0xFFFF: see cbSSPILong)
	l7SSPILong   = 90
	l7FixedLen   = 94
	fIntSecurity = 0x80
)

func (c *conn) login(b []byte) error {
	if len(b) < l7PacketSize {
		return fmt.Errorf("tds: LOGIN7 of %d bytes is shorter than its fixed part", len(b))
	}
	version := binary.LittleEndian.Uint32(b[l7TDSVersion:])
	if len(b) < login7FixedLen(version) {
		return fmt.Errorf("tds: LOGIN7 of %d bytes is shorter than its fixed part", len(b))
	}
	str := func(at int, password bool) (string, error) {
		off := int(binary.LittleEndian.Uint16(b[at:]))
		n := 2 * int(binary.LittleEndian.Uint16(b[at+2:]))
		if off+n > len(b) {
			return "", errors.New("tds: LOGIN7 string points past the message")
		}
		raw := b[off : off+n]
		if password {
			// Undo the obfuscation: XOR 0xA5, then swap the nibbles.
			plain := make([]byte, len(raw))
			for i, x := range raw {
				x ^= 0xA5
				plain[i] = x<<4 | x>>4
			}
			raw = plain
		}
		return decodeUCS2(raw), nil
	}
	var req LoginRequest
	var err error
	fields := []struct {
		at  int
		dst *string
	}{
		{l7HostName, &req.HostName}, {l7UserName, &req.User}, {l7AppName, &req.AppName},
		{l7ServerName, &req.ServerName}, {l7Database, &req.Database},
	}
	for _, f := range fields {
		if *f.dst, err = str(f.at, false); err != nil {
			return err
		}
	}
	if req.Password, err = str(l7Password, true); err != nil {
		return err
	}
	size := int(binary.LittleEndian.Uint32(b[l7PacketSize:]))
	if size == 0 {
		size = c.srv.opts.PacketSize
	}
	size = clampPacketSize(size)
	req.PacketSize = size

	answer, ok := negotiateVersion(version)
	if !ok {
		return c.refuse(Message{Number: 18456, State: 1, Class: 14,
			Text: fmt.Sprintf("Login failed: TDS version 0x%08X is not supported; use 7.1 or later.", version)})
	}
	if version == tds80 && c.enc != EncryptionStrict {
		return c.refuse(Message{Number: 18456, State: 1, Class: 14,
			Text: "Login failed: TDS 8.0 needs TLS before PRELOGIN (strict encryption)."})
	}
	version = answer
	c.version = version

	fed, err := login7FedAuth(b, version)
	if err != nil {
		return err
	}
	if fed != nil {
		if c.srv.opts.FedAuth == nil || fed.library != fedAuthSecurityToken {
			return c.refuse(Message{Number: 18456, State: 1, Class: 14,
				Text: "Login failed for user '<token-identified principal>'."})
		}
		user, fail := c.srv.opts.FedAuth.Validate(fed.token)
		if fail != nil {
			c.log.Debug("federated login refused", "number", fail.Number, "reason", fail.Text)
			return c.refuse(*fail)
		}
		req.User, req.Password, req.Federated = user, "", true
	}

	var sspiFinal []byte
	if b[l7Flags2]&fIntSecurity != 0 {
		token, err := login7SSPI(b)
		if err != nil {
			return err
		}
		user, final, err := c.integrated(token)
		if err != nil {
			return err
		}
		req.User, req.Password, req.Integrated, sspiFinal = user, "", true, final
	}

	sess, refusal := c.srv.h.Login(c.ctx, req)
	if sess == nil {
		if refusal == nil {
			refusal = &Message{Number: 18456, State: 1, Class: 14,
				Text: fmt.Sprintf("Login failed for user '%s'.", req.User)}
		}
		c.log.Debug("login refused", "user", req.User, "number", refusal.Number)
		return c.refuse(*refusal)
	}
	c.sess = sess
	if c.srv.onLogin != nil {
		c.srv.onLogin(c)
	}
	c.log.Debug("login", "user", req.User, "app", req.AppName, "packet_size", size,
		"tds_version", versionName(version), "encryption", string(c.enc))

	db := sess.Database()
	if len(sspiFinal) > 0 {
		// The acceptor's last token goes in a message of its own, as the
		// clients expect: they read an SSPI token as the end of a reply
		// (go-mssqldb starts reading the next one for the LOGINACK).
		if err := c.writeReply(appendSSPI(nil, sspiFinal), true); err != nil {
			return err
		}
	}
	var out []byte
	out = appendEnvChange(out, 1, db, "master")
	out = appendMessage(out, tokInfo, Message{Number: 5701, State: 2, Class: 0,
		Text: fmt.Sprintf("Changed database context to '%s'.", db), Server: c.srv.opts.ServerName, Line: 1})
	out = append(out, tokEnvChange)
	out = appendU16(out, 1+1+5+1)
	out = append(out, 7, 5)
	out = append(out, collation[:]...)
	out = append(out, 0)
	out = appendEnvChange(out, 2, "us_english", "")
	out = appendMessage(out, tokInfo, Message{Number: 5703, State: 1, Class: 0,
		Text: "Changed language setting to us_english.", Server: c.srv.opts.ServerName, Line: 1})
	out = appendLoginAck(out, version, c.srv.opts.Version)
	if fed != nil {
		out = appendFedAuthAck(out)
	}
	out = appendEnvChange(out, 4, strconv.Itoa(size), strconv.Itoa(size))
	out = append(out, c.done(doneToken(tokDone, 0, 0, 0))...)
	// The reply goes out in the size the client asked for, which it can
	// already read; the ENVCHANGE makes it the size for what follows.
	c.wmu.Lock()
	c.pw.size = size
	c.wmu.Unlock()
	return c.writeReply(out, true)
}

// refuse sends a login error as SQL Server does (ERROR, DONE with the
// error bit) and reports the login as failed.
func (c *conn) refuse(m Message) error {
	if m.Server == "" {
		m.Server = c.srv.opts.ServerName
	}
	if m.Class == 0 {
		m.Class = 14
	}
	out := appendMessage(nil, tokError, m)
	out = append(out, c.done(doneToken(tokDone, doneError, 0, 0))...)
	if err := c.writeReply(out, true); err != nil {
		return err
	}
	return fmt.Errorf("tds: login refused (%d)", m.Number)
}

func appendEnvChange(dst []byte, typ byte, newV, oldV string) []byte {
	body := []byte{typ}
	body = appendBVarChar(body, newV)
	body = appendBVarChar(body, oldV)
	dst = append(dst, tokEnvChange)
	dst = appendU16(dst, uint16(len(body)))
	return append(dst, body...)
}

func appendLoginAck(dst []byte, version uint32, v Version) []byte {
	body := []byte{1} // interface: SQL_TSQL
	body = binary.BigEndian.AppendUint32(body, version)
	body = appendBVarChar(body, "Microsoft SQL Server")
	body = append(body, v.Major, v.Minor, byte(v.Build>>8), byte(v.Build))
	dst = append(dst, tokLoginAck)
	dst = appendU16(dst, uint16(len(body)))
	return append(dst, body...)
}
