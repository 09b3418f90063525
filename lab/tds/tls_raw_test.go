package tds

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// preloginEnc is a PRELOGIN body with VERSION and the given ENCRYPTION.
func preloginEnc(enc byte) []byte {
	b := preloginBody()
	b[17] = enc
	return b
}

func login7Version(version uint32) []byte {
	b := login7Body("sa", "pw", "master")
	binary.LittleEndian.PutUint32(b[l7TDSVersion:], version)
	return b
}

// rawLoginAt logs in in clear text (PRELOGIN says NOT_SUP) with a chosen
// TDS version and returns the connection and the login reply.
func rawLoginAt(t testing.TB, addr string, version uint32) (net.Conn, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(packet(pktPrelogin, statusEOM, preloginEnc(encryptNotSup))); err != nil {
		t.Fatal(err)
	}
	if _, err := readReply(c); err != nil {
		t.Fatalf("prelogin reply: %v", err)
	}
	if _, err := c.Write(packet(pktLogin7, statusEOM, login7Version(version))); err != nil {
		t.Fatal(err)
	}
	r, err := readReply(c)
	if err != nil {
		t.Fatalf("login reply: %v", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, r
}

// TestVersionEncodings reads the raw reply bytes a client of each version
// gets: the LOGINACK version, the DONE length (4-byte row count before
// 7.2) and the batch layout (no ALL_HEADERS before 7.2).
func TestVersionEncodings(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	for _, tc := range []struct {
		client, ack uint32
		doneLen     int
	}{
		{0x71000000, tds71, 9},
		{tds71, tds71, 9},
		{tds72, tds72, 13},
		{tds73A, tds73A, 13},
		{tds73B, tds73B, 13},
		{tds74, tds74, 13},
		{0x75000005, tds74, 13}, // a future version gets the highest the server has
	} {
		t.Run(versionName(tc.client), func(t *testing.T) {
			c, r := rawLoginAt(t, addr, tc.client)
			defer c.Close()
			i := bytes.IndexByte(r, tokLoginAck)
			if i < 0 || len(r) < i+8 {
				t.Fatalf("no LOGINACK in %x", r)
			}
			if got := binary.BigEndian.Uint32(r[i+4:]); got != tc.ack {
				t.Errorf("LOGINACK version %08X, want %08X", got, tc.ack)
			}
			body := appendUCS2(nil, "select 1")
			if tc.doneLen == 13 {
				body = batchBody("select 1")
			}
			if _, err := c.Write(packet(pktBatch, statusEOM, body)); err != nil {
				t.Fatal(err)
			}
			r, err := readReply(c)
			if err != nil {
				t.Fatal(err)
			}
			// COLMETADATA(1 col) ... ROW(int 1) DONE(count 1)
			done := r[len(r)-tc.doneLen:]
			if done[0] != tokDone || done[1] != doneCount || done[5] != 1 {
				t.Fatalf("reply %x does not end with a %d-byte DONE(COUNT, 1)", r, tc.doneLen)
			}
			row := r[len(r)-tc.doneLen-6 : len(r)-tc.doneLen]
			if !bytes.Equal(row, []byte{tokRow, 4, 1, 0, 0, 0}) {
				t.Errorf("row %x, want %x", row, []byte{tokRow, 4, 1, 0, 0, 0})
			}
		})
	}
	t.Run("7.0 refused", func(t *testing.T) {
		c, r := rawLoginAt(t, addr, 0x70000000)
		defer c.Close()
		if !bytes.Contains(r, []byte{tokError}) || bytes.Contains(r, []byte{tokLoginAck}) {
			t.Fatalf("TDS 7.0 login reply %x, want an error", r)
		}
	})
	t.Run("8.0 without TLS refused", func(t *testing.T) {
		c, r := rawLoginAt(t, addr, tds80)
		defer c.Close()
		if bytes.Contains(r, []byte{tokLoginAck}) {
			t.Fatalf("a TDS 8.0 login in clear text was accepted: %x", r)
		}
	})
}

// TestDownlevelTypes checks the TYPE_INFO a down-level client gets.
func TestDownlevelTypes(t *testing.T) {
	for _, tc := range []struct {
		version uint32
		col     Column
		want    []byte
	}{
		{tds71, Column{Type: NVarChar, Size: -1}, append(append([]byte{tyNText, 0xFF, 0xFF, 0xFF, 0x7F}, collation[:]...), 0, 0)},
		{tds71, Column{Type: VarChar, Size: -1}, append(append([]byte{tyText, 0xFF, 0xFF, 0xFF, 0x7F}, collation[:]...), 0, 0)},
		{tds71, Column{Type: VarBinary, Size: -1}, []byte{tyImage, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0}},
		{tds71, Column{Type: NVarChar, Size: 10}, append([]byte{tyNVarChar, 20, 0}, collation[:]...)},
		{tds72, Column{Type: NVarChar, Size: -1}, append([]byte{tyNVarChar, 0xFF, 0xFF}, collation[:]...)},
		{tds72, Column{Type: DateTime2}, append([]byte{tyNVarChar, 54, 0}, collation[:]...)},
		{tds73A, Column{Type: DateTime2}, []byte{tyDateTime2N, 7}},
		{tds72, Column{Type: DateTimeOffset}, append([]byte{tyNVarChar, 68, 0}, collation[:]...)},
		{tds73A, Column{Type: DateTimeOffset}, []byte{tyDTOffsetN, 7}},
		{tds74, Column{Type: VarBinary, Size: -1}, []byte{tyBigVarBin, 0xFF, 0xFF}},
	} {
		c := &conn{version: tc.version}
		col := c.downlevel(tc.col)
		if got := c.appendColTypeInfo(nil, col); !bytes.Equal(got, tc.want) {
			t.Errorf("%s %s(%d): %x, want %x", versionName(tc.version), typeName(tc.col.Type), tc.col.Size, got, tc.want)
		}
	}
	c := &conn{version: tds71}
	col := c.downlevel(Column{Name: "x", Type: NVarChar, Size: -1})
	got, err := c.appendColValue(nil, col, "hi")
	want := append([]byte{16}, dummyTextPtr[:]...)
	want = append(want, dummyTimestamp[:]...)
	want = append(want, 4, 0, 0, 0, 'h', 0, 'i', 0)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ntext value %x, %v; want %x", got, err, want)
	}
	if got, _ := c.appendColValue(nil, col, nil); !bytes.Equal(got, []byte{0}) {
		t.Errorf("ntext NULL %x", got)
	}
	if _, err := c.appendColValue(nil, col, 42); err == nil {
		t.Error("an int for an ntext column was accepted")
	}
	col = c.downlevel(Column{Name: "d", Type: DateTimeOffset})
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))
	got, err = c.appendColValue(nil, col, ts)
	s := "2024-05-06 07:08:09.0000000 +02:00"
	if want := appendUCS2([]byte{byte(2 * len(s)), 0}, s); err != nil || !bytes.Equal(got, want) {
		t.Errorf("datetimeoffset at 7.1: %x, %v; want %q", got, err, s)
	}
}

// TestPreloginRefusals: the connection ends right after the PRELOGIN reply
// where MS-TDS's table says "connection terminated", and the reply says why.
func TestPreloginRefusals(t *testing.T) {
	cert, _ := labCert(t)
	for _, tc := range []struct {
		name   string
		opts   Options
		client byte
		answer byte
	}{
		{"forced, client cannot encrypt", Options{Certificate: cert, ForceEncryption: true}, encryptNotSup, encryptReq},
		{"no certificate, client requires", Options{}, encryptOn, encryptNotSup},
		{"no certificate, client REQ", Options{}, encryptReq, encryptNotSup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, newTestHandler(), tc.opts)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(packet(pktPrelogin, statusEOM, preloginEnc(tc.client))); err != nil {
				t.Fatal(err)
			}
			r, err := readReply(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := clientEncryption(r); got != tc.answer {
				t.Errorf("ENCRYPTION answer %d, want %d", got, tc.answer)
			}
			// A client that goes on in clear text anyway is not served.
			_, _ = c.Write(packet(pktLogin7, statusEOM, login7Body("sa", "pw", "master")))
			expectClosed(t, c)
		})
	}
}

// clientHello captures the first TLS record a Go client sends.
func clientHello(t testing.TB, alpn string) []byte {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}
		_ = tls.Client(a, cfg).Handshake()
	}()
	buf := make([]byte, 4096)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestStrictOnOlderServer: a server that does not offer TDS 8.0 (before
// 2022) drops a TLS-first client, and a strict server refuses a foreign
// ALPN protocol.
func TestStrictRefusals(t *testing.T) {
	cert, _ := labCert(t)
	for _, tc := range []struct {
		name string
		opts Options
		alpn string
	}{
		{"2019", Options{Certificate: cert}, alpnTDS8},
		{"no certificate", Options{Strict: true}, alpnTDS8},
		{"wrong ALPN", Options{Certificate: cert, Strict: true}, "h2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, newTestHandler(), tc.opts)
			c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{tc.alpn}})
			if err == nil {
				c.Close()
				t.Fatal("TLS handshake succeeded")
			}
		})
	}
}

// FuzzServerTLS feeds arbitrary bytes to a server that has a certificate
// and offers TDS 8.0: from the first byte (PRELOGIN with every ENCRYPTION
// value, handshake records inside PRELOGIN packets, a TLS-first client),
// or after a TDS 7.1 login (no ALL_HEADERS, 4-byte DONE counts). The
// server must neither panic nor hang.
func FuzzServerTLS(f *testing.F) {
	cert, _ := labCert(f)
	panics := make(chan any, 16)
	_, addr := startServerHook(f, newTestHandler(),
		Options{Certificate: cert, Strict: true, HandshakeTimeout: 2 * time.Second},
		func(r any) { panics <- r })
	hello := clientHello(f, alpnTDS8)
	for _, enc := range []byte{encryptOff, encryptOn, encryptNotSup, encryptReq, 4} {
		f.Add(byte(0), append(packet(pktPrelogin, statusEOM, preloginEnc(enc)), packet(pktPrelogin, statusEOM, hello)...))
	}
	f.Add(byte(0), append(packet(pktPrelogin, statusEOM, preloginEnc(encryptNotSup)), packet(pktLogin7, statusEOM, login7Version(tds71))...))
	f.Add(byte(0), hello)
	f.Add(byte(0), hello[:len(hello)/2])
	f.Add(byte(1), packet(pktBatch, statusEOM, appendUCS2(nil, "alltypes")))
	f.Add(byte(1), packet(pktRPC, statusEOM, []byte{0xFF, 0xFF, 10, 0, 0, 0, 0, 0, tyIntN, 4, 4, 1, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		var c net.Conn
		if mode%2 == 1 {
			c, _ = rawLoginAt(t, addr, tds71)
		} else {
			var err error
			if c, err = net.Dial("tcp", addr); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(data); err != nil && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "broken pipe") {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		expectClosed(t, c)
		c.Close()
		select {
		case r := <-panics:
			t.Fatalf("server panicked: %v", r)
		default:
		}
		// Still serving: a clear-text login (the seed's rawLogin would say
		// OFF, which means login-only TLS here) runs a query.
		c, _ = rawLoginAt(t, addr, tds74)
		defer c.Close()
		if _, err := c.Write(packet(pktBatch, statusEOM, batchBody("select 1"))); err != nil {
			t.Fatal(err)
		}
		if r, err := readReply(c); err != nil || !bytes.Contains(r, []byte{tokRow, 4, 1, 0, 0, 0}) {
			t.Fatalf("select 1 reply %x, %v", r, err)
		}
	})
}
