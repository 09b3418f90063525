package lab_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
	_ "github.com/microsoft/go-mssqldb/integratedauth/krb5"

	"github.com/milink/milink/internal/kdctest"
	"github.com/milink/milink/lab"
)

// windowsLab starts a lab whose sql01 is a member of the realm's domain:
// its SPN's keytab issued by the real KDC, MILINK\dba a Windows login,
// and NTLM accounts dba and bob (bob has no login).
func windowsLab(t *testing.T, kdc *kdctest.KDC) lab.ServerInfo {
	t.Helper()
	addr := randomBase(t)
	keytab := kdc.AddService("MSSQLSvc/" + addr + ":1433")
	wa := lab.WindowsAuth{
		Domain: "MILINK", Realm: kdc.Realm, Keytab: keytab,
		Logins:    []string{`MILINK\dba`},
		NTLMUsers: map[string]string{"dba": "Dba-Passw0rd!", "bob": "Bob-Passw0rd!"},
	}
	data, _ := json.Marshal(wa)
	file := filepath.Join(t.TempDir(), "windows-auth.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := lab.Config{Dir: t.TempDir(), Address: addr, WindowsAuth: file}
	l, err := lab.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	info, _ := l.File().Server("sql01")
	if l.File().WindowsAuth != file {
		t.Errorf("lab.json windows_auth = %q, want %q", l.File().WindowsAuth, file)
	}
	return info
}

func integratedDSN(s lab.ServerInfo, user, password string, params map[string]string) string {
	u := url.URL{Scheme: "sqlserver", Host: net.JoinHostPort(s.Address, strconv.Itoa(s.Port))}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	q := url.Values{"encrypt": {"disable"}, "dial timeout": {"2"}, "connection timeout": {"10"}}
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func loginErr(t *testing.T, dsn string) error {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	return db.QueryRowContext(ctx(t), "SELECT 1").Scan(&one)
}

func wantNumber(t *testing.T, what string, err error, number int32) {
	t.Helper()
	var e mssql.Error
	if !errors.As(err, &e) || e.Number != number {
		t.Errorf("%s: error %v, want SQL Server error %d", what, err, number)
	}
}

// TestWindowsAuthentication logs in to sql01 with go-mssqldb's Kerberos
// (ticket cache from the real kinit, a keytab, a password) and NTLM, and
// checks SQL Server's refusals.
func TestWindowsAuthentication(t *testing.T) {
	kdc := kdctest.Start(t, "MILINK.TEST")
	kdc.AddUser("dba", "Dba-Passw0rd!")
	kdc.AddUser("bob", "Bob-Passw0rd!")
	s := windowsLab(t, kdc)
	krb := func(extra map[string]string) map[string]string {
		// The SPN is given: for a loopback address go-mssqldb would ask
		// for this machine's host name.
		p := map[string]string{"authenticator": "krb5", "krb5-configfile": kdc.Krb5Conf, "krb5-dnslookupkdc": "false",
			"serverspn": fmt.Sprintf("MSSQLSvc/%s:%d", s.Address, s.Port)}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	cache := kdc.Kinit("dba", "Dba-Passw0rd!")
	ok := []struct {
		name, user, password string
		params               map[string]string
	}{
		{"kerberos, the ticket cache of kinit", "", "", krb(map[string]string{"krb5-credcachefile": cache})},
		{"kerberos, a keytab", "dba", "", krb(map[string]string{"krb5-keytabfile": kdc.UserKeytab("dba"), "krb5-realm": kdc.Realm})},
		{"kerberos, a password", "dba", "Dba-Passw0rd!", krb(map[string]string{"krb5-realm": kdc.Realm})},
		{"ntlm", `MILINK\dba`, "Dba-Passw0rd!", map[string]string{"authenticator": "ntlm"}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			if err := loginErr(t, integratedDSN(s, c.user, c.password, c.params)); err != nil {
				t.Fatalf("login: %v", err)
			}
		})
	}
	refused := []struct {
		name, user, password string
		params               map[string]string
		number               int32
	}{
		// Proved by Kerberos, but SQL Server has no login for MILINK\bob.
		{"kerberos, no login for the account", "bob", "Bob-Passw0rd!", krb(map[string]string{"krb5-realm": kdc.Realm}), 18456},
		{"ntlm, no login for the account", `MILINK\bob`, "Bob-Passw0rd!", map[string]string{"authenticator": "ntlm"}, 18456},
		{"ntlm, wrong password", `MILINK\dba`, "wrong", map[string]string{"authenticator": "ntlm"}, 18452},
		{"ntlm, another domain", `OTHER\dba`, "Dba-Passw0rd!", map[string]string{"authenticator": "ntlm"}, 18452},
		{"ntlm, unknown account", `MILINK\eve`, "Eve-Passw0rd!", map[string]string{"authenticator": "ntlm"}, 18452},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			wantNumber(t, c.name, loginErr(t, integratedDSN(s, c.user, c.password, c.params)), c.number)
		})
	}
	// A ticket for a service key the server does not hold (the KDC gave
	// the SPN a new key after the server's keytab was written).
	t.Run("kerberos, a ticket the server's keytab cannot read", func(t *testing.T) {
		kdc.RotateKey(fmt.Sprintf("MSSQLSvc/%s:%d", s.Address, s.Port))
		err := loginErr(t, integratedDSN(s, "dba", "Dba-Passw0rd!", krb(map[string]string{"krb5-realm": kdc.Realm})))
		wantNumber(t, "rotated key", err, 18452)
	})
}

// TestWindowsAuthenticationFreeTDS: FreeTDS's own NTLMv2, an independent
// implementation, logs in as MILINK\dba; a wrong password gets 18452.
func TestWindowsAuthenticationFreeTDS(t *testing.T) {
	tsql := tsqlPath(t)
	kdc := kdctest.Start(t, "MILINK.TEST")
	s := windowsLab(t, kdc)
	dir := t.TempDir()
	conf := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(conf, []byte("[global]\n\ttds version = 7.4\n\tuse ntlmv2 = yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(password string) (string, string, error) {
		cmd := exec.CommandContext(ctx(t), tsql, "-H", s.Address, "-p", strconv.Itoa(s.Port), "-U", `MILINK\dba`, "-P", password)
		cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "HOME="+dir)
		cmd.Stdin = strings.NewReader("SELECT SUSER_SNAME() AS who\ngo\nexit\n")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		return out.String(), stderr.String(), err
	}
	out, stderr, err := run("Dba-Passw0rd!")
	if err != nil || !strings.Contains(out, `MILINK\dba`) {
		t.Fatalf("tsql as MILINK\\dba: %v\n%s\n%s", err, out, stderr)
	}
	out, stderr, _ = run("wrong")
	if !strings.Contains(out+stderr, "18452") && !strings.Contains(out+stderr, "untrusted domain") {
		t.Errorf("tsql with a wrong password: want 18452\n%s\n%s", out, stderr)
	}
}
