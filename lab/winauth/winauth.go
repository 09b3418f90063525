// Package winauth is the lab's side of Windows authentication: it accepts
// the integrated-security logins a SQL Server in a domain accepts,
// Kerberos (SPNEGO, as Windows clients and go-mssqldb's krb5 send it)
// validated against a keytab that a real KDC issued for the server's SPN,
// and NTLMv2 validated against the lab's own list of domain users.
//
// Failures are refused as SQL Server refuses them: a token that does not
// validate gives the client 18452 ("untrusted domain"), a proved account
// without a login gives 18456; the cause goes to the server's log only.
package winauth

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/milink/milink/lab/tds"
)

// Config is what the acceptor trusts.
type Config struct {
	// Domain is the NetBIOS domain name the logins carry (MILINK\dba).
	Domain string
	// Realm is the Kerberos realm whose principals map to Domain's
	// accounts (dba@MILINK.TEST → MILINK\dba).
	Realm string
	// Keytab holds the server's service key (MSSQLSvc/host:port@REALM),
	// as kadmin's ktadd writes it; nil: Kerberos is not accepted.
	Keytab []byte
	// NTLMUsers are the accounts NTLM accepts, by user name (without the
	// domain, compared without case), with their passwords; nil: NTLM is
	// not accepted.
	NTLMUsers map[string]string
	// Logf receives why a login was refused (the server's error log).
	Logf func(format string, args ...any)
}

// Acceptor is a tds.SSPI.
type Acceptor struct {
	cfg Config
	krb *kerberos // nil without a keytab
}

// New checks the configuration (a keytab that does not parse is an error).
func New(cfg Config) (*Acceptor, error) {
	if cfg.Domain == "" {
		return nil, fmt.Errorf("winauth: a domain name is needed")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	a := &Acceptor{cfg: cfg}
	if len(cfg.Keytab) > 0 {
		k, err := newKerberos(cfg.Keytab, cfg.Realm)
		if err != nil {
			return nil, err
		}
		a.krb = k
	}
	return a, nil
}

// Start begins one login's exchange.
func (a *Acceptor) Start() tds.SSPIExchange { return &exchange{a: a} }

// LoginName is the Windows login for a user of the domain.
func (a *Acceptor) LoginName(user string) string { return strings.ToUpper(a.cfg.Domain) + `\` + user }

// untrusted is the message for a token that did not validate.
func untrusted() *tds.Message {
	return &tds.Message{Number: 18452, State: 1, Class: 14,
		Text: "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication."}
}

type exchange struct {
	a    *Acceptor
	mu   sync.Mutex
	ntlm *ntlmServer // set after an NTLM NEGOTIATE message
}

var ntlmSignature = []byte("NTLMSSP\x00")

func (e *exchange) Step(in []byte) ([]byte, string, bool, *tds.Message) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.a
	switch {
	case e.ntlm != nil:
		user, err := e.ntlm.authenticate(in)
		if err != nil {
			a.cfg.Logf("SSPI handshake failed (NTLM): %v", err)
			return nil, "", false, untrusted()
		}
		return nil, user, true, nil
	case bytes.HasPrefix(in, ntlmSignature):
		if a.cfg.NTLMUsers == nil {
			a.cfg.Logf("SSPI handshake failed: NTLM is not accepted by this server")
			return nil, "", false, untrusted()
		}
		srv := newNTLMServer(a.cfg.Domain, a.cfg.NTLMUsers, a.LoginName)
		challenge, err := srv.challenge(in)
		if err != nil {
			a.cfg.Logf("SSPI handshake failed (NTLM): %v", err)
			return nil, "", false, untrusted()
		}
		e.ntlm = srv
		return challenge, "", false, nil
	default:
		if a.krb == nil {
			a.cfg.Logf("SSPI handshake failed: Kerberos is not accepted by this server (no keytab)")
			return nil, "", false, untrusted()
		}
		user, out, err := a.krb.accept(in)
		if err != nil {
			a.cfg.Logf("SSPI handshake failed (Kerberos): %v", err)
			return nil, "", false, untrusted()
		}
		return out, a.LoginName(user), true, nil
	}
}
