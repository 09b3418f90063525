package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHConfig is how to reach a host over SSH: everything a
// host { transport = "ssh" ... } block says. The zero values of the
// optional fields are the defaults documented on each.
//
// Password and Passphrase are secrets: no error and no formatting of an
// SSHConfig (String, GoString) shows them.
type SSHConfig struct {
	Address string // host name or IP address; required
	Port    int    // 0 is 22
	User    string // login user; required

	// Authentication. The private keys are offered first (the files, then
	// ssh-agent's), the password last.
	IdentityFiles []string // private key files (OpenSSH, PEM or PKCS#8)
	Passphrase    string   // decrypts the encrypted IdentityFiles
	Agent         bool     // offer the keys held by ssh-agent
	AgentSocket   string   // ssh-agent's socket; "" is $SSH_AUTH_SOCK
	Password      string   // the last resort ("password", or "keyboard-interactive" with a single prompt)

	// KnownHostsFiles hold the host keys that are trusted (OpenSSH
	// known_hosts format). Empty is ~/.ssh/known_hosts and
	// /etc/ssh/ssh_known_hosts; a file that does not exist is empty. An
	// unknown or changed host key is an error that says how to trust it.
	KnownHostsFiles []string
	// InsecureIgnoreHostKey accepts any host key. Off by default; it lets
	// anyone in the network path impersonate the host.
	InsecureIgnoreHostKey bool

	// Jump is a bastion host reached first; the connection to Address is
	// tunnelled through it (ssh -J).
	Jump *SSHConfig

	// Sudo runs every command and file operation as root through
	// "sudo -n" (never prompting). Without a passwordless sudo right the
	// command fails with an error saying so.
	Sudo        bool
	SudoCommand string // the sudo program on the host; "" is "sudo"

	// OS is the host's operating system as GOOS names it: "" or "linux",
	// or "windows" (OpenSSH for Windows; every command runs as an encoded
	// PowerShell script, and Sudo is not available).
	OS string

	ConnectTimeout time.Duration // TCP connect, handshake and authentication; 0 is 15s
	// KeepaliveInterval is how often the host is asked whether it is still
	// there; 0 is 5s. When KeepaliveCountMax intervals (0 is 3) pass
	// without an answer, the connection is closed and every command on it
	// fails: a host that stops answering ends the run within
	// KeepaliveInterval × (KeepaliveCountMax+1).
	KeepaliveInterval time.Duration
	KeepaliveCountMax int
}

// String names the connection: "ssh user@address:port", and the jump host.
// It never shows a secret.
func (c SSHConfig) String() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	s := "ssh " + c.User + "@" + net.JoinHostPort(c.Address, strconv.Itoa(port))
	if c.Jump != nil {
		s += " via " + strings.TrimPrefix(c.Jump.String(), "ssh ")
	}
	return s
}

// GoString is String, so that %#v does not print the secrets either.
func (c SSHConfig) GoString() string { return "host.SSHConfig{" + c.String() + "}" }

const (
	defaultSSHConnectTimeout    = 15 * time.Second
	defaultSSHKeepaliveInterval = 5 * time.Second
	defaultSSHKeepaliveCountMax = 3
	// sshMaxSessions bounds the sessions open at once on the connection:
	// OpenSSH allows 10 (MaxSessions) and refuses more.
	sshMaxSessions = 8
)

// withDefaults checks c and fills in the defaults.
func (c SSHConfig) withDefaults() (SSHConfig, error) {
	if c.Address == "" {
		return c, errors.New("ssh: no address given")
	}
	if c.User == "" {
		return c, fmt.Errorf("%s: no user given", c)
	}
	if c.Port == 0 {
		c.Port = 22
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("ssh %s: port %d is not a TCP port", c.Address, c.Port)
	}
	switch c.OS {
	case "":
		c.OS = "linux"
	case "linux":
	case "windows":
		if c.Sudo {
			return c, fmt.Errorf("%s: sudo is not available on a Windows host: connect as an administrator", c)
		}
	default:
		return c, fmt.Errorf("%s: unknown operating system %q (linux or windows)", c, c.OS)
	}
	if c.SudoCommand == "" {
		c.SudoCommand = "sudo"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultSSHConnectTimeout
	}
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = defaultSSHKeepaliveInterval
	}
	if c.KeepaliveCountMax <= 0 {
		c.KeepaliveCountMax = defaultSSHKeepaliveCountMax
	}
	return c, nil
}

// SSH is a host reached over SSH: one connection for the whole run, a
// session for each command. It is safe for concurrent use. Close it at the
// end of the run.
//
// On Linux every command runs through the login user's shell, which must
// be a POSIX shell (sh, bash, dash, ksh, zsh): each argument is
// single-quoted for it. Files are read with cat and written through a
// temporary file in the same directory that gets the old file's mode and
// owner and is renamed over it (atomic); with Sudo, these run as
// "sudo -n sh -c <script>", so the sudo right must cover /bin/sh.
type SSH struct {
	cfg   SSHConfig
	label string // "ssh user@host:port", for errors

	client *ssh.Client
	jump   *SSH
	agent  io.Closer // the connection to ssh-agent, if any

	sem chan struct{} // a place for each session open

	closing   chan struct{} // closed by Close
	closeOnce sync.Once

	gone     chan struct{} // closed when the connection is gone
	goneOnce sync.Once
	goneErr  error // why; set before gone is closed
}

var _ Transport = (*SSH)(nil)

// DialSSH connects to the host cfg describes (through its jump host, if
// any), checks its host key and authenticates. The connection is kept
// until Close; keepalives run on it meanwhile. ctx bounds the connection
// only, as does cfg.ConnectTimeout.
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &SSH{
		cfg:     cfg,
		label:   cfg.String(),
		sem:     make(chan struct{}, sshMaxSessions),
		closing: make(chan struct{}),
		gone:    make(chan struct{}),
	}
	auth, err := newSSHAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.label, err)
	}
	s.agent = auth.agentConn
	hk, err := newHostKeyChecker(cfg)
	if err != nil {
		auth.close()
		return nil, fmt.Errorf("%s: %w", s.label, err)
	}
	if cfg.Jump != nil {
		s.jump, err = DialSSH(ctx, *cfg.Jump)
		if err != nil {
			auth.close()
			return nil, fmt.Errorf("%s: jump host: %w", s.label, err)
		}
	}
	client, err := s.connect(ctx, auth, hk)
	if err != nil {
		auth.close()
		if s.jump != nil {
			s.jump.Close()
		}
		return nil, err
	}
	s.client = client
	go s.watch()
	go s.keepalive()
	return s, nil
}

// connect dials the host and runs the SSH handshake, within
// cfg.ConnectTimeout and ctx.
func (s *SSH) connect(ctx context.Context, auth *sshAuth, hk *hostKeyChecker) (*ssh.Client, error) {
	cfg := s.cfg
	hostport := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	timedOut := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: connecting: %w", s.label, &stoppedError{cause: context.Cause(ctx), ctxErr: ctx.Err()})
		}
		return fmt.Errorf("%s: no answer within %s (connect timeout): %w", s.label, cfg.ConnectTimeout, err)
	}

	var conn net.Conn
	var err error
	if s.jump != nil {
		conn, err = s.jump.client.DialContext(dctx, "tcp", hostport)
	} else {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", hostport)
	}
	if err != nil {
		if dctx.Err() != nil {
			return nil, timedOut(err)
		}
		if s.jump != nil {
			return nil, fmt.Errorf("%s: the jump host %s cannot connect to %s: %w", s.label, s.jump.label, hostport, err)
		}
		return nil, fmt.Errorf("%s: cannot connect: %w (is sshd running there, and the port open?)", s.label, err)
	}

	algos := hk.algorithms(hostport)
	config := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth.methods,
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: algos,
	}
	// The handshake has no context of its own: closing the connection is
	// what stops it.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, hostport, config)
	stopped := !stop()
	if err != nil {
		conn.Close()
		switch {
		case hk.refusal() != nil:
			return nil, fmt.Errorf("%s: %w", s.label, hk.refusal())
		case stopped:
			return nil, timedOut(err)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%s: %w", s.label, auth.refused())
		}
		return nil, fmt.Errorf("%s: %w", s.label, err)
	}
	if stopped { // the context ended just as the handshake succeeded
		c.Close()
		return nil, timedOut(dctx.Err())
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// errSSHGone is what a connection that ended matches.
var errSSHGone = errors.New("the connection to the host is gone")

// fail closes the connection for good, cause being why; the first cause
// is kept.
func (s *SSH) fail(cause error) {
	s.goneOnce.Do(func() {
		s.goneErr = fmt.Errorf("%s: %w", s.label, cause)
		close(s.gone)
		s.client.Close()
	})
}

// watch notices the connection ending (the host closed it, or the jump
// host's connection ended).
func (s *SSH) watch() {
	err := s.client.Wait()
	select {
	case <-s.closing:
		s.fail(errors.New("the connection was closed"))
	default:
		if s.jump != nil {
			select {
			case <-s.jump.gone:
				s.fail(fmt.Errorf("connection lost: %w", s.jump.goneErr))
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err == nil || errors.Is(err, io.EOF) {
			s.fail(errors.New("connection closed by the host"))
		} else {
			s.fail(fmt.Errorf("connection lost: %w", err))
		}
	}
}

// keepalive asks the host, every KeepaliveInterval, whether it is still
// there, and closes the connection when KeepaliveCountMax intervals pass
// without an answer. Any answer counts, even a refusal.
func (s *SSH) keepalive() {
	interval, limit := s.cfg.KeepaliveInterval, s.cfg.KeepaliveInterval*time.Duration(s.cfg.KeepaliveCountMax)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.gone:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timer := time.NewTimer(limit)
		select {
		case <-s.gone:
			timer.Stop()
			return
		case err := <-reply:
			timer.Stop()
			if err != nil {
				s.fail(fmt.Errorf("connection lost: %w", err))
				return
			}
		case <-timer.C:
			s.fail(fmt.Errorf("the host stopped answering: no reply to a keepalive within %s", limit))
			return
		}
	}
}

// Close ends the connection (and the jump host's). Commands still running
// fail.
func (s *SSH) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.fail(errors.New("the connection was closed"))
		if s.agent != nil {
			s.agent.Close()
		}
		if s.jump != nil {
			s.jump.Close()
		}
	})
	return nil
}

// goneError is why the connection ended, matching errSSHGone.
func (s *SSH) goneError() error {
	return &sshGoneError{err: s.goneErr}
}

type sshGoneError struct{ err error }

func (e *sshGoneError) Error() string   { return e.err.Error() }
func (e *sshGoneError) Unwrap() []error { return []error{e.err, errSSHGone} }

// OS is the host's operating system: "linux", or "windows" when the
// configuration says so.
func (s *SSH) OS() string { return s.cfg.OS }

// String is the connection's name, "ssh user@host:port".
func (s *SSH) String() string { return s.label }

// Exec runs the program on the host. On Linux each argument is quoted for
// the login shell, and with Sudo the program runs under "sudo -n --". A
// cancelled ctx stops it (the program is sent SIGKILL, and its session
// closed); a host that stops answering ends it with an error within the
// keepalive limit.
func (s *SSH) Exec(ctx context.Context, c Command) (Output, error) {
	if len(c.Argv) == 0 {
		return Output{ExitCode: -1}, errors.New("no program to run")
	}
	line, stdin, err := s.command(c.Argv, c.Stdin)
	if err != nil {
		return Output{ExitCode: -1}, err
	}
	out, err := s.run(ctx, line, stdin)
	if err == nil || out.ExitCode < 0 {
		return out, err
	}
	if refused := s.sudoRefused(out, CommandText(c.Argv)); refused != nil {
		return out, refused
	}
	return out, err
}

// command is the command line the login shell is given to run argv, and
// its standard input.
func (s *SSH) command(argv []string, stdin []byte) (string, []byte, error) {
	if s.cfg.OS == "windows" {
		return powerShellCommand(argv, stdin)
	}
	if s.cfg.Sudo {
		argv = append([]string{s.cfg.SudoCommand, "-n", "--"}, argv...)
	}
	line, err := posixCommandLine(argv)
	if err != nil {
		return "", nil, err
	}
	// The shell says its pid, the program's after exec: the process group
	// to stop if ctx is cancelled (sshd refuses "signal" requests for root
	// logins).
	return "echo " + sshPIDMarker + "$$ >&2; exec " + line, stdin, nil
}

// sshPIDMarker starts the line on stderr that says the remote pid; it is
// taken out of what the program printed.
const sshPIDMarker = "milink-pid:"

// sshStderr collects a remote program's stderr, taking out the line with
// its pid.
type sshStderr struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found bool
	pid   int
}

func (w *sshStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.found {
		return len(p), nil
	}
	b := w.buf.Bytes()
	i := bytes.Index(b, []byte(sshPIDMarker))
	if i < 0 || (i > 0 && b[i-1] != '\n') {
		return len(p), nil
	}
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return len(p), nil
	}
	pid, err := strconv.Atoi(string(b[i+len(sshPIDMarker) : i+j]))
	if err != nil {
		return len(p), nil
	}
	w.found, w.pid = true, pid
	rest := append(append([]byte(nil), b[:i]...), b[i+j+1:]...)
	w.buf.Reset()
	w.buf.Write(rest)
	return len(p), nil
}

func (w *sshStderr) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}

func (w *sshStderr) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Bytes()
}

// stopRemote sends SIGTERM to the process group of a program whose
// session was abandoned (sudo passes it on to its command), on a session
// of its own, without waiting long.
func (s *SSH) stopRemote(pid int) {
	if pid <= 1 {
		return
	}
	sess, err := s.client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	done := make(chan struct{})
	go func() {
		sess.Run(fmt.Sprintf("kill -TERM -%d 2>/dev/null; true", pid))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	case <-s.gone:
	}
}

// sshExitError is a remote program's own end: a non-zero exit status, or
// a signal.
type sshExitError struct {
	code   int
	signal string
}

func (e *sshExitError) Error() string {
	if e.signal != "" {
		return "killed by signal " + e.signal
	}
	return "exit status " + strconv.Itoa(e.code)
}

// run runs a command line in a session of its own, with stdin (nil: none).
func (s *SSH) run(ctx context.Context, line string, stdin []byte) (Output, error) {
	stopped := func() error { return &stoppedError{cause: context.Cause(ctx), ctxErr: ctx.Err()} }
	select {
	case <-s.gone:
		return Output{ExitCode: -1}, s.goneError()
	default:
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Output{ExitCode: -1}, stopped()
	case <-s.gone:
		return Output{ExitCode: -1}, s.goneError()
	}

	type result struct {
		out Output
		err error
	}
	done := make(chan result, 1)
	var mu sync.Mutex
	var sess *ssh.Session
	abandoned := false
	stderr := &sshStderr{}
	go func() {
		defer func() { <-s.sem }()
		se, err := s.newSession(ctx)
		if err != nil {
			done <- result{Output{ExitCode: -1}, err}
			return
		}
		defer se.Close()
		mu.Lock()
		if abandoned {
			mu.Unlock()
			se.Signal(ssh.SIGKILL)
			done <- result{Output{ExitCode: -1}, context.Canceled}
			return
		}
		sess = se
		mu.Unlock()
		var stdout bytes.Buffer
		se.Stdout, se.Stderr = &stdout, stderr
		if stdin != nil {
			se.Stdin = bytes.NewReader(stdin)
		}
		err = se.Run(line)
		out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: 0}
		var exit *ssh.ExitError
		switch {
		case errors.As(err, &exit) && exit.Signal() != "":
			out.ExitCode = -1
			err = &sshExitError{code: -1, signal: exit.Signal()}
		case errors.As(err, &exit):
			out.ExitCode = exit.ExitStatus()
			err = &sshExitError{code: exit.ExitStatus()}
		case err != nil:
			out.ExitCode = -1
		}
		done <- result{out, err}
	}()

	select {
	case r := <-done:
		if r.err != nil && r.out.ExitCode < 0 {
			var exit *sshExitError
			if !errors.As(r.err, &exit) {
				// Not the program's own end: the connection's, most likely;
				// give the watcher a moment to say why.
				select {
				case <-s.gone:
					return r.out, s.goneError()
				case <-time.After(200 * time.Millisecond):
				}
				if ctx.Err() != nil {
					return r.out, stopped()
				}
				return r.out, fmt.Errorf("%s: %w", s.label, r.err)
			}
		}
		return r.out, r.err
	case <-ctx.Done():
		mu.Lock()
		abandoned = true
		if sess != nil {
			sess.Signal(ssh.SIGKILL)
			sess.Close()
		}
		mu.Unlock()
		go s.stopRemote(stderr.PID())
		// Keep what it printed, if the session ends promptly.
		select {
		case r := <-done:
			r.out.ExitCode = -1
			return r.out, stopped()
		case <-time.After(2 * time.Second):
			return Output{ExitCode: -1}, stopped()
		}
	case <-s.gone:
		return Output{ExitCode: -1}, s.goneError()
	}
}

// newSession opens a session. A host that refuses it for now (sshd's
// MaxSessions counts a session until it has processed its end, and may be
// set below milink's own limit) is asked again for a few seconds.
func (s *SSH) newSession(ctx context.Context) (*ssh.Session, error) {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		se, err := s.client.NewSession()
		var refused *ssh.OpenChannelError
		if err == nil || !errors.As(err, &refused) || time.Now().After(deadline) {
			return se, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.gone:
			return nil, err
		}
	}
}

// sudoRefused is the error for a command that sudo would not run (no
// passwordless sudo right), or nil when out is not that.
func (s *SSH) sudoRefused(out Output, what string) error {
	if !s.cfg.Sudo {
		return nil
	}
	stderr := string(out.Stderr)
	if out.ExitCode == 127 && strings.Contains(stderr, s.cfg.SudoCommand) && (strings.Contains(stderr, "not found") || strings.Contains(stderr, "No such file")) {
		return fmt.Errorf("%s: cannot run %s: %s is not installed on %s (it is needed because sudo is on)", s.label, what, s.cfg.SudoCommand, s.cfg.Address)
	}
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		signs := []string{"is not in the sudoers file", "is not allowed to execute"} // sudo 1.8 says these bare
		if strings.HasPrefix(l, "sudo: ") || strings.HasPrefix(l, s.cfg.SudoCommand+": ") {
			signs = append(signs, "a password is required", "a terminal is required", "may not run sudo")
		}
		for _, sign := range signs {
			if strings.Contains(l, sign) {
				return fmt.Errorf("%s: sudo refused to run %s as root on %s without a password (%q): give %s a passwordless sudo right for it (a sudoers rule with NOPASSWD), or connect as root with sudo off",
					s.label, what, s.cfg.Address, l, s.cfg.User)
			}
		}
	}
	return nil
}
