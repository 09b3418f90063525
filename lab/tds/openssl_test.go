package tds

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestOpenSSLStrict checks TDS 8.0 with another TLS implementation:
// OpenSSL's s_client opens TLS first with ALPN tds/8.0, verifies the lab
// certificate by address, and carries a hand-made PRELOGIN, a TDS 8.0
// LOGIN7 and a batch; the server answers each inside TLS. (s_client is not
// a TDS client; the packets are this test's.)
func TestOpenSSLStrict(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("MILINK_REQUIRE_OPENSSL") != "" {
			t.Fatal("openssl not on PATH, and MILINK_REQUIRE_OPENSSL is set")
		}
		t.Skip("openssl not on PATH")
	}
	cert, pemPath := labCert(t)
	_, addr := startServer(t, newTestHandler(), Options{Certificate: cert, Strict: true})
	host, _, _ := net.SplitHostPort(addr)

	var in bytes.Buffer
	in.Write(packet(pktPrelogin, statusEOM, preloginEnc(4)))
	in.Write(packet(pktLogin7, statusEOM, login7Version(tds80)))
	in.Write(packet(pktBatch, statusEOM, batchBody("select 1")))
	in.Write(packet(0x55, statusEOM, nil)) // not a request: the server hangs up, so s_client ends

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-alpn", alpnTDS8,
		"-CAfile", pemPath, "-verify_ip", host, "-verify_return_error", "-quiet")
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("s_client hung:\n%s", stderr.String())
	}
	replies := splitReplies(t, out.Bytes())
	if len(replies) != 3 {
		t.Fatalf("%d replies (%x), want PRELOGIN, LOGIN7 and batch replies\n%s", len(replies), out.Bytes(), stderr.String())
	}
	if got := clientEncryption(replies[0]); got != encryptOn {
		t.Errorf("PRELOGIN ENCRYPTION inside TDS 8.0 = %d", got)
	}
	i := bytes.IndexByte(replies[1], tokLoginAck)
	if i < 0 || len(replies[1]) < i+8 || binary.BigEndian.Uint32(replies[1][i+4:]) != tds74 {
		t.Errorf("login reply %x: want LOGINACK with TDS 7.4", replies[1])
	}
	if !bytes.Contains(replies[2], []byte{tokRow, 4, 1, 0, 0, 0}) {
		t.Errorf("batch reply %x lacks the row", replies[2])
	}
}

// splitReplies cuts a byte stream of server packets into messages (their
// payloads joined).
func splitReplies(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	var cur []byte
	for len(b) >= headerLen {
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < headerLen || n > len(b) {
			t.Fatalf("broken packet stream at %x", b)
		}
		cur = append(cur, b[headerLen:n]...)
		if b[1]&statusEOM != 0 {
			msgs = append(msgs, cur)
			cur = nil
		}
		b = b[n:]
	}
	return msgs
}
