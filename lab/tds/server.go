package tds

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options configure a Server.
type Options struct {
	// ServerName fills the server field of messages that leave it empty
	// (SQL Server puts its instance name there).
	ServerName string
	// Logger receives debug logs (connections, protocol errors). Nil logs
	// nothing. SQL text and parameter values are never logged: they may
	// carry secrets.
	Logger hclog.Logger
	// PacketSize is used when the client's LOGIN7 asks for the server's
	// default (0); otherwise the client's request, clamped to 512..32767, is
	// granted as SQL Server does. Default 4096.
	PacketSize int
	// Version is reported in PRELOGIN and LOGINACK. Default 16.0.1000
	// (SQL Server 2022 RTM).
	Version Version
	// HandshakeTimeout bounds PRELOGIN plus LOGIN7 so a silent client
	// cannot hold a connection forever. Default 30 s.
	HandshakeTimeout time.Duration
	// LoginLatency, when set, is the round-trip time of a simulated network
	// between the clients and this server, for the login: each reply of the
	// handshake (PRELOGIN, LOGIN7, a refused login too) waits LoginLatency()
	// first, and the first reply waits once more for the TCP handshake,
	// which costs nothing on loopback but a round trip to a server far
	// away. A TLS handshake, when one is negotiated, waits once more (TLS
	// 1.2 costs two round trips; one is the PRELOGIN or TCP one already
	// counted). What follows the login is the Handler's to delay.
	LoginLatency func() time.Duration
	// Certificate is the server's TLS certificate. With one, the server
	// negotiates encryption in PRELOGIN as SQL Server does (MS-TDS 2.2.6.5:
	// login-only, or the whole connection); without one it answers
	// ENCRYPT_NOT_SUP and drops a client that requires encryption.
	Certificate *tls.Certificate
	// ForceEncryption is SQL Server's "Force Encryption" (mssql-conf
	// network.forceencryption): every connection is encrypted and a client
	// that cannot encrypt is refused. It needs a Certificate.
	ForceEncryption bool
	// Strict accepts TDS 8.0 (TLS before PRELOGIN, ALPN "tds/8.0"), as
	// SQL Server 2022 and later do. It needs a Certificate.
	Strict bool
	// SSPI accepts Windows authentication (LOGIN7 with integrated
	// security: Kerberos through SPNEGO, or NTLM). Nil refuses it with
	// 18452, as a server outside any domain does.
	SSPI SSPI
	// FedAuth accepts Microsoft Entra access tokens; nil refuses
	// federated logins, as a server without Entra does.
	FedAuth FedAuth
}

// Version is a SQL Server product version as sent in PRELOGIN/LOGINACK.
type Version struct {
	Major, Minor uint8
	Build        uint16
}

// Server serves TDS connections for one simulated instance.
type Server struct {
	h    Handler
	opts Options
	log  hclog.Logger

	ctx    context.Context // cancelled by Close: every session context ends
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	nextSPID  uint16
	wg        sync.WaitGroup

	// onPanic, when set (tests), is told about a recovered panic.
	onPanic func(any)
	// onLogin, when set (tests), sees each connection that logged in.
	onLogin func(*conn)
}

// NewServer returns a server that admits logins through h.
func NewServer(h Handler, opts Options) *Server {
	if opts.PacketSize == 0 {
		opts.PacketSize = 4096
	}
	opts.PacketSize = clampPacketSize(opts.PacketSize)
	if opts.Version == (Version{}) {
		opts.Version = Version{Major: 16, Minor: 0, Build: 1000}
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		h: h, opts: opts, log: log, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		nextSPID:  50,
	}
}

func clampPacketSize(n int) int {
	switch {
	case n < 512:
		return 512
	case n > 32767:
		return 32767
	}
	return n
}

// Serve accepts connections on l until Close, serving each in its own
// goroutine. It returns nil after Close (also when called after Close), and
// the accept error otherwise.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. out of file descriptors): wait, retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.nextSPID++
		if s.nextSPID < 51 {
			s.nextSPID = 51 // SPIDs 1-50 are system sessions in SQL Server
		}
		c := newConn(s, nc, s.nextSPID)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Close stops every listener, drops every connection and waits for their
// goroutines to end. Do not call it from inside a Session: it waits for
// that Session's connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for l := range s.listeners {
		if e := l.Close(); e != nil && err == nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	conns := s.takeConns()
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return err
}

// CloseConnections drops every open connection, as a restarting SQL Server
// does, and keeps listening. It does not wait for the connection goroutines
// (a Session may itself trigger the restart); their Session contexts are
// cancelled and the sessions closed as they unwind. ActiveConnections is 0
// right after it returns, unless new clients connected meanwhile.
func (s *Server) CloseConnections() {
	s.mu.Lock()
	conns := s.takeConns()
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// takeConns empties the connection set; s.mu must be held.
func (s *Server) takeConns() []*conn {
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns)
	return conns
}

// ActiveConnections counts connections accepted and not yet closed.
func (s *Server) ActiveConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// connDone is called by a connection goroutine as it ends.
func (s *Server) connDone(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// ConnInfo describes the connection a Login or Session call serves.
type ConnInfo struct {
	SPID       uint16 // session id, as @@SPID reports it
	LocalAddr  net.Addr
	RemoteAddr net.Addr
}

type connInfoKey struct{}

// ConnInfoFromContext returns the connection behind a context passed to
// Handler.Login, Session.Batch or Session.RPC.
func ConnInfoFromContext(ctx context.Context) (ConnInfo, bool) {
	ci, ok := ctx.Value(connInfoKey{}).(ConnInfo)
	return ci, ok
}
