package tds

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// PRELOGIN ENCRYPTION values (MS-TDS 2.2.6.5). A client sends OFF, ON,
// NOT_SUP or REQ; go-mssqldb sends 4 inside a TDS 8.0 (strict) connection.
const (
	encryptOff    = 0
	encryptOn     = 1
	encryptNotSup = 2
	encryptReq    = 3
)

// tlsRecordHandshake is the first byte of a TLS ClientHello record; a TDS
// 7.x client starts with a PRELOGIN packet (0x12) instead. That first byte
// is how a TDS 8.0 server tells a strict client from a 7.x one.
const tlsRecordHandshake = 0x16

// alpnTDS8 is the ALPN protocol id of TDS 8.0.
const alpnTDS8 = "tds/8.0"

// Encryption names what a connection negotiated, for logs and tests.
type Encryption string

const (
	// EncryptionNone: the whole connection is clear text.
	EncryptionNone Encryption = "none"
	// EncryptionLogin: only the LOGIN7 packet went through TLS (the client
	// said OFF, the server OFF: MS-TDS's "encrypt login packet only").
	EncryptionLogin Encryption = "login-only"
	// EncryptionOn: TLS negotiated in PRELOGIN, the handshake carried in
	// PRELOGIN packets, everything after it encrypted (TDS 7.x).
	EncryptionOn Encryption = "on"
	// EncryptionStrict: TDS 8.0, TLS directly on TCP before any TDS packet.
	EncryptionStrict Encryption = "strict"
)

// preloginOutcome is the server's half of MS-TDS's encryption table: what to
// answer and what happens next.
type preloginOutcome struct {
	answer byte       // the ENCRYPTION byte of the reply
	enc    Encryption // what follows the reply
	// refuse: the combination is "connection terminated" in the table; the
	// server sends its answer and then closes the connection.
	refuse string
}

// negotiate applies MS-TDS 2.2.6.5's table to the client's ENCRYPTION byte.
// canTLS says the server has a certificate; force is SQL Server's "Force
// Encryption" setting. A real SQL Server always has a certificate (it makes
// a self-signed one at start), so NOT_SUP is an answer only a lab server
// configured without one gives.
func negotiate(client byte, canTLS, force bool) preloginOutcome {
	if !canTLS {
		switch client {
		case encryptOff, encryptNotSup:
			return preloginOutcome{answer: encryptNotSup, enc: EncryptionNone}
		default: // ON, REQ (and anything else a client asks with)
			return preloginOutcome{answer: encryptNotSup, enc: EncryptionNone,
				refuse: "the client requires encryption and the server has no certificate"}
		}
	}
	switch client {
	case encryptNotSup:
		if force {
			// The table: client NOT_SUP, server ON → the server answers
			// REQ and terminates the connection.
			return preloginOutcome{answer: encryptReq, enc: EncryptionNone,
				refuse: "the server forces encryption and the client cannot encrypt"}
		}
		return preloginOutcome{answer: encryptNotSup, enc: EncryptionNone}
	case encryptOff:
		if force {
			return preloginOutcome{answer: encryptOn, enc: EncryptionOn}
		}
		return preloginOutcome{answer: encryptOff, enc: EncryptionLogin}
	default: // ON, REQ, and unknown values read as a request for encryption
		return preloginOutcome{answer: encryptOn, enc: EncryptionOn}
	}
}

// clientEncryption finds the ENCRYPTION option of a PRELOGIN message that
// has already been validated; a PRELOGIN without one reads as NOT_SUP.
func clientEncryption(b []byte) byte {
	for i := 0; i+5 <= len(b) && b[i] != 0xFF; i += 5 {
		if b[i] != 1 {
			continue
		}
		off := int(binary.BigEndian.Uint16(b[i+1:]))
		n := int(binary.BigEndian.Uint16(b[i+3:]))
		if n >= 1 && off < len(b) {
			return b[off]
		}
	}
	return encryptNotSup
}

// prefixConn gives back the byte read to tell TLS from TDS before reading
// on from the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// tdsTLSShim carries a TLS handshake inside TDS PRELOGIN packets, as TDS
// 7.x does: what the TLS server writes is buffered and sent as one PRELOGIN
// message when it next reads (its flight is complete), and what it reads is
// the payload of the client's PRELOGIN packets. Once the handshake is done
// the shim passes bytes straight through: TLS records then travel on TCP
// and carry whole TDS packets.
type tdsTLSShim struct {
	net.Conn        // the plain transport
	spid     uint16 // for the packet headers
	in       []byte // unread payload of the current packet
	out      []byte
	through  bool
}

func (s *tdsTLSShim) Read(b []byte) (int, error) {
	if s.through {
		return s.Conn.Read(b)
	}
	if len(s.in) == 0 {
		if err := s.flush(); err != nil {
			return 0, err
		}
		var hdr [headerLen]byte
		if _, err := io.ReadFull(s.Conn, hdr[:]); err != nil {
			return 0, err
		}
		if hdr[0] != pktPrelogin {
			return 0, fmt.Errorf("tds: packet type 0x%02x during the TLS handshake (want PRELOGIN)", hdr[0])
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n <= headerLen {
			return 0, fmt.Errorf("tds: empty or short packet (%d bytes) during the TLS handshake", n)
		}
		s.in = make([]byte, n-headerLen)
		if _, err := io.ReadFull(s.Conn, s.in); err != nil {
			return 0, err
		}
	}
	n := copy(b, s.in)
	s.in = s.in[n:]
	return n, nil
}

func (s *tdsTLSShim) Write(b []byte) (int, error) {
	if s.through {
		return s.Conn.Write(b)
	}
	s.out = append(s.out, b...)
	return len(b), nil
}

// flush sends the buffered handshake bytes as one PRELOGIN message in
// packets of the pre-login packet size, which every client can read.
func (s *tdsTLSShim) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	pw := packetWriter{w: s.Conn, size: 4096, spid: s.spid, typ: pktPrelogin}
	err := pw.write(s.out, true)
	s.out = nil
	return err
}

// serverTLSConfig is the configuration for one connection: TLS 1.2 at most
// inside TDS 7.x packets (SQL Server offers TLS 1.3 only with TDS 8.0), and
// no session tickets, which would trail the handshake inside a PRELOGIN
// packet the client no longer reads.
func (c *conn) serverTLSConfig(strict bool) *tls.Config {
	cfg := &tls.Config{
		Certificates:           []tls.Certificate{*c.srv.opts.Certificate},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	if strict {
		cfg.NextProtos = []string{alpnTDS8}
	} else {
		cfg.MaxVersion = tls.VersionTLS12
	}
	return cfg
}

// startStrict runs the TLS handshake of a TDS 8.0 connection, directly on
// TCP. A server that does not speak TDS 8.0 (before SQL Server 2022), or
// one without a certificate, reads the ClientHello as a malformed packet
// and drops the connection.
func (c *conn) startStrict(raw net.Conn) (*tls.Conn, error) {
	if !c.srv.opts.Strict || c.srv.opts.Certificate == nil {
		return nil, errors.New("tds: TLS before PRELOGIN (TDS 8.0 strict) and this server does not offer TDS 8.0")
	}
	tc := tls.Server(raw, c.serverTLSConfig(true))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return nil, fmt.Errorf("tds: TDS 8.0 TLS handshake: %w", err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != alpnTDS8 {
		return nil, fmt.Errorf("tds: TDS 8.0 TLS handshake negotiated ALPN %q", p)
	}
	return tc, nil
}

// startTLSInTDS runs the TLS handshake of a TDS 7.x connection inside
// PRELOGIN packets and returns the TLS connection over raw.
func (c *conn) startTLSInTDS(raw net.Conn) (*tls.Conn, error) {
	shim := &tdsTLSShim{Conn: raw, spid: c.spid}
	tc := tls.Server(shim, c.serverTLSConfig(false))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return nil, fmt.Errorf("tds: TLS handshake in PRELOGIN packets: %w", err)
	}
	if err := shim.flush(); err != nil {
		return nil, err
	}
	if len(shim.in) != 0 {
		return nil, errors.New("tds: the client sent data after its TLS handshake inside the same packet")
	}
	shim.through = true
	return tc, nil
}
