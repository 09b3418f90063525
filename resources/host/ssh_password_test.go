package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Password logins cannot be tested against the real sshd here (that
// needs a user with a password in /etc/shadow), so an in-process server
// of golang.org/x/crypto/ssh takes them: "password", or
// "keyboard-interactive" with one prompt.
func passwordServer(t *testing.T, password string, interactive bool) SSHConfig {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	conf := &ssh.ServerConfig{}
	if interactive {
		conf.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil || len(answers) != 1 || answers[0] != password {
				return nil, errors.New("wrong")
			}
			return nil, nil
		}
	} else {
		conf.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) != password {
				return nil, errors.New("wrong")
			}
			return nil, nil
		}
	}
	conf.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
				sc, chans, reqs, err := ssh.NewServerConn(c, conf)
				if err != nil {
					return
				}
				defer sc.Close()
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(ssh.Prohibited, "no sessions here")
				}
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr.String())}, hostKey.PublicKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return SSHConfig{Address: "127.0.0.1", Port: addr.Port, User: "dba", KnownHostsFiles: []string{kh}}
}

func TestSSHPassword(t *testing.T) {
	const password = "s3cret-Pa55"
	for _, interactive := range []bool{false, true} {
		cfg := passwordServer(t, password, interactive)
		cfg.Password = password
		s, err := DialSSH(context.Background(), cfg)
		if err != nil {
			t.Fatalf("interactive %v: %v", interactive, err)
		}
		s.Close()

		cfg.Password = "wrong-" + password
		_, err = DialSSH(context.Background(), cfg)
		method := "password"
		if interactive {
			method = "keyboard-interactive"
		}
		if err == nil || !strings.Contains(err.Error(), "refused; tried "+method) || strings.Contains(err.Error(), password) {
			t.Errorf("interactive %v, wrong password: %v", interactive, err)
		}
	}
}
