package tds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A hand-rolled client for what the real clients never send: malformed
// packets, and the fuzz target.

func packet(typ, status byte, body []byte) []byte {
	p := make([]byte, headerLen, headerLen+len(body))
	p[0], p[1] = typ, status
	binary.BigEndian.PutUint16(p[2:], uint16(headerLen+len(body)))
	p[6] = 1
	return append(p, body...)
}

func preloginBody() []byte {
	// VERSION and ENCRYPTION (off), then the terminator.
	return []byte{0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF, 1, 2, 3, 4, 0, 0, 0}
}

func login7Body(user, password, db string) []byte {
	strs := []struct {
		at  int
		s   string
		pwd bool
	}{{l7HostName, "host", false}, {l7UserName, user, false}, {l7Password, password, true},
		{l7AppName, "raw", false}, {l7ServerName, "srv", false}, {l7Database, db, false}}
	b := make([]byte, l7FixedLen)
	binary.LittleEndian.PutUint32(b[l7TDSVersion:], tds74)
	binary.LittleEndian.PutUint32(b[l7PacketSize:], 4096)
	for _, s := range strs {
		u := appendUCS2(nil, s.s)
		if s.pwd {
			for i, x := range u {
				u[i] = (x<<4 | x>>4) ^ 0xA5
			}
		}
		binary.LittleEndian.PutUint16(b[s.at:], uint16(len(b)))
		binary.LittleEndian.PutUint16(b[s.at+2:], uint16(len(u)/2))
		b = append(b, u...)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func batchBody(sql string) []byte {
	b := []byte{22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	return appendUCS2(b, sql)
}

// readReply reads one server message (up to end of message).
func readReply(c net.Conn) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := readMessage(c)
	if err != nil {
		return nil, err
	}
	if m.typ != pktReply {
		return nil, errors.New("reply packet type is not 4")
	}
	return m.body, nil
}

// rawLogin dials and logs in as sa.
func rawLogin(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(packet(pktPrelogin, statusEOM, preloginBody())); err != nil {
		t.Fatal(err)
	}
	if _, err := readReply(c); err != nil {
		t.Fatalf("prelogin reply: %v", err)
	}
	if _, err := c.Write(packet(pktLogin7, statusEOM, login7Body("sa", "pw", "master"))); err != nil {
		t.Fatal(err)
	}
	r, err := readReply(c)
	if err != nil {
		t.Fatalf("login reply: %v", err)
	}
	if !bytes.Contains(r, []byte{tokLoginAck}) {
		t.Fatalf("no LOGINACK in %x", r)
	}
	return c
}

// expectClosed asserts the server closes c (after any reply) within 5 s.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a broken connection open")
	}
}

// checkServing asserts that a fresh connection can log in and run a batch.
func checkServing(t testing.TB, addr string) {
	t.Helper()
	c := rawLogin(t, addr)
	defer c.Close()
	if _, err := c.Write(packet(pktBatch, statusEOM, batchBody("select 1"))); err != nil {
		t.Fatal(err)
	}
	r, err := readReply(c)
	if err != nil || !bytes.Contains(r, []byte{tokRow, 4, 1, 0, 0, 0}) {
		t.Fatalf("select 1 reply %x, %v", r, err)
	}
}

func TestMalformedInputClosesConnection(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	badLogin := login7Body("sa", "pw", "master")
	binary.LittleEndian.PutUint16(badLogin[l7UserName:], 60000) // offset past the end
	for _, tc := range []struct {
		name     string
		login    bool // log in first
		send     []byte
		wantBody []byte // for a non-fatal case: bytes expected in the reply
	}{
		{name: "short packet length", send: []byte{pktPrelogin, 1, 0, 4, 0, 0, 0, 0}},
		{name: "prelogin unterminated", send: packet(pktPrelogin, statusEOM, []byte{0, 0, 5, 0, 1})},
		{name: "prelogin option past end", send: packet(pktPrelogin, statusEOM, []byte{0, 0, 200, 0, 6, 0xFF})},
		{name: "batch before login", send: packet(pktBatch, statusEOM, batchBody("select 1"))},
		{name: "login too short", send: append(packet(pktPrelogin, statusEOM, preloginBody()), packet(pktLogin7, statusEOM, []byte{1, 2, 3})...)},
		{name: "login offset past end", send: append(packet(pktPrelogin, statusEOM, preloginBody()), packet(pktLogin7, statusEOM, badLogin)...)},
		{name: "batch odd length", login: true, send: packet(pktBatch, statusEOM, append(batchBody("x"), 0))},
		{name: "batch bad ALL_HEADERS", login: true, send: packet(pktBatch, statusEOM, []byte{0xFF, 0xFF, 0, 0, 'x', 0})},
		{name: "rpc truncated", login: true, send: packet(pktRPC, statusEOM, []byte{4, 0, 0, 0, 0xFF, 0xFF, 10})},
		{name: "mixed packet types", login: true, send: append(packet(pktBatch, 0, []byte{22, 0}), packet(pktRPC, statusEOM, nil)...)},
		{name: "login twice", login: true, send: packet(pktLogin7, statusEOM, login7Body("sa", "pw", ""))},
		{
			name: "rpc with unsupported type", login: true,
			// sp_executesql with one parameter of type MONEYN (0x6E).
			send:     packet(pktRPC, statusEOM, append(batchBody("")[:22], 0xFF, 0xFF, 10, 0, 0, 0, 0, 0, 0x6E, 8, 0)),
			wantBody: []byte{0x49, 0x1F, 0, 0}, // error 8009
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c net.Conn
			if tc.login {
				c = rawLogin(t, addr)
			} else {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
			}
			defer c.Close()
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.wantBody != nil {
				r, err := readReply(c)
				if err != nil || !bytes.Contains(r, tc.wantBody) {
					t.Fatalf("reply %x, %v; want it to contain %x", r, err, tc.wantBody)
				}
				checkServing(t, addr)
				return
			}
			expectClosed(t, c)
			checkServing(t, addr)
		})
	}
}

func TestAttentionWhenIdle(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	c := rawLogin(t, addr)
	defer c.Close()
	for i := 0; i < 3; i++ {
		if _, err := c.Write(packet(pktAttention, statusEOM, nil)); err != nil {
			t.Fatal(err)
		}
		r, err := readReply(c)
		want := doneToken(tokDone, doneAttn, 0, 0)
		if err != nil || !bytes.Equal(r, want[:]) {
			t.Fatalf("attention reply %x, %v", r, err)
		}
	}
}

func FuzzServer(f *testing.F) {
	panics := make(chan any, 16)
	srv, addr := startServerHook(f, newTestHandler(), Options{HandshakeTimeout: 2 * time.Second},
		func(r any) { panics <- r })
	var seedBatch, seedRPC []byte
	seedBatch = append(packet(pktBatch, statusEOM, batchBody("alltypes")), packet(pktAttention, statusEOM, nil)...)
	rpc := append(batchBody("")[:22], 0xFF, 0xFF, 10, 0, 0, 0)
	rpc = append(rpc, 0, 0, tyNVarChar, 0x10, 0, 9, 4, 0xD0, 0, 0x34, 16, 0)
	rpc = appendUCS2(rpc, "select 1")
	rpc = append(rpc, 0, 0, tyIntN, 8, 8, 1, 0, 0, 0, 0, 0, 0, 0)
	seedRPC = packet(pktRPC, statusEOM, rpc)
	f.Add(byte(0), append(packet(pktPrelogin, statusEOM, preloginBody()), packet(pktLogin7, statusEOM, login7Body("sa", "pw", "db"))...))
	f.Add(byte(0), packet(pktLogin7, statusEOM, login7Body("x", "y", "")))
	f.Add(byte(1), seedBatch)
	f.Add(byte(1), seedRPC)
	f.Add(byte(1), []byte("garbage that is not a packet"))
	// Transaction manager requests: begin with a name, commit that begins
	// a new one, an unknown kind; a batch that resets the connection.
	hdr := batchBody("")[:22]
	tmBegin := append(append([]byte{}, hdr...), 5, 0, 2, 4)
	tmBegin = appendUCS2(tmBegin, "t1")
	tmCommit := append(append([]byte{}, hdr...), 7, 0, 0, 1, 2, 0)
	f.Add(byte(1), append(packet(pktTransMgr, statusEOM, tmBegin), packet(pktTransMgr, statusEOM, tmCommit)...))
	f.Add(byte(1), packet(pktTransMgr, statusEOM, append(append([]byte{}, hdr...), 6, 0)))
	f.Add(byte(1), packet(pktBatch, statusEOM|statusResetSkipTx, batchBody("select 1")))
	// An RPC with an OUTPUT parameter (status 1): a RETURNVALUE comes back.
	out := append(append([]byte{}, rpc...), 2, '@', 0, 'o', 0, 1, tyIntN, 8, 8, 5, 0, 0, 0, 0, 0, 0, 0)
	f.Add(byte(1), packet(pktRPC, statusEOM, out))
	// A TDS 7.1 login, then a batch and an RPC without ALL_HEADERS.
	l71 := login7Body("sa", "pw", "")
	binary.LittleEndian.PutUint32(l71[l7TDSVersion:], tds71)
	f.Add(byte(0), append(append(packet(pktLogin7, statusEOM, l71),
		packet(pktBatch, statusEOM, appendUCS2(nil, "alltypes"))...), packet(pktRPC, statusEOM, rpc[22:])...))
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		var c net.Conn
		if mode%2 == 1 {
			c = rawLogin(t, addr) // fuzz what follows a good login
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
		// End our side: whatever the server made of the bytes, it must now
		// finish and close rather than wait forever.
		_ = c.(*net.TCPConn).CloseWrite()
		expectClosed(t, c)
		c.Close()
		select {
		case r := <-panics:
			t.Fatalf("server panicked: %v", r)
		default:
		}
		checkServing(t, addr)
		_ = srv
	})
}
