package sqlserver

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// loginGuard bounds logins by their context. go-mssqldb watches the
// context while dialling and while reading replies, but not while it waits
// for the server's very first reply: a server that accepts TCP and then
// says nothing (hung, starting, a wrong port with a silent service) would
// hang a plan, or the wait after a restart, for ever. The guard's dialer
// closes a connection whose login attempt's context ends before the login
// completed; once connect marks the attempt done, the connection lives on
// untouched, whatever happens to that context later.
type loginGuard struct {
	net.Dialer
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

type guardedConn struct {
	net.Conn
	established atomic.Bool
	stop        func() bool
}

// withAttempt returns a context whose logins the guard watches, and the
// attempt to mark done when the login succeeded.
func withAttempt(ctx context.Context) (context.Context, *attempt) {
	a := &attempt{ctx: ctx}
	return context.WithValue(ctx, attemptKey{}, a), a
}

// done marks every connection of the attempt as logged in: the guard
// leaves them alone from now on.
func (a *attempt) done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.established.Store(true)
		c.stop()
	}
}

// DialContext dials, and closes the connection if the login attempt's
// context ends before the login is marked done.
func (g *loginGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	if a == nil {
		return c, nil
	}
	gc := &guardedConn{Conn: c}
	gc.stop = context.AfterFunc(a.ctx, func() {
		if !gc.established.Load() {
			c.Close()
		}
	})
	a.mu.Lock()
	a.conns = append(a.conns, gc)
	a.mu.Unlock()
	return gc, nil
}
