package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// Instance is one SQL Server, connected: a single pinned connection for
// the whole run, so that a run costs one login (plus one per restart).
type Instance struct {
	s         *Server
	log       hclog.Logger
	connector *mssql.Connector
	db        *sql.DB
	conn      *sql.Conn

	linux   *host.Linux
	windows *host.Windows

	now          func() time.Time
	pollInterval time.Duration // between login attempts after a restart
	// reportInterval is the least time between two progress lines of the
	// wait for logins, which can last minutes.
	reportInterval time.Duration
	// settingFailed is set when a startup setting could not be changed in
	// this run: the restart is then refused, since restarting would only
	// come back with the old settings and an interrupted service.
	settingFailed bool

	// StatementTimeout bounds every statement, a backup included, from
	// sending it to the end of its reply; zero means
	// DefaultStatementTimeout. A statement that passes it is cancelled
	// (ATTENTION) and fails.
	StatementTimeout time.Duration
	// hostClose ends the host transport's connection (SSH), if any.
	hostClose func() error
	// firewalls are the host firewall backends detected this run, by
	// firewall_rule backend setting (firewall.Backend values).
	firewalls sync.Map

	// Notify, when set, receives what milink has to say that no step
	// reports, such as a lost connection it reopened. It is always logged.
	Notify func(msg string)

	// wire is the pinned connection's socket, watched by the statement
	// runner (conn.go); dropped is why the last connection was discarded.
	wire    *guardedConn
	dropped error
	// encryption is what the last login negotiated (see encryption.go).
	encryption string
	// cancelGrace: see defaultCancelGrace.
	cancelGrace time.Duration
}

// Encryption says what the connection's login negotiated: "none", "login
// packet only", "TLS" or "TLS, TDS 8.0 (strict)".
func (i *Instance) Encryption() string { return i.encryption }

// Open connects to the instance. Errors name the block and keep SQL
// Server's error number; they never contain the password.
func Open(ctx context.Context, s *Server, log hclog.Logger) (*Instance, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	switch s.Auth.Method {
	case "", "sql", "windows", "entra":
	default:
		return nil, fmt.Errorf("%s: authentication method %q is not yet supported (use \"sql\" or \"windows\")", s.Addr(), s.Auth.Method)
	}
	switch s.Host.Transport {
	case "", "local", "ssh":
	default:
		return nil, fmt.Errorf("%s: host transport %q is not supported (use \"local\" or \"ssh\")", s.Addr(), s.Host.Transport)
	}
	dsn := DSN(s)
	var connector *mssql.Connector
	var err error
	if s.Auth.Method == "entra" {
		var tokens func(context.Context) (string, error)
		if tokens, err = EntraTokenProvider(s.Auth.Entra); err != nil {
			return nil, redact(s, fmt.Errorf("%s: %w", s.Addr(), err))
		}
		connector, err = mssql.NewConnectorWithAccessTokenProvider(dsn, tokens)
	} else {
		connector, err = mssql.NewConnector(dsn)
	}
	if err != nil {
		return nil, redact(s, fmt.Errorf("%s: %w", s.Addr(), err))
	}
	connector.Dialer = newLoginGuard()
	// Logins are tried every 100 ms after a restart: a refused dial costs
	// nothing, and the instance is used as soon as it accepts them.
	i := &Instance{s: s, log: log.Named(s.Addr()), connector: connector, now: time.Now, pollInterval: 100 * time.Millisecond, reportInterval: 10 * time.Second,
		cancelGrace: defaultCancelGrace, StatementTimeout: s.StatementTimeout}
	var transport host.Transport = host.Local{}
	if s.Host.Transport == "ssh" && s.Host.SSH != nil {
		// One SSH connection for the whole run: mssql.conf, mssql-conf
		// and the restart all go through it.
		ssh, err := host.DialSSH(ctx, *s.Host.SSH)
		if err != nil {
			return nil, redact(s, fmt.Errorf("%s: reaching its host: %w", s.Addr(), err))
		}
		transport, i.hostClose = ssh, ssh.Close
	}
	i.linux, i.windows = hostDrivers(s, transport)
	if err := i.connect(ctx); err != nil {
		i.Close()
		return nil, err
	}
	i.log.Info("connected", "target", target(s), "encryption", i.encryption)
	return i, nil
}

// SetRunner replaces how host commands run (the lab and tests run them in
// process; ssh and WinRM transports come later).
func (i *Instance) SetRunner(r host.Runner) {
	if i.linux != nil {
		i.linux.Runner = r
	}
	if i.windows != nil {
		i.windows.Runner = r
	}
}

// hostDrivers builds the host driver of the configured OS. Pure: Diff uses
// it to describe steps.
func hostDrivers(s *Server, t host.Transport) (*host.Linux, *host.Windows) {
	on := "host:" + s.Addr()
	if s.Host.OS == "windows" {
		return nil, &host.Windows{Instance: s.Instance, RestartCommand: s.Host.RestartCommand, Transport: t, On: on}
	}
	conf, tool, restart := s.Host.MssqlConf, s.Host.MssqlConfTool, s.Host.RestartCommand
	if conf == "" {
		conf = "/var/opt/mssql/mssql.conf"
	}
	if tool == "" {
		tool = "/opt/mssql/bin/mssql-conf"
	}
	if len(restart) == 0 {
		restart = []string{"systemctl", "restart", "mssql-server"}
	}
	return &host.Linux{Conf: conf, Tool: tool, RestartCommand: restart, Transport: t, On: on}, nil
}

// DSN is the go-mssqldb URL for the instance, built with net/url so that no
// character of the password can change its meaning.
func DSN(s *Server) string {
	q := url.Values{}
	q.Set("database", "master")
	q.Set("app name", "milink")
	if s.Encrypt != "" {
		q.Set("encrypt", s.Encrypt)
	} else {
		q.Set("encrypt", "false")
	}
	if s.TrustServerCertificate {
		q.Set("TrustServerCertificate", "true")
	}
	if s.Certificate != "" {
		q.Set("certificate", s.Certificate)
	}
	if s.HostNameInCertificate != "" {
		q.Set("hostnameincertificate", s.HostNameInCertificate)
	}
	timeout := s.ConnectTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	q.Set("dial timeout", strconv.Itoa(int((timeout+time.Second-1)/time.Second)))
	user := url.UserPassword(s.Auth.User, s.Auth.Password)
	switch s.Auth.Method {
	case "windows":
		user = windowsAuthParams(s.Auth, q)
	case "entra":
		user = nil // the token says who
	}
	u := &url.URL{
		Scheme:   "sqlserver",
		User:     user,
		Host:     hostPort(s),
		RawQuery: q.Encode(),
	}
	if s.Instance != "" {
		u.Path = "/" + s.Instance
	}
	return u.String()
}

// hostPort: a named instance on the default port is found through the SQL
// Server Browser (named instances listen on dynamic ports), so the port is
// left out then.
func hostPort(s *Server) string {
	port := s.Port
	if port == 0 {
		port = 1433
	}
	if s.Instance != "" && port == 1433 {
		return s.Address
	}
	return net.JoinHostPort(s.Address, strconv.Itoa(port))
}

// target is how errors name where milink tried to connect.
func target(s *Server) string {
	port := s.Port
	if port == 0 {
		port = 1433
	}
	t := net.JoinHostPort(s.Address, strconv.Itoa(port))
	if s.Instance != "" {
		t = s.Address + `\` + s.Instance
	}
	return t
}

// connect logs in with a new connection pool and pins one connection.
func (i *Instance) connect(ctx context.Context) error {
	timeout := loginTimeout(ctx, i.s.ConnectTimeout)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cctx, login := withAttempt(cctx)
	db := sql.OpenDB(i.connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(cctx)
	if err != nil {
		db.Close()
		if cerr := cctx.Err(); cerr != nil && errors.Is(cerr, context.DeadlineExceeded) {
			// The guard closed a login the server never answered.
			err = cerr
		}
		return connectError(i.s, err, timeout)
	}
	i.wire = login.done()
	i.db, i.conn = db, conn
	// Every login negotiates again (a restarted server may have a new
	// certificate or setting).
	i.encryption = encUnknown
	if i.wire != nil {
		i.encryption = i.wire.negotiated(i.s.Encrypt)
	}
	return nil
}

// loginTimeout is how long a login may take: connect_timeout (default
// 15s), or less when ctx ends sooner (the end of the wait after a restart);
// errors name it, so it is rounded to read well.
func loginTimeout(ctx context.Context, configured time.Duration) time.Duration {
	timeout := configured
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return timeout
	}
	left := time.Until(dl)
	switch {
	case left >= timeout:
		return timeout
	case left <= 0:
		return 0
	case left < time.Second:
		return left.Round(time.Millisecond)
	}
	return left.Round(100 * time.Millisecond)
}

// Close releases the connection and the host transport (an SSH
// connection), at the end of the run.
func (i *Instance) Close() error {
	err := i.closeConn()
	if i.hostClose != nil {
		err = errors.Join(err, i.hostClose())
		i.hostClose = nil
	}
	return err
}

// closeConn releases the SQL connection only (a restart ends it).
func (i *Instance) closeConn() error {
	var errs []error
	if i.conn != nil {
		errs = append(errs, i.conn.Close())
		i.conn = nil
	}
	if i.db != nil {
		errs = append(errs, i.db.Close())
		i.db = nil
	}
	i.wire, i.dropped = nil, nil
	return errors.Join(errs...)
}

// connectError turns a failed login or dial into one clear sentence.
func connectError(s *Server, err error, timeout time.Duration) error {
	var se mssql.Error
	if errors.As(err, &se) {
		text := fmt.Sprintf("%s (%s): %s", s.Addr(), target(s), sqlText(se))
		if hint := windowsLoginHint(s, se.Number); hint != "" {
			text += " " + hint
		}
		return redact(s, &messageError{text, err})
	}
	return redact(s, &connError{addr: s.Addr(), reason: connectProblem(s, err, timeout), err: err})
}

// connectProblem is why a dial or login failed, without the block's
// address, with what to do when TLS was the problem.
func connectProblem(s *Server, err error, timeout time.Duration) string {
	if s.Auth.Method == "windows" {
		if reason := windowsAuthProblem(s, err); reason != "" {
			return reason
		}
	}
	if s.Auth.Method == "entra" {
		if reason := entraProblem(s, err); reason != "" {
			return reason
		}
	}
	reason := connectReasonText(s, err, timeout)
	if hint := tlsHint(s, err); hint != "" {
		reason += ". " + hint
	}
	return reason
}

func connectReasonText(s *Server, err error, timeout time.Duration) string {
	var op *net.OpError
	if errors.As(err, &op) {
		reason := op.Err.Error()
		var errno syscall.Errno
		switch {
		case errors.As(op.Err, &errno) && errno == syscall.ECONNREFUSED:
			reason = "connection refused"
		case op.Timeout():
			reason = "no answer within " + timeout.String()
		default:
			var sys *os.SyscallError
			if errors.As(op.Err, &sys) {
				reason = sys.Err.Error()
			}
		}
		return fmt.Sprintf("cannot connect to %s: %s", target(s), reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("cannot connect to %s: no answer within %s", target(s), timeout)
	}
	return fmt.Sprintf("cannot connect to %s: %v", target(s), err)
}

// connError is a failed connection attempt: "sql_server.sql01: cannot
// connect to 127.0.0.2:1433: connection refused".
type connError struct {
	addr, reason string
	err          error
}

func (e *connError) Error() string { return e.addr + ": " + e.reason }
func (e *connError) Unwrap() error { return e.err }

// connectReason is a connect error without the block's address, for a
// sentence that already names the server (a failed reconnect).
func connectReason(err error) string {
	var ce *connError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return err.Error()
}

// sqlText is an error as SQL Server said it, with its number: the first
// error of the reply, which is the cause (BACKUP's 3201 before the 3013
// "terminating abnormally"), lower-cased at the start to read as part of
// a sentence.
func sqlText(e mssql.Error) string {
	first := e
	if len(e.All) > 0 {
		first = e.All[0]
	}
	msg := strings.TrimPrefix(first.Message, "login error: ")
	msg = strings.TrimSpace(msg)
	return fmt.Sprintf("%s (SQL Server error %d)", msg, first.Number)
}

// SQLErrorNumber returns the number of the first SQL Server error in err, or 0.
func SQLErrorNumber(err error) int {
	var se mssql.Error
	if !errors.As(err, &se) {
		return 0
	}
	if len(se.All) > 0 {
		return int(se.All[0].Number)
	}
	return int(se.Number)
}

// sqlError wraps a statement's error with the object it was for. An error
// that already names its object (the statement runner's) is kept as it is.
func sqlError(s *Server, addr, what string, err error) error {
	var st *stmtError
	if errors.As(err, &st) && st.addr != "" {
		return redact(s, err)
	}
	var se mssql.Error
	if errors.As(err, &se) {
		return redact(s, &messageError{fmt.Sprintf("%s: %s: %s", addr, what, sqlText(se)), err})
	}
	return redact(s, fmt.Errorf("%s: %s: %w", addr, what, err))
}

// messageError is a sentence of our own that keeps the driver's error
// underneath (SQLErrorNumber, errors.Is) without printing it twice.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// redact removes the login and master key passwords from an error's text,
// whatever produced it. Very short secrets are not searched for: they would
// mangle ordinary words, and the drivers do not echo passwords anyway.
func redact(s *Server, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	secrets := []string{s.Auth.Password, s.Auth.Entra.AccessToken, s.Auth.Entra.ClientSecret}
	if s.MasterKey != nil {
		secrets = append(secrets, s.MasterKey.Password)
	}
	for c := s.Host.SSH; c != nil; c = c.Jump {
		secrets = append(secrets, c.Password, c.Passphrase)
	}
	changed := false
	for _, p := range secrets {
		if len(p) < 4 {
			continue
		}
		// The forms a secret takes in what milink sends: raw, URL-escaped
		// (the DSN's userinfo escapes unlike QueryEscape and PathEscape),
		// and as a T-SQL literal.
		userinfo := strings.TrimPrefix(url.UserPassword("", p).String(), ":")
		for _, form := range []string{p, url.QueryEscape(p), url.PathEscape(p), userinfo, strings.ReplaceAll(p, "'", "''")} {
			if strings.Contains(msg, form) {
				msg = strings.ReplaceAll(msg, form, resources.Redacted)
				changed = true
			}
		}
	}
	if !changed {
		return err
	}
	return &messageError{msg: msg, err: err}
}

// refresh reads the instance in one round trip, plus its configured
// startup settings: mssql.conf on Linux, the registry rows of the same
// batch on Windows.
func (i *Instance) refresh(ctx context.Context) (*Observed, error) {
	batch := refreshBatch(i.s)
	sets, err := i.run(ctx, stmt{addr: i.s.Addr(), what: "reading the instance", log: batch, text: batch})
	if err != nil {
		return nil, err
	}
	o, err := parseSets(sets)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the instance: %w", i.s.Addr(), err)
	}
	o.Directories = parseDirectoryChecks(sets)
	if len(i.s.Databases) > 0 && !o.readDatabases {
		return nil, fmt.Errorf("%s: reading the instance: the refresh batch returned no databases", i.s.Addr())
	}
	var st host.Startup
	if i.linux != nil {
		st, err = i.linux.ReadStartup(ctx)
		o.ConfTool = i.linux.ToolPresent()
	} else {
		st, err = host.StartupFromRegistry(o.Registry)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading the startup settings: %w", i.s.Addr(), err)
	}
	o.HadrConfigured, o.FlagsConfigured = st.Hadr, st.TraceFlags
	i.probeHost(ctx, o)
	i.log.Debug("refreshed", "version", o.ProductVersion, "hadr_running", o.HadrRunning, "flags_running", o.FlagsRunning)
	return o, nil
}
