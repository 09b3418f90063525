package host

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshAuth is the authentication a connection offers, and what it tried.
type sshAuth struct {
	methods   []ssh.AuthMethod
	agentConn io.Closer
	user      string

	keys  []string // what the public keys are, for errors: "key file F (SHA256:…)"
	notes []string // what could not be offered, for errors

	mu    sync.Mutex
	tried []string // methods the client got to try, in order
}

// newSSHAuth loads the keys and opens ssh-agent. All public keys are one
// method: the client tries a method once, so a second "publickey" method
// would never be tried.
func newSSHAuth(cfg SSHConfig) (*sshAuth, error) {
	a := &sshAuth{user: cfg.User}
	var signers []ssh.Signer
	for _, f := range cfg.IdentityFiles {
		signer, err := loadPrivateKey(f, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		signers = append(signers, signer)
		a.keys = append(a.keys, fmt.Sprintf("key file %s (%s)", f, ssh.FingerprintSHA256(signer.PublicKey())))
	}
	var agentSigners func() ([]ssh.Signer, error)
	if cfg.Agent {
		sock := cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock == "" {
			a.notes = append(a.notes, "ssh-agent: SSH_AUTH_SOCK is not set")
		} else if conn, err := net.Dial("unix", sock); err != nil {
			a.notes = append(a.notes, fmt.Sprintf("ssh-agent: cannot reach it at %s: %v", sock, err))
		} else {
			a.agentConn = conn
			agentSigners = agent.NewClient(conn).Signers
		}
	}
	if len(signers) > 0 || agentSigners != nil {
		a.methods = append(a.methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			a.record("publickey")
			all := append([]ssh.Signer(nil), signers...)
			if agentSigners != nil {
				more, err := agentSigners()
				if err != nil {
					a.note(fmt.Sprintf("ssh-agent: %v", err))
				}
				if len(more) == 0 {
					a.note("ssh-agent: it holds no keys")
				}
				for _, k := range more {
					a.note(fmt.Sprintf("ssh-agent key (%s)", ssh.FingerprintSHA256(k.PublicKey())))
				}
				all = append(all, more...)
			}
			return all, nil
		}))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		a.methods = append(a.methods,
			ssh.PasswordCallback(func() (string, error) {
				a.record("password")
				return pw, nil
			}),
			// Hosts that take passwords through PAM ask for them this way.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				a.record("keyboard-interactive")
				if len(questions) == 0 {
					return nil, nil
				}
				if len(questions) != 1 || echos[0] {
					return nil, fmt.Errorf("the host asks %q, which is not just a password", questions)
				}
				return []string{pw}, nil
			}))
	}
	if len(a.methods) == 0 {
		a.close()
		msg := "no way to authenticate: give a private key file, use ssh-agent, or a password"
		if len(a.notes) > 0 {
			msg += " (" + strings.Join(a.notes, "; ") + ")"
		}
		return nil, errors.New(msg)
	}
	return a, nil
}

func (a *sshAuth) record(method string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tried = append(a.tried, method)
}

func (a *sshAuth) note(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, s)
}

func (a *sshAuth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}

// refused says that the host refused every method, and which were tried.
func (a *sshAuth) refused() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var tried []string
	for _, m := range a.tried {
		switch m {
		case "publickey":
			keys := "no keys"
			if len(a.keys) > 0 {
				keys = strings.Join(a.keys, ", ")
			}
			tried = append(tried, "publickey with "+keys)
		default:
			tried = append(tried, m)
		}
	}
	msg := fmt.Sprintf("authentication as %s refused", a.user)
	if len(tried) == 0 {
		msg += "; the host accepts none of the configured methods"
	} else {
		msg += "; tried " + strings.Join(tried, "; then ")
	}
	if len(a.notes) > 0 {
		msg += " (" + strings.Join(a.notes, "; ") + ")"
	}
	return errors.New(msg)
}

// loadPrivateKey reads a private key file, decrypting it with passphrase
// when it is encrypted. Errors never show the passphrase.
func loadPrivateKey(path, passphrase string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("private key %s is encrypted: give its passphrase", path)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(b, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("private key %s: the passphrase given does not decrypt it", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("private key %s: %v", path, err)
	}
	return signer, nil
}

// hostKeyChecker checks host keys against known_hosts files, and keeps
// the error it found, which explains what to do.
type hostKeyChecker struct {
	files []string
	check ssh.HostKeyCallback // nil: any key is accepted
	mu    sync.Mutex
	err   error // the last refusal, explained
}

// refusal is the explained refusal of the host key, if there was one.
func (h *hostKeyChecker) refusal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// defaultKnownHosts are OpenSSH's own files.
func defaultKnownHosts() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts")
}

func newHostKeyChecker(cfg SSHConfig) (*hostKeyChecker, error) {
	h := &hostKeyChecker{}
	if cfg.InsecureIgnoreHostKey {
		return h, nil
	}
	files := cfg.KnownHostsFiles
	if len(files) == 0 {
		files = defaultKnownHosts()
	}
	var existing []string
	for _, f := range files {
		_, err := os.Stat(f)
		switch {
		case err == nil:
			existing = append(existing, f)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("known hosts: %w", err)
		}
	}
	h.files = files
	check, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	h.check = check
	return h, nil
}

// algorithms are the host key algorithms of the keys known for hostport,
// so that the host shows one of those (the one known_hosts has) rather
// than its first preference; nil when none are known.
func (h *hostKeyChecker) algorithms(hostport string) []string {
	if h.check == nil {
		return nil
	}
	// Asking with a key that is nobody's gives the known keys back.
	var keyErr *knownhosts.KeyError
	if err := h.check(hostport, &net.TCPAddr{IP: net.IPv4zero}, probeKey{}); !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		for _, a := range hostKeyAlgorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func hostKeyAlgorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

// probeKey is a public key no host has.
type probeKey struct{}

func (probeKey) Type() string                        { return "milink-probe" }
func (probeKey) Marshal() []byte                     { return []byte("milink-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("not a key") }

// callback is the ssh.HostKeyCallback.
func (h *hostKeyChecker) callback(hostport string, remote net.Addr, key ssh.PublicKey) error {
	if h.check == nil {
		return nil
	}
	if remote == nil {
		remote = &net.TCPAddr{IP: net.IPv4zero}
	}
	err := h.check(hostport, remote, key)
	if err == nil {
		return nil
	}
	err = h.explain(hostport, key, err)
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	return err
}

// explain turns a known_hosts refusal into what to do about it.
func (h *hostKeyChecker) explain(hostport string, key ssh.PublicKey, err error) error {
	fp := ssh.FingerprintSHA256(key)
	host, port, _ := net.SplitHostPort(hostport)
	line := knownhosts.Line([]string{knownhosts.Normalize(hostport)}, key)
	file := h.files[0]
	keyType := strings.TrimPrefix(key.Type(), "ssh-")
	if strings.HasPrefix(keyType, "ecdsa") {
		keyType = "ecdsa"
	}
	scan := fmt.Sprintf("ssh-keyscan -p %s -t %s %s >> %s", port, keyType, host, file)
	var revoked *knownhosts.RevokedError
	var keyErr *knownhosts.KeyError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("the host key of %s (%s %s) is revoked in %s:%d: refusing to connect", hostport, key.Type(), fp, revoked.Revoked.Filename, revoked.Revoked.Line)
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return fmt.Errorf("the host key of %s is not known (%s %s; known hosts files: %s). If that fingerprint is the host's own (ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub on the host shows it), trust it by adding this line to %s:\n    %s\n(or run: %s)",
			hostport, key.Type(), fp, strings.Join(h.files, ", "), keyType, file, line, scan)
	case errors.As(err, &keyErr):
		var known []string
		for _, k := range keyErr.Want {
			known = append(known, fmt.Sprintf("%s:%d has %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
		w := keyErr.Want[0]
		return fmt.Errorf("the host key of %s has CHANGED: it shows %s %s, but %s. Someone may be intercepting the connection. If the host was reinstalled and %s is its new key, remove the old one (ssh-keygen -R %s -f %s) and add this line to %s:\n    %s",
			hostport, key.Type(), fp, strings.Join(known, ", "), fp, shellQuote(knownhosts.Normalize(hostport)), w.Filename, w.Filename, line)
	}
	return fmt.Errorf("checking the host key of %s: %w", hostport, err)
}
