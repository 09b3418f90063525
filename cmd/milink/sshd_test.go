package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdSSHD starts the real OpenSSH server on a free loopback port for the
// script, with a throw-away host key, a client key it accepts
// ($WORK/ssh/id_ed25519) and a known_hosts file naming it
// ($WORK/ssh/known_hosts); $SSHPORT is its port. It stops when the script
// ends. Nothing of this machine's sshd, /etc or ~/.ssh is used: as root,
// sshd gets its privilege-separation directory in a mount namespace of its
// own. Scripts guard it with [sshd] (see the sshd condition).
func cmdSSHD(ts *testscript.TestScript, neg bool, args []string) {
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		ts.Fatalf("sshd is not installed (Debian: openssh-server); the script should have said [exec:/usr/sbin/sshd]")
	}
	dir := ts.MkAbs("ssh")
	ts.Check(os.MkdirAll(dir, 0o700))
	keygen := func(name string) string {
		path := filepath.Join(dir, name)
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "milink-test", "-f", path).CombinedOutput()
		if err != nil {
			ts.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(path + ".pub")
		ts.Check(err)
		return strings.TrimSpace(string(pub))
	}
	hostPub := keygen("host_ed25519")
	userPub := keygen("id_ed25519")
	ts.Check(os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(userPub+"\n"), 0o600))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := []string{
		"ListenAddress 127.0.0.1:" + strconv.Itoa(port),
		"HostKey " + filepath.Join(dir, "host_ed25519"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"UsePAM no", "StrictModes no", "PermitRootLogin yes", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "PrintMotd no",
		// bash skips ~/.bashrc in a nested shell; a slow one would delay
		// every command.
		"SetEnv SHLVL=1",
	}
	cfg := filepath.Join(dir, "sshd_config")
	ts.Check(os.WriteFile(cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o600))
	logPath := filepath.Join(dir, "sshd.log")
	cmd := exec.Command(sshd, "-D", "-E", logPath, "-f", cfg)
	if _, err := os.Stat("/run/sshd"); os.Geteuid() == 0 && err != nil {
		cmd = exec.Command("/bin/sh", "-c", `mount -t tmpfs -o mode=0755 milink-test-run /run && mkdir -m 0755 /run/sshd && exec "$@"`, "sh", sshd, "-D", "-E", logPath, "-f", cfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	}
	ts.Check(cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			buf := make([]byte, 4)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(buf)
			c.Close()
			if err == nil && string(buf) == "SSH-" {
				break
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			ts.Fatalf("sshd exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("sshd did not answer on port %d", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n", port, hostPub)
	ts.Check(os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known), 0o600))
	ts.Setenv("SSHPORT", strconv.Itoa(port))
}
