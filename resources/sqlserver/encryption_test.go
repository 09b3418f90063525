package sqlserver

import (
	"errors"
	"strings"
	"testing"

	"github.com/microsoft/go-mssqldb/msdsn"
)

// preloginReply is a PRELOGIN reply packet with VERSION and ENCRYPTION.
func preloginReply(enc byte) []byte {
	body := []byte{0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF, 16, 0, 3, 232, 0, 0, enc}
	return append([]byte{0x04, 0x01, 0, byte(8 + len(body)), 0, 0, 1, 0}, body...)
}

func TestNegotiatedEncryption(t *testing.T) {
	for _, tc := range []struct {
		encrypt    string
		firstWrite byte
		read       []byte
		want       string
	}{
		{"strict", 0x16, nil, encStrict},
		{"true", 0x12, preloginReply(1), encOn},
		{"false", 0x12, preloginReply(1), encOn}, // the server forces encryption
		{"false", 0x12, preloginReply(0), encLoginOnly},
		{"", 0x12, preloginReply(0), encLoginOnly},
		{"false", 0x12, preloginReply(2), encNone},
		{"disable", 0x12, preloginReply(2), encNone},
		{"true", 0x12, []byte{0x04, 0x01}, encUnknown},
		{"true", 0x12, append([]byte{0x01}, preloginReply(1)[1:]...), encUnknown},
	} {
		c := &guardedConn{}
		c.recordWrite([]byte{tc.firstWrite, 1, 0})
		c.recordRead(tc.read)
		if got := c.negotiated(tc.encrypt); got != tc.want {
			t.Errorf("encrypt %q, first byte 0x%02x, reply %x: %q, want %q", tc.encrypt, tc.firstWrite, tc.read, got, tc.want)
		}
	}
	// Only the login's bytes are kept, and at most firstBytesMax of them.
	c := &guardedConn{}
	c.recordRead(make([]byte, 2*firstBytesMax))
	if len(c.firstRead) != firstBytesMax {
		t.Errorf("kept %d bytes", len(c.firstRead))
	}
	c = &guardedConn{}
	c.established.Store(true)
	c.recordRead(preloginReply(1))
	if len(c.firstRead) != 0 {
		t.Error("bytes after the login were kept")
	}
}

func TestTLSHint(t *testing.T) {
	for _, tc := range []struct {
		encrypt, err, want string
	}{
		{"true", "TLS Handshake failed: tls: failed to verify certificate: x509: certificate is valid for sql01, 127.0.0.2, not db1", "set host_name_in_certificate"},
		{"true", "TLS Handshake failed: x509: certificate signed by unknown authority", "trust_server_certificate = true skips the check"},
		{"strict", "TLS Handshake failed: x509: certificate signed by unknown authority", `certificate = "FILE.pem"`},
		{"true", "server does not support encryption", `encrypt = "true" requires encryption`},
		{"strict", "read tcp: connection reset by peer", "2022 or later"},
		{"disable", "TLS Handshake failed: cannot read handshake packet: EOF", "Force Encryption"},
		{"true", "cannot read certificate \"x.pem\": open x.pem: no such file", "check the path"},
		{"true", "login error: mssql: Login failed for user 'sa'.", ""},
	} {
		got := tlsHint(&Server{Encrypt: tc.encrypt}, errors.New(tc.err))
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("tlsHint(%q, %q) = %q, want it to contain %q", tc.encrypt, tc.err, got, tc.want)
		}
		if tc.encrypt == "strict" && strings.Contains(got, "trust_server_certificate = true skips") {
			t.Errorf("the strict hint offers trust_server_certificate, which strict ignores: %q", got)
		}
	}
}

func TestDSNCertificate(t *testing.T) {
	s := sql01()
	s.Encrypt, s.Certificate, s.HostNameInCertificate = "true", "testdata/none.pem", "db1.example.com"
	p, err := msdsn.Parse(DSN(s))
	if err == nil {
		t.Fatalf("a missing certificate file parsed: %+v", p.TLSConfig)
	}
	if !strings.Contains(err.Error(), "testdata/none.pem") {
		t.Errorf("error %q does not name the file", err)
	}
	s.Certificate = ""
	p, err = msdsn.Parse(DSN(s))
	if err != nil {
		t.Fatal(err)
	}
	if p.Encryption != msdsn.EncryptionRequired || p.TLSConfig == nil || p.TLSConfig.ServerName != "db1.example.com" {
		t.Errorf("encryption %v, TLS config %+v", p.Encryption, p.TLSConfig)
	}
}
