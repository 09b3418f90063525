package tds

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Options.LoginLatency: a client far away pays for the TCP handshake,
// PRELOGIN and LOGIN7, whether the login succeeds or not.
func TestLoginLatency(t *testing.T) {
	const d = 50 * time.Millisecond
	tests := []struct {
		name     string
		prelogin bool
		password string
		want     []time.Duration // the least time each reply takes, in order
	}{
		{"prelogin then login", true, "pw", []time.Duration{2 * d, d}},
		{"login without prelogin", false, "pw", []time.Duration{2 * d}},
		{"refused login", true, "wrong", []time.Duration{2 * d, d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			_, addr := startServer(t, newTestHandler(), Options{LoginLatency: func() time.Duration {
				calls.Add(1)
				return d
			}})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msgs := [][]byte{packet(pktLogin7, statusEOM, login7Body("sa", tt.password, "master"))}
			if tt.prelogin {
				msgs = append([][]byte{packet(pktPrelogin, statusEOM, preloginBody())}, msgs...)
			}
			var last []byte
			for i, m := range msgs {
				start := time.Now()
				if _, err := c.Write(m); err != nil {
					t.Fatal(err)
				}
				if last, err = readReply(c); err != nil {
					t.Fatalf("reply %d: %v", i+1, err)
				}
				if took := time.Since(start); took < tt.want[i] {
					t.Errorf("reply %d came after %s, want at least %s", i+1, took, tt.want[i])
				}
			}
			if got := int(calls.Load()); got != len(msgs) {
				t.Errorf("LoginLatency called %d times, want once per reply (%d)", got, len(msgs))
			}
			if refused := bytes.Contains(last, []byte{tokError}); refused != (tt.password != "pw") {
				t.Errorf("login reply %x: refused = %v", last, refused)
			}
		})
	}
}

// A server closing (a lab restart) does not wait out a login's latency.
func TestLoginLatencyCloseDoesNotWait(t *testing.T) {
	waiting := make(chan struct{}, 1)
	srv, addr := startServer(t, newTestHandler(), Options{LoginLatency: func() time.Duration {
		waiting <- struct{}{}
		return time.Hour
	}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(packet(pktPrelogin, statusEOM, preloginBody())); err != nil {
		t.Fatal(err)
	}
	<-waiting
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the login's latency")
	}
}
