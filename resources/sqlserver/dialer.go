package sqlserver

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// keepAlive makes the kernel notice a server that vanished without closing
// the connection (host down, cable cut, a firewall or NAT that forgot the
// flow): after 10s without traffic it probes every 3s and gives up after 3
// unanswered probes, so a read blocked on such a connection fails about 20s
// after the server went silent. Without it the read would wait for ever; the
// system defaults (2 hours on Linux) are no better for an unattended run.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 3 * time.Second, Count: 3}

// loginGuard bounds logins by their context. go-mssqldb watches the
// context while dialling and while reading replies, but not while it waits
// for the server's very first reply: a server that accepts TCP and then
// says nothing (hung, starting, a wrong port with a silent service) would
// hang a plan, or the wait after a restart, for ever. The guard's dialer
// closes a connection whose login attempt's context ends before the login
// completed; once connect marks the attempt done, the connection lives on
// untouched, whatever happens to that context later.
//
// Every connection it dials is a guardedConn, which also tells the statement
// runner when the connection broke (see conn.go).
type loginGuard struct {
	net.Dialer
}

// newLoginGuard is the dialer of every instance: TCP keepalive on.
func newLoginGuard() *loginGuard {
	return &loginGuard{Dialer: net.Dialer{KeepAliveConfig: keepAlive}}
}

// attempt collects the connections dialled for one login. Its ctx is the
// login's own: the driver dials with a child context that it cancels as
// soon as its connect returns, which would race with done.
type attempt struct {
	ctx   context.Context
	mu    sync.Mutex
	conns []*guardedConn
}

type attemptKey struct{}

// guardedConn is the TCP connection under go-mssqldb. It records the first
// read or write error that milink did not cause by closing it: the driver's
// reply reader does not report every such error where a caller can see it
// (see conn.go), so the statement runner watches failed instead.
type guardedConn struct {
	net.Conn
	network     string
	established atomic.Bool
	stop        func() bool

	closed     atomic.Bool // closed by milink
	failOnce   sync.Once
	failed     chan struct{} // closed at the first failure
	failReason error         // set before failed is closed

	mu      sync.Mutex
	pending []byte // read ahead by alive, handed to the driver first

	// The login's first bytes, to tell the negotiated encryption (see
	// encryption.go); guarded by mu.
	firstRead  []byte
	firstWrite byte
	wrote      bool
}

func newGuardedConn(c net.Conn, network string) *guardedConn {
	return &guardedConn{Conn: c, network: network, failed: make(chan struct{})}
}

// withAttempt returns a context whose logins the guard watches, and the
// attempt to mark done when the login succeeded.
func withAttempt(ctx context.Context) (context.Context, *attempt) {
	a := &attempt{ctx: ctx}
	return context.WithValue(ctx, attemptKey{}, a), a
}

// done marks every connection of the attempt as logged in: the guard
// leaves them alone from now on. It returns the TCP connection the login
// used (the last one dialled; an earlier one may have been the SQL Server
// Browser's UDP exchange or a redirect), or nil.
func (a *attempt) done() *guardedConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last *guardedConn
	for _, c := range a.conns {
		c.established.Store(true)
		c.stop()
		if strings.HasPrefix(c.network, "tcp") {
			last = c
		}
	}
	return last
}

// DialContext dials, and closes the connection if the login attempt's
// context ends before the login is marked done.
func (g *loginGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	gc := newGuardedConn(c, network)
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	if a == nil {
		gc.stop = func() bool { return false }
		return gc, nil
	}
	gc.stop = context.AfterFunc(a.ctx, func() {
		if !gc.established.Load() {
			gc.Close()
		}
	})
	a.mu.Lock()
	a.conns = append(a.conns, gc)
	a.mu.Unlock()
	return gc, nil
}

func (c *guardedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.recordRead(p[:n])
	if err != nil {
		c.fail(err)
	}
	return n, err
}

func (c *guardedConn) Write(p []byte) (int, error) {
	c.recordWrite(p)
	n, err := c.Conn.Write(p)
	if err != nil {
		c.fail(err)
	}
	return n, err
}

// Close closes the connection; what fails after it is milink's doing, not
// a lost connection.
func (c *guardedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// fail records the first failure that milink did not cause.
func (c *guardedConn) fail(err error) {
	if c.closed.Load() {
		return
	}
	c.failOnce.Do(func() {
		c.failReason = err
		close(c.failed)
	})
}

// lost returns why the connection broke, or nil.
func (c *guardedConn) lost() error {
	select {
	case <-c.failed:
		return c.failReason
	default:
		return nil
	}
}

// aliveWait is how long alive waits for the kernel to report a closed
// connection; on loopback and LANs the FIN or RST is there already.
const aliveWait = time.Millisecond

// alive reports whether the connection may still be used, before a
// statement is sent on it. A server that closed it while it was idle (a
// restart, a killed session, a failover) has left an EOF or a reset to
// read; a healthy idle connection has nothing to read, and the short read
// times out. Sending on a dead connection would make every statement, even
// one that never reached the server, look as if it might have run. Bytes
// read here (there should be none between replies) are kept for the driver.
func (c *guardedConn) alive() error {
	if err := c.lost(); err != nil {
		return err
	}
	if c.closed.Load() {
		return net.ErrClosed
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(aliveWait)); err != nil {
		c.fail(err)
		return err
	}
	buf := make([]byte, 256)
	n, err := c.Conn.Read(buf)
	if derr := c.Conn.SetReadDeadline(time.Time{}); derr != nil && err == nil {
		err = derr
	}
	if n > 0 {
		c.mu.Lock()
		c.pending = append(c.pending, buf[:n]...)
		c.mu.Unlock()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	c.fail(err)
	return err
}
