package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/milink/milink/lab/winauth"
)

// WindowsAuth is sql01's domain membership, for Windows authentication
// (`milink lab up -windows-auth FILE`, a JSON file of this shape): the
// domain its logins carry, the Kerberos realm and the keytab a KDC issued
// for the server's SPN (MSSQLSvc/ADDRESS:PORT), the Windows logins
// SQL Server has (each a sysadmin), and the accounts NTLM accepts.
type WindowsAuth struct {
	Domain    string            `json:"domain"`     // NetBIOS name: MILINK
	Realm     string            `json:"realm"`      // MILINK.TEST
	Keytab    string            `json:"keytab"`     // path, relative to the file's directory
	Logins    []string          `json:"logins"`     // MILINK\dba
	NTLMUsers map[string]string `json:"ntlm_users"` // user → password
}

// loadWindowsAuth reads a -windows-auth file and makes its acceptor.
func loadWindowsAuth(path string, logf func(string, ...any)) (*winauth.Acceptor, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("windows authentication: %w", err)
	}
	var w WindowsAuth
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, nil, fmt.Errorf("windows authentication: %s: %w", path, err)
	}
	cfg := winauth.Config{Domain: w.Domain, Realm: w.Realm, NTLMUsers: w.NTLMUsers, Logf: logf}
	if w.Keytab != "" {
		kt := w.Keytab
		if !filepath.IsAbs(kt) {
			kt = filepath.Join(filepath.Dir(path), kt)
		}
		if cfg.Keytab, err = os.ReadFile(kt); err != nil {
			return nil, nil, fmt.Errorf("windows authentication: the keytab: %w", err)
		}
	}
	a, err := winauth.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("windows authentication: %s: %w", path, err)
	}
	for _, l := range w.Logins {
		if !strings.Contains(l, `\`) {
			return nil, nil, fmt.Errorf("windows authentication: %s: login %q is not DOMAIN\\user", path, l)
		}
	}
	return a, w.Logins, nil
}
