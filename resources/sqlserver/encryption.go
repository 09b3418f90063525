package sqlserver

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// firstBytesMax bounds what a connection keeps of the login's first bytes:
// a PRELOGIN reply is a few dozen bytes.
const firstBytesMax = 512

// recordRead keeps the first bytes the server sent, until the login is
// done, so that the negotiated encryption can be read off the wire: the
// driver does not report it.
func (c *guardedConn) recordRead(b []byte) {
	if c.established.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := firstBytesMax - len(c.firstRead); room > 0 {
		c.firstRead = append(c.firstRead, b[:min(len(b), room)]...)
	}
}

// recordWrite notes the first byte the client sent: a TLS record (0x16)
// means TDS 8.0, where TLS comes before PRELOGIN.
func (c *guardedConn) recordWrite(b []byte) {
	if len(b) == 0 || c.established.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.wrote {
		c.wrote, c.firstWrite = true, b[0]
	}
}

// Negotiated encryption, as the log and errors name it.
const (
	encNone      = "none"
	encLoginOnly = "login packet only"
	encOn        = "TLS"
	encStrict    = "TLS, TDS 8.0 (strict)"
	encUnknown   = "unknown"
)

// negotiated says what the login negotiated, from the first bytes on the
// wire and the client's encrypt setting: TLS first (strict), or the
// ENCRYPTION option of the server's PRELOGIN reply read against MS-TDS's
// table. go-mssqldb refuses a server that cannot encrypt when encrypt is
// "true", so a login that succeeded with ON is encrypted throughout.
func (c *guardedConn) negotiated(encrypt string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wrote && c.firstWrite == 0x16 {
		return encStrict
	}
	server, ok := preloginEncryption(c.firstRead)
	if !ok {
		return encUnknown
	}
	client := encrypt
	if client == "" {
		client = "false"
	}
	switch {
	case server == 2: // NOT_SUP
		return encNone
	case client == "disable":
		// The client said NOT_SUP; a server that answers otherwise
		// refuses the login, so a login that got here had NOT_SUP.
		return encNone
	case client == "false" && server == 0: // OFF × OFF
		return encLoginOnly
	}
	return encOn
}

// preloginEncryption finds the ENCRYPTION option in a PRELOGIN reply
// (packet header included).
func preloginEncryption(b []byte) (byte, bool) {
	const hdr = 8
	if len(b) < hdr || b[0] != 0x04 {
		return 0, false
	}
	body := b[hdr:]
	if n := int(binary.BigEndian.Uint16(b[2:])) - hdr; n >= 0 && n < len(body) {
		body = body[:n]
	}
	for i := 0; i+5 <= len(body) && body[i] != 0xFF; i += 5 {
		if body[i] != 1 {
			continue
		}
		off := int(binary.BigEndian.Uint16(body[i+1:]))
		if int(binary.BigEndian.Uint16(body[i+3:])) >= 1 && off < len(body) {
			return body[off], true
		}
	}
	return 0, false
}

// tlsHint says what to do about a failed TLS negotiation, or "". The
// driver wraps the TLS errors as text (not always with %w), so they are
// recognised by their words.
func tlsHint(s *Server, err error) string {
	msg := err.Error()
	encrypt := s.Encrypt
	if encrypt == "" {
		encrypt = "false"
	}
	switch {
	case strings.Contains(msg, "x509: certificate is valid for") || strings.Contains(msg, "certificate is not valid for any names"):
		return "The server's TLS certificate does not carry the name milink checked (the address, or host_name_in_certificate): " +
			"connect with a name the certificate carries, or set host_name_in_certificate to one of them."
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		hint := "The server's TLS certificate is not trusted: give it (or the CA that issued it) with certificate = \"FILE.pem\", or add that CA to the system's trust store"
		if encrypt != "strict" {
			hint += "; trust_server_certificate = true skips the check, for tests only"
		}
		return hint + "."
	case strings.Contains(msg, "x509: certificate has expired") || strings.Contains(msg, "x509: certificate is not yet valid"):
		return "The server's TLS certificate is outside its validity period: renew it on the server."
	case strings.Contains(msg, "cannot read certificate"):
		return "The file given as certificate cannot be read: check the path (relative paths are from the working directory)."
	case strings.Contains(msg, "server does not support encryption"):
		return fmt.Sprintf("The server has no TLS certificate and encrypt = %q requires encryption: configure a certificate on the server, or lower encrypt (\"false\" leaves the session unencrypted).", encrypt)
	case encrypt == "strict" && (strings.Contains(msg, "TLS Handshake failed") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")):
		// A server without TDS 8.0 reads the ClientHello as a broken
		// packet and drops the connection.
		return "encrypt = \"strict\" (TDS 8.0) needs SQL Server 2022 or later, or a managed instance, with a certificate: use encrypt = \"true\" for older servers."
	case strings.Contains(msg, "TLS Handshake failed") && encrypt == "disable":
		return "The server refused a connection without encryption (Force Encryption is on): set encrypt = \"true\"."
	}
	return ""
}
