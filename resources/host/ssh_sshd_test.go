//go:build linux

package host

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// These tests run the real OpenSSH server (Debian: openssh-server) on a
// free loopback port, with its configuration, host keys, authorized keys
// and pid file in a temporary directory, as the user running the tests.
// Run as root (as here and in CI), sshd needs its privilege separation
// directory /run/sshd: when it is missing, sshd runs in a mount namespace
// of its own with a fresh tmpfs on /run, so nothing of this machine's
// /run, /etc, ~/.ssh or sshd is touched. They skip when sshd is not
// installed, unless MILINK_REQUIRE_SSHD is set (CI sets it).

// sshdPath finds sshd, or skips (fails under MILINK_REQUIRE_SSHD).
func sshdPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath("sshd"); err == nil && filepath.IsAbs(p) {
		return p
	}
	if os.Getenv("MILINK_REQUIRE_SSHD") != "" {
		t.Fatal("sshd is not installed (Debian package openssh-server), and MILINK_REQUIRE_SSHD is set")
	}
	t.Skip("sshd is not installed (Debian package openssh-server); set MILINK_REQUIRE_SSHD=1 to make this a failure")
	return ""
}

// newKey makes a private key, writes it (OpenSSH format, encrypted when
// passphrase is set) to dir/name with mode 0600, and returns its signer.
func newKey(t *testing.T, dir, name, kind, passphrase string) ssh.Signer {
	t.Helper()
	priv := genKey(t, kind)
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// genKey makes a private key of the kind, ed25519 or ecdsa.
func genKey(t *testing.T, kind string) crypto.PrivateKey {
	t.Helper()
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("key kind %s", kind)
	return nil
}

// serveAgent serves an ssh-agent holding keys on a socket in a temporary
// directory, and returns the socket's path.
func serveAgent(t *testing.T, keys ...crypto.PrivateKey) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

type sshdOptions struct {
	hostKeys   []string        // kinds; default ed25519
	authorized []ssh.PublicKey // authorized_keys
	extra      []string        // more sshd_config lines
}

// testSSHD is a running sshd.
type testSSHD struct {
	dir      string
	addr     string // 127.0.0.1
	port     int
	hostKeys []ssh.PublicKey
}

// log is what sshd logged.
func (d *testSSHD) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "sshd.log"))
	return string(b)
}

var penaltiesOnce sync.Once
var penaltiesKnown bool

// startSSHD starts sshd and stops it when the test ends.
func startSSHD(t *testing.T, opts sshdOptions) *testSSHD {
	t.Helper()
	sshd := sshdPath(t)
	dir := t.TempDir()
	d := &testSSHD{dir: dir, addr: "127.0.0.1"}
	logPath := filepath.Join(dir, "sshd.log")
	if len(opts.hostKeys) == 0 {
		opts.hostKeys = []string{"ed25519"}
	}
	var conf []string
	for _, kind := range opts.hostKeys {
		name := "ssh_host_" + kind + "_key"
		d.hostKeys = append(d.hostKeys, newKey(t, dir, name, kind, "").PublicKey())
		conf = append(conf, "HostKey "+filepath.Join(dir, name))
	}
	var ak bytes.Buffer
	for _, k := range opts.authorized {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ak.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	conf = append(conf,
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(dir, "authorized_keys"),
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication no",
		"PrintMotd no",
		"PrintLastLog no",
		"MaxAuthTries 20",
		"LogLevel DEBUG",
		// bash sources ~/.bashrc for a command sshd runs unless SHLVL says
		// it is a nested shell; this machine's root .bashrc takes seconds
		// (pyenv init), which every command would wait for.
		"SetEnv SHLVL=1",
	)
	conf = append(conf, opts.extra...)
	penaltiesOnce.Do(func() {
		// OpenSSH 9.8 and later penalise addresses that fail to log in;
		// the tests fail on purpose, from 127.0.0.1, many times.
		f := filepath.Join(dir, "probe_config")
		if err := os.WriteFile(f, []byte(strings.Join(append(conf, "ListenAddress 127.0.0.1:22", "PerSourcePenalties no"), "\n")+"\n"), 0o600); err == nil {
			penaltiesKnown = exec.Command(sshd, "-t", "-f", f).Run() == nil
		}
	})
	if penaltiesKnown {
		conf = append(conf, "PerSourcePenalties no")
	}

	for attempt := 0; ; attempt++ {
		d.port = freePort(t)
		cfgPath := filepath.Join(dir, "sshd_config")
		text := strings.Join(append(conf, fmt.Sprintf("ListenAddress %s:%d", d.addr, d.port)), "\n") + "\n"
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshd, "-D", "-E", logPath, "-f", cfgPath)
		if _, err := os.Stat("/run/sshd"); os.Geteuid() == 0 && err != nil {
			// Root's sshd wants /run/sshd; give it one in a mount
			// namespace of its own rather than creating it here.
			cmd = exec.Command("/bin/sh", "-c", `mount -t tmpfs -o mode=0755 milink-test-run /run && mkdir -m 0755 /run/sshd && exec "$@"`, "sh", sshd, "-D", "-E", logPath, "-f", cfgPath)
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		}
		logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		err = cmd.Start()
		logFile.Close()
		if err != nil {
			t.Fatalf("starting sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if waitBanner(d.addr, d.port, exited) {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					t.Logf("sshd on port %d logged:\n%s", d.port, d.log())
				}
			})
			return d
		}
		cmd.Process.Kill()
		<-exited
		if attempt < 3 && strings.Contains(d.log(), "Address already in use") {
			continue
		}
		t.Fatalf("sshd did not start:\n%s", d.log())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitBanner waits until sshd answers with its banner, or exits.
func waitBanner(addr string, port int, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			n, _ := io.ReadFull(c, buf)
			c.Close()
			if n == 8 && string(buf) == "SSH-2.0-" {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// knownHostsFor writes a known_hosts file trusting d's host keys at the
// given port (d's own unless a proxy's) and returns its path.
func (d *testSSHD) knownHostsFor(t *testing.T, port int, keys ...ssh.PublicKey) string {
	t.Helper()
	if len(keys) == 0 {
		keys = d.hostKeys
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(d.addr, strconv.Itoa(port)))}, k) + "\n")
	}
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// sshFixture is an sshd with a client key it trusts and a config that
// reaches it.
type sshFixture struct {
	d   *testSSHD
	cfg SSHConfig
	key ssh.Signer
}

func newSSHFixture(t *testing.T, opts sshdOptions) *sshFixture {
	t.Helper()
	sshdPath(t)
	keyDir := t.TempDir()
	key := newKey(t, keyDir, "id_ed25519", "ed25519", "")
	opts.authorized = append(opts.authorized, key.PublicKey())
	d := startSSHD(t, opts)
	return &sshFixture{d: d, key: key, cfg: SSHConfig{
		Address:           d.addr,
		Port:              d.port,
		User:              currentUser(t),
		IdentityFiles:     []string{filepath.Join(keyDir, "id_ed25519")},
		KnownHostsFiles:   []string{d.knownHostsFor(t, d.port)},
		ConnectTimeout:    10 * time.Second,
		KeepaliveInterval: time.Second,
	}}
}

func dialSSH(t *testing.T, cfg SSHConfig) *SSH {
	t.Helper()
	s, err := DialSSH(context.Background(), cfg)
	if err != nil {
		t.Fatalf("DialSSH: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nulSplit splits printf '%s\0' output.
func nulSplit(b []byte) []string {
	s := string(b)
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\x00"), "\x00")
}

func TestSSHExec(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	s := dialSSH(t, f.cfg)
	ctx := context.Background()

	if s.OS() != "linux" {
		t.Errorf("OS() = %q", s.OS())
	}

	out, err := s.Exec(ctx, Command{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err == nil || err.Error() != "exit status 3" {
		t.Errorf("error %v, want exit status 3", err)
	}
	if string(out.Stdout) != "out\n" || string(out.Stderr) != "err\n" || out.ExitCode != 3 {
		t.Errorf("output %q %q %d", out.Stdout, out.Stderr, out.ExitCode)
	}

	args := []string{"a b", "it's", `"q"`, "$HOME", "`id`", "$(id)", "*", "?", "[a]", "~", "~root", "a\nb", "", " ", "\t",
		"=x", "a=b", "%1", "-n", "--", "ünïcødé", `\`, `\\n`, "!", "!!", "#c", ";", "&&", "|", ">x", "<x", "{a,b}", "\x7f\x01", "\xff\xfe"}
	out, err = s.Exec(ctx, Command{Argv: append([]string{"printf", `%s\0`}, args...)})
	if err != nil {
		t.Fatalf("printf: %v (%s)", err, out.Stderr)
	}
	if got := nulSplit(out.Stdout); !slices.Equal(got, args) {
		t.Errorf("arguments arrived as\n%q\nwant\n%q", got, args)
	}

	// An assignment-looking program name is a program, not an assignment.
	out, err = s.Exec(ctx, Command{Argv: []string{"A=1", "x"}})
	if err == nil || out.ExitCode != 127 {
		t.Errorf("A=1 ran: %v, %d %q", err, out.ExitCode, out.Stdout)
	}

	data := []byte("binary\x00stdin\xff\nno newline")
	out, err = s.Exec(ctx, Command{Argv: []string{"cat"}, Stdin: data})
	if err != nil || !bytes.Equal(out.Stdout, data) {
		t.Errorf("cat: %v %q", err, out.Stdout)
	}
	// No stdin given: the program reads end of file at once.
	out, err = s.Exec(ctx, Command{Argv: []string{"cat"}})
	if err != nil || len(out.Stdout) != 0 {
		t.Errorf("cat without stdin: %v %q", err, out.Stdout)
	}

	out, err = s.Exec(ctx, Command{Argv: []string{"/nonexistent/milink-program"}})
	if err == nil || out.ExitCode != 127 {
		t.Errorf("missing program: %v, exit %d", err, out.ExitCode)
	}

	_, err = s.Exec(ctx, Command{Argv: []string{"echo", "a\x00b"}})
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("NUL in an argument: %v", err)
	}
	if _, err := s.Exec(ctx, Command{}); err == nil {
		t.Error("no program: no error")
	}

	// A program killed by a signal has no exit code of its own.
	out, err = s.Exec(ctx, Command{Argv: []string{"sh", "-c", "kill -TERM $$"}})
	if err == nil || out.ExitCode != -1 || !strings.Contains(err.Error(), "TERM") {
		t.Errorf("killed: %v, exit %d", err, out.ExitCode)
	}
}

func TestSSHFiles(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	s := dialSSH(t, f.cfg)
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "mssql.conf")

	if _, err := s.ReadFile(ctx, p); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), s.label) {
		t.Errorf("reading a missing file: %v", err)
	}
	if ok, err := Exists(ctx, s, p); ok || err != nil {
		t.Errorf("Exists(missing) = %v, %v", ok, err)
	}
	if err := s.WriteFile(ctx, filepath.Join(dir, "no", "such", "dir"), []byte("x"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writing into a missing directory: %v", err)
	}

	// A new file gets perm.
	if err := s.WriteFile(ctx, p, []byte("[hadr]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, "[hadr]\n", 0o600, -1, -1)
	// 0 is 0644.
	p2 := filepath.Join(dir, "new")
	if err := s.WriteFile(ctx, p2, nil, 0); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p2, "", 0o644, -1, -1)

	// An existing file keeps its mode and owner; it is a new inode (renamed
	// over, not rewritten in place).
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		uid, gid = 1234, 5678
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	before := inode(t, p)
	data := []byte("bin\x00ary\xff without newline")
	if err := s.WriteFile(ctx, p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, string(data), 0o640, uid, gid)
	if inode(t, p) == before {
		t.Error("the file was rewritten in place, not replaced")
	}
	got, err := s.ReadFile(ctx, p)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}

	fi, err := s.Stat(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := fi.Sys().(*SSHFileOwner)
	if fi.Name() != "mssql.conf" || fi.Size() != int64(len(data)) || fi.Mode() != 0o640 || fi.IsDir() || owner == nil || owner.UID != uid || owner.GID != gid {
		t.Errorf("Stat = %s %d %v %v %+v", fi.Name(), fi.Size(), fi.Mode(), fi.IsDir(), owner)
	}
	if local, _ := os.Stat(p); !fi.ModTime().Equal(local.ModTime().Truncate(time.Second)) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), local.ModTime())
	}
	if fi, err := s.Stat(ctx, dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != mustStat(t, dir).Mode().Perm() {
		t.Errorf("Stat(dir) = %v, %v", fi, err)
	}
	if _, err := s.Stat(ctx, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(missing): %v", err)
	}

	// A symbolic link stays one; the file it points to is replaced.
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, link, []byte("via link\n"), 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	checkFile(t, p, "via link\n", 0o640, uid, gid)
	if fi, err := s.Stat(ctx, link); err != nil || fi.Mode() != 0o640 {
		t.Errorf("Stat follows links: %v %v", fi, err)
	}

	if err := s.WriteFile(ctx, dir, []byte("x"), 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("writing a directory: %v", err)
	}
	if _, err := s.ReadFile(ctx, dir); err == nil || !strings.Contains(err.Error(), "Is a directory") {
		t.Errorf("reading a directory: %v", err)
	}

	// Atomic: a reader sees the old file or the new one, never a part.
	a, b := bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<19)
	if err := os.WriteFile(p, a, 0o640); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var torn atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				torn.Add(1)
			}
		}
	}()
	for i := 0; i < 10; i++ {
		next := a
		if i%2 == 0 {
			next = b
		}
		if err := s.WriteFile(ctx, p, next, 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := torn.Load(); n > 0 {
		t.Errorf("%d reads saw a part of a file, or none", n)
	}
}

// checkFile checks contents, mode and (when uid >= 0) owner.
func checkFile(t *testing.T, p, data string, mode os.FileMode, uid, gid int) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || string(got) != data {
		t.Errorf("%s = %q, %v; want %q", p, got, err, data)
	}
	fi := mustStat(t, p)
	if fi.Mode() != mode {
		t.Errorf("%s mode %v, want %v", p, fi.Mode(), mode)
	}
	if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
		t.Errorf("%s owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func inode(t *testing.T, p string) uint64 {
	return mustStat(t, p).Sys().(*syscall.Stat_t).Ino
}

// writeScript writes an executable sh script.
func writeScript(t *testing.T, p, body string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSSHSudo(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	ctx := context.Background()
	bin := t.TempDir()

	t.Run("real sudo", func(t *testing.T) {
		sudo, err := exec.LookPath("sudo")
		if err != nil {
			if os.Getenv("MILINK_REQUIRE_SSHD") != "" {
				t.Fatal("sudo is not installed (Debian package sudo), and MILINK_REQUIRE_SSHD is set")
			}
			t.Skip("sudo is not installed (Debian package sudo)")
		}
		if os.Geteuid() != 0 {
			t.Skip("only root may sudo without a password here")
		}
		cfg := f.cfg
		cfg.Sudo, cfg.SudoCommand = true, sudo
		s := dialSSH(t, cfg)
		out, err := s.Exec(ctx, Command{Argv: []string{"id", "-u"}})
		if err != nil || strings.TrimSpace(string(out.Stdout)) != "0" {
			t.Fatalf("sudo id -u: %v %q %q", err, out.Stdout, out.Stderr)
		}
		p := filepath.Join(t.TempDir(), "f")
		if err := s.WriteFile(ctx, p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := s.ReadFile(ctx, p); err != nil || string(b) != "x\n" {
			t.Errorf("ReadFile through sudo: %q, %v", b, err)
		}
		if _, err := s.Stat(ctx, p); err != nil {
			t.Errorf("Stat through sudo: %v", err)
		}
	})

	t.Run("sudo passes the command as given", func(t *testing.T) {
		cfg := f.cfg
		cfg.Sudo = true
		cfg.SudoCommand = writeScript(t, filepath.Join(bin, "sudo-log"), `log=$(dirname "$0")/sudo.log
printf '%s\0' "$@" >"$log"
[ "$1" = -n ] && [ "$2" = -- ] || exit 99
shift 2
exec "$@"
`)
		s := dialSSH(t, cfg)
		out, err := s.Exec(ctx, Command{Argv: []string{"echo", "it's $HOME"}})
		if err != nil || string(out.Stdout) != "it's $HOME\n" {
			t.Fatalf("%v %q %q", err, out.Stdout, out.Stderr)
		}
		logged, _ := os.ReadFile(filepath.Join(bin, "sudo.log"))
		if got := nulSplit(logged); !slices.Equal(got, []string{"-n", "--", "echo", "it's $HOME"}) {
			t.Errorf("sudo was given %q", got)
		}
	})

	t.Run("no sudo right", func(t *testing.T) {
		cfg := f.cfg
		cfg.Sudo = true
		cfg.SudoCommand = writeScript(t, filepath.Join(bin, "sudo"), `echo "sudo: a password is required" >&2
exit 1
`)
		s := dialSSH(t, cfg)
		argv := []string{"/opt/mssql/bin/mssql-conf", "set", "hadr.hadrenabled", "1"}
		_, err := s.Exec(ctx, Command{Argv: argv})
		for _, want := range []string{s.label, CommandText(argv), "a password is required", "NOPASSWD", cfg.User} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not say %q", err, want)
			}
		}
		p := "/var/opt/mssql/mssql.conf"
		if err := s.WriteFile(ctx, p, []byte("x"), 0); err == nil || !strings.Contains(err.Error(), "writing "+p) || !strings.Contains(err.Error(), "a password is required") {
			t.Errorf("WriteFile: %v", err)
		}
		if _, err := s.ReadFile(ctx, p); err == nil || !strings.Contains(err.Error(), "reading "+p) || errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadFile: %v", err)
		}
		// Linux puts it in the same words.
		l := &Linux{Conf: p, Tool: "/opt/mssql/bin/mssql-conf", Transport: s}
		if _, err := l.SetHadr(ctx, true); err == nil || !strings.Contains(err.Error(), "a password is required") {
			t.Errorf("SetHadr: %v", err)
		}
	})

	t.Run("sudo not installed", func(t *testing.T) {
		cfg := f.cfg
		cfg.Sudo, cfg.SudoCommand = true, "/nonexistent/sudo"
		s := dialSSH(t, cfg)
		_, err := s.Exec(ctx, Command{Argv: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "not installed") {
			t.Errorf("error %v", err)
		}
	})
}

func TestSSHHostKeys(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{hostKeys: []string{"ed25519", "ecdsa"}})
	ctx := context.Background()
	hostport := net.JoinHostPort(f.d.addr, strconv.Itoa(f.d.port))

	t.Run("unknown host", func(t *testing.T) {
		cfg := f.cfg
		kh := filepath.Join(t.TempDir(), "known_hosts")
		cfg.KnownHostsFiles = []string{kh} // missing: empty
		_, err := DialSSH(ctx, cfg)
		if err == nil {
			t.Fatal("connected to an unknown host")
		}
		msg := err.Error()
		var fp ssh.PublicKey
		for _, k := range f.d.hostKeys {
			if strings.Contains(msg, ssh.FingerprintSHA256(k)) {
				fp = k
			}
		}
		if fp == nil {
			t.Fatalf("no host key fingerprint in %q", msg)
		}
		for _, want := range []string{"not known", hostport, kh, fmt.Sprintf("ssh-keyscan -p %d", f.d.port)} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		// Doing as it says works.
		i := strings.Index(msg, "\n    ")
		if i < 0 {
			t.Fatalf("no known_hosts line in %q", msg)
		}
		line := strings.SplitN(msg[i+5:], "\n", 2)[0]
		if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := dialSSH(t, cfg)
		s.Close()
	})

	// Whichever one key of the host is known, the host is asked for that
	// one (not a mismatch because it prefers another).
	for i, k := range f.d.hostKeys {
		t.Run("known "+k.Type(), func(t *testing.T) {
			cfg := f.cfg
			cfg.KnownHostsFiles = []string{f.d.knownHostsFor(t, f.d.port, f.d.hostKeys[i])}
			dialSSH(t, cfg)
		})
	}

	t.Run("changed host key", func(t *testing.T) {
		other := newKey(t, "", "", "ed25519", "").PublicKey()
		cfg := f.cfg
		kh := f.d.knownHostsFor(t, f.d.port, other)
		cfg.KnownHostsFiles = []string{kh}
		_, err := DialSSH(ctx, cfg)
		if err == nil {
			t.Fatal("connected to a host whose key changed")
		}
		for _, want := range []string{"CHANGED", ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(f.d.hostKeys[0]), kh + ":1", "ssh-keygen -R", f.cfg.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})

	t.Run("insecure: any key", func(t *testing.T) {
		cfg := f.cfg
		cfg.KnownHostsFiles = nil
		cfg.InsecureIgnoreHostKey = true
		dialSSH(t, cfg)
	})
}

func TestSSHAuthentication(t *testing.T) {
	keyDir := t.TempDir()
	encrypted := newKey(t, keyDir, "id_encrypted", "ed25519", "correct horse")
	stranger := newKey(t, keyDir, "id_stranger", "ed25519", "")
	agentRaw := genKey(t, "ed25519")
	agentKey, err := ssh.NewSignerFromKey(agentRaw)
	if err != nil {
		t.Fatal(err)
	}
	f := newSSHFixture(t, sshdOptions{authorized: []ssh.PublicKey{encrypted.PublicKey(), agentKey.PublicKey()}})
	ctx := context.Background()
	const password = "pa55-hunter2-secret"
	const passphrase = "wrong battery staple"

	t.Run("refused: names what was tried, never the password", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = []string{filepath.Join(keyDir, "id_stranger")}
		cfg.Password = password
		_, err := DialSSH(ctx, cfg)
		if err == nil {
			t.Fatal("authenticated")
		}
		for _, want := range []string{"authentication as " + cfg.User + " refused", "publickey with key file " + cfg.IdentityFiles[0], ssh.FingerprintSHA256(stranger.PublicKey()), "then password", cfg.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
	})

	t.Run("encrypted key with its passphrase", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = []string{filepath.Join(keyDir, "id_encrypted")}
		cfg.Passphrase = "correct horse"
		dialSSH(t, cfg)
	})

	t.Run("encrypted key, wrong passphrase", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = []string{filepath.Join(keyDir, "id_encrypted")}
		cfg.Passphrase = passphrase
		_, err := DialSSH(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "passphrase") || strings.Contains(err.Error(), passphrase) {
			t.Errorf("error %v", err)
		}
		cfg.Passphrase = ""
		if _, err := DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("no passphrase: %v", err)
		}
	})

	t.Run("ssh-agent", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = nil
		cfg.Agent, cfg.AgentSocket = true, serveAgent(t, agentRaw)
		s := dialSSH(t, cfg)
		if _, err := s.Exec(ctx, Command{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		// $SSH_AUTH_SOCK when no socket is given.
		t.Setenv("SSH_AUTH_SOCK", cfg.AgentSocket)
		cfg.AgentSocket = ""
		dialSSH(t, cfg)
	})

	t.Run("ssh-agent without keys", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = nil
		cfg.Agent, cfg.AgentSocket = true, serveAgent(t)
		_, err := DialSSH(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "holds no keys") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("nothing to authenticate with", func(t *testing.T) {
		cfg := f.cfg
		cfg.IdentityFiles = nil
		cfg.Agent, cfg.AgentSocket = true, filepath.Join(t.TempDir(), "no-agent")
		_, err := DialSSH(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "no way to authenticate") || !strings.Contains(err.Error(), "ssh-agent") {
			t.Errorf("error %v", err)
		}
	})
}

func TestSSHJumpHost(t *testing.T) {
	target := newSSHFixture(t, sshdOptions{})
	jump := newSSHFixture(t, sshdOptions{})
	ctx := context.Background()
	cfg := target.cfg
	jcfg := jump.cfg
	cfg.Jump = &jcfg
	s := dialSSH(t, cfg)
	out, err := s.Exec(ctx, Command{Argv: []string{"sh", "-c", "echo $SSH_CONNECTION"}})
	if err != nil {
		t.Fatal(err)
	}
	// The target's sshd sees the connection arrive at its own port...
	if fields := strings.Fields(string(out.Stdout)); len(fields) != 4 || fields[3] != strconv.Itoa(target.d.port) {
		t.Errorf("SSH_CONNECTION %q", out.Stdout)
	}
	// ...forwarded by the jump host.
	if !strings.Contains(jump.d.log(), fmt.Sprintf("target 127.0.0.1 port %d", target.d.port)) {
		t.Errorf("the jump host forwarded nothing to port %d", target.d.port)
	}
	if !strings.Contains(s.String(), " via ") {
		t.Errorf("name %q", s)
	}

	// The jump host's own checks apply to it.
	bad := jcfg
	bad.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty")}
	cfg.Jump = &bad
	if _, err := DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "jump host") || !strings.Contains(err.Error(), "not known") {
		t.Errorf("unknown jump host: %v", err)
	}
	// The target's host key is checked too.
	cfg.Jump = &jcfg
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty")}
	if _, err := DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "not known") || strings.Contains(err.Error(), "jump host:") {
		t.Errorf("unknown target behind the jump host: %v", err)
	}
}

// freezeProxy forwards TCP to a target until frozen; frozen, it forwards
// nothing more either way and closes nothing: a host that stopped
// answering.
type freezeProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int32

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *freezeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(u, c)
		go p.pipe(c, u)
	}
}

func (p *freezeProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen && !p.closed {
				p.cond.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				dst.Close()
			}
			return
		}
	}
}

func (p *freezeProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *freezeProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

// proxied is f's config through a proxy.
func (f *sshFixture) proxied(t *testing.T, p *freezeProxy) SSHConfig {
	cfg := f.cfg
	cfg.Port = p.port()
	cfg.KnownHostsFiles = []string{f.d.knownHostsFor(t, p.port())}
	return cfg
}

func TestSSHHostStopsAnswering(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	ctx := context.Background()
	target := net.JoinHostPort(f.d.addr, strconv.Itoa(f.d.port))

	t.Run("mid-command", func(t *testing.T) {
		p := newFreezeProxy(t, target)
		cfg := f.proxied(t, p)
		cfg.KeepaliveInterval, cfg.KeepaliveCountMax = 200*time.Millisecond, 3
		s := dialSSH(t, cfg)
		if _, err := s.Exec(ctx, Command{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Exec(ctx, Command{Argv: []string{"sleep", "60"}})
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		p.freeze()
		start := time.Now()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "stopped answering") || !strings.Contains(err.Error(), s.label) || !errors.Is(err, errSSHGone) {
				t.Errorf("error %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("still waiting 10s after the host stopped answering")
		}
		// Every later use fails at once, for the same reason.
		start = time.Now()
		if _, err := s.ReadFile(ctx, "/etc/hostname"); err == nil || !strings.Contains(err.Error(), "stopped answering") || time.Since(start) > time.Second {
			t.Errorf("after: %v (%s)", err, time.Since(start))
		}
	})

	t.Run("while idle", func(t *testing.T) {
		p := newFreezeProxy(t, target)
		cfg := f.proxied(t, p)
		cfg.KeepaliveInterval, cfg.KeepaliveCountMax = 200*time.Millisecond, 2
		s := dialSSH(t, cfg)
		p.freeze()
		start := time.Now()
		_, err := s.Exec(ctx, Command{Argv: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "stopped answering") || time.Since(start) > 3*time.Second {
			t.Errorf("error %v after %s", err, time.Since(start))
		}
	})

	t.Run("before the handshake", func(t *testing.T) {
		p := newFreezeProxy(t, target)
		p.freeze()
		cfg := f.proxied(t, p)
		cfg.ConnectTimeout = time.Second
		start := time.Now()
		_, err := DialSSH(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "no answer within 1s") || time.Since(start) > 3*time.Second {
			t.Errorf("error %v after %s", err, time.Since(start))
		}
	})

	t.Run("refused", func(t *testing.T) {
		cfg := f.cfg
		cfg.Port = freePort(t)
		if _, err := DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "cannot connect") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("the host closes the connection", func(t *testing.T) {
		p := newFreezeProxy(t, target)
		s := dialSSH(t, f.proxied(t, p))
		p.close()
		time.Sleep(200 * time.Millisecond)
		if _, err := s.Exec(ctx, Command{Argv: []string{"true"}}); err == nil || !errors.Is(err, errSSHGone) {
			t.Errorf("error %v", err)
		}
	})
}

// processWith reports whether a process has arg in its command line.
func processWith(arg string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("\x00"+arg+"\x00")) {
			return true
		}
	}
	return false
}

func TestSSHContext(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	s := dialSSH(t, f.cfg)

	t.Run("cancelled: the program is stopped", func(t *testing.T) {
		marker := fmt.Sprintf("%d.%d", 300+os.Getpid()%100, time.Now().UnixNano()%1000000)
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("interrupt signal received")) })
		start := time.Now()
		_, err := s.Exec(ctx, Command{Argv: []string{"sleep", marker}})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupt signal received") {
			t.Errorf("error %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned %s after", d)
		}
		deadline := time.Now().Add(5 * time.Second)
		for processWith(marker) {
			if time.Now().After(deadline) {
				t.Fatal("sleep still runs on the host")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The connection is still good.
		if out, err := s.Exec(context.Background(), Command{Argv: []string{"echo", "ok"}}); err != nil || string(out.Stdout) != "ok\n" {
			t.Errorf("after: %v %q", err, out.Stdout)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := s.Exec(ctx, Command{Argv: []string{"sleep", "30"}}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v", err)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.ReadFile(ctx, "/etc/hostname"); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v", err)
		}
	})

	t.Run("shielded: runs to its end", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		out, err := s.Exec(Shielded(ctx), Command{Argv: []string{"sh", "-c", "sleep 0.4; echo done"}})
		if err != nil || string(out.Stdout) != "done\n" {
			t.Errorf("%v %q", err, out.Stdout)
		}
	})

	t.Run("dial cancelled", func(t *testing.T) {
		p := newFreezeProxy(t, net.JoinHostPort(f.d.addr, strconv.Itoa(f.d.port)))
		p.freeze()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := DialSSH(ctx, f.proxied(t, p))
		if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
			t.Errorf("error %v after %s", err, time.Since(start))
		}
	})
}

// One connection for the whole run, whatever is done and however much at
// once (more than sshd's 10 sessions a connection).
func TestSSHConnectionReuse(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	p := newFreezeProxy(t, net.JoinHostPort(f.d.addr, strconv.Itoa(f.d.port)))
	s := dialSSH(t, f.proxied(t, p))
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := filepath.Join(dir, strconv.Itoa(i))
			if out, err := s.Exec(ctx, Command{Argv: []string{"sh", "-c", "sleep 0.2; echo " + strconv.Itoa(i)}}); err != nil || strings.TrimSpace(string(out.Stdout)) != strconv.Itoa(i) {
				errs <- fmt.Errorf("exec %d: %v %q", i, err, out.Stdout)
			}
			if err := s.WriteFile(ctx, name, []byte(name), 0); err != nil {
				errs <- err
			}
			if b, err := s.ReadFile(ctx, name); err != nil || string(b) != name {
				errs <- fmt.Errorf("read %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// The Linux driver runs unchanged over SSH: mssql.conf edited on the
// "host" (mode and owner kept), mssql-conf run when present, the restart
// command run there.
func TestSSHLinuxDriver(t *testing.T) {
	f := newSSHFixture(t, sshdOptions{})
	s := dialSSH(t, f.cfg)
	ctx := context.Background()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mssql.conf")
	if err := os.WriteFile(conf, []byte("[network]\ntcpport = 1433\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		uid, gid = 999, 999
		if err := os.Chown(conf, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	restarted := filepath.Join(dir, "restarted")
	l := &Linux{Conf: conf, Tool: filepath.Join(dir, "mssql-conf"), RestartCommand: []string{"touch", restarted}, Transport: s}

	if _, err := l.SetHadr(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetTraceFlags(ctx, []int{1800, 9567}, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, conf, "[network]\ntcpport = 1433\n\n[hadr]\nhadrenabled = 1\n\n[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 9567\n", 0o640, uid, gid)
	st, err := l.ReadStartup(ctx)
	if err != nil || !st.Hadr || !slices.Equal(st.TraceFlags, []int{1800, 9567}) {
		t.Errorf("ReadStartup = %+v, %v", st, err)
	}
	if err := l.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(restarted); err != nil {
		t.Errorf("restart command did not run: %v", err)
	}

	// With mssql-conf present, it is what runs.
	writeScript(t, l.Tool, `printf '%s\n' "$*" >>"$(dirname "$0")/tool.log"
`)
	if _, err := l.SetTraceFlags(ctx, nil, []int{9567}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "tool.log")); string(b) != "traceflag 9567 off\n" {
		t.Errorf("mssql-conf ran with %q", b)
	}
}
