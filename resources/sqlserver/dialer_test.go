package sqlserver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// silentServer accepts TCP connections and never answers, like a hung or
// half-started service.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	h, p, _ := net.SplitHostPort(l.Addr().String())
	n, _ := strconv.Atoi(p)
	return h, n
}

// A login to a server that never answers ends with connect_timeout instead
// of hanging (go-mssqldb alone does not watch the context before the
// server's first reply).
func TestOpenSilentServerTimesOut(t *testing.T) {
	h, p := silentServer(t)
	s := &Server{Name: "hung", Address: h, Port: p, Encrypt: "disable", ConnectTimeout: time.Second,
		Auth: Auth{Method: "sql", User: "sa", Password: "Secret-Pw-123"},
		Host: Host{OS: "linux", Transport: "local"}}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Open(context.Background(), s, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Open succeeded against a silent server")
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("Open took %s", time.Since(start))
		}
		if want := "sql_server.hung: cannot connect to " + h + ":" + strconv.Itoa(p) + ": no answer within 1s"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Open hung against a server that never answers")
	}
}
