package sqlserver

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/microsoft/go-mssqldb/integratedauth/krb5"
)

func TestWindowsAuthDSN(t *testing.T) {
	tests := []struct {
		name     string
		auth     Auth
		user     string // the URL's user, "" for none
		password string
		params   map[string]string
		absent   []string
	}{
		{"kerberos from the ticket cache", Auth{Method: "windows", Protocol: "kerberos", CredentialCache: "/tmp/cc", SPN: "MSSQLSvc/sql01.corp:1433"},
			"", "", map[string]string{"authenticator": "krb5", "krb5-credcachefile": "/tmp/cc", "serverspn": "MSSQLSvc/sql01.corp:1433"},
			[]string{"krb5-keytabfile", "krb5-realm"}},
		{"kerberos with a keytab", Auth{Method: "windows", Protocol: "kerberos", User: "svc-milink", Realm: "CORP.EXAMPLE.COM", Keytab: "/etc/milink.keytab", Krb5Conf: "/etc/krb5.conf"},
			"svc-milink", "", map[string]string{"authenticator": "krb5", "krb5-keytabfile": "/etc/milink.keytab", "krb5-realm": "CORP.EXAMPLE.COM", "krb5-configfile": "/etc/krb5.conf"},
			[]string{"krb5-credcachefile", "serverspn"}},
		{"kerberos with a password", Auth{Method: "windows", Protocol: "kerberos", User: "dba@CORP.EXAMPLE.COM", Password: "p@ss;word&x=1"},
			"dba@CORP.EXAMPLE.COM", "p@ss;word&x=1", map[string]string{"authenticator": "krb5"}, nil},
		{"ntlm", Auth{Method: "windows", Protocol: "ntlm", Domain: "CORP", User: "dba", Password: "p'w\"d"},
			`CORP\dba`, "p'w\"d", map[string]string{"authenticator": "ntlm"}, []string{"krb5-configfile", "serverspn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sql01()
			s.Auth = tt.auth
			u, err := url.Parse(DSN(s))
			if err != nil {
				t.Fatal(err)
			}
			gotUser, gotPass := "", ""
			if u.User != nil {
				gotUser = u.User.Username()
				gotPass, _ = u.User.Password()
			}
			if gotUser != tt.user || gotPass != tt.password {
				t.Errorf("user %q password %q, want %q %q", gotUser, gotPass, tt.user, tt.password)
			}
			q := u.Query()
			for k, v := range tt.params {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			for _, k := range tt.absent {
				if q.Has(k) {
					t.Errorf("%s is set (%q)", k, q.Get(k))
				}
			}
		})
	}
}

func TestWindowsAuthProblem(t *testing.T) {
	kerberos := Auth{Method: "windows", Protocol: "kerberos", User: "dba", Password: "Secret-1"}
	tests := []struct {
		name string
		auth Auth
		err  error
		want []string
	}{
		{"no ticket", Auth{Method: "windows", Protocol: "kerberos", CredentialCache: "/tmp/none"}, krb5.ErrCredCacheFileDoesNotExist,
			[]string{"Kerberos login to 127.0.0.2:1433: no Kerberos ticket", "/tmp/none", "kinit"}},
		{"no credentials", Auth{Method: "windows", Protocol: "kerberos"}, krb5.ErrRequiredParametersMissing, []string{"no Kerberos credentials", "kinit"}},
		{"unknown SPN", kerberos, errors.New("KDC_Error: TGS Exchange Error: KRB Error: (7) KDC_ERR_S_PRINCIPAL_UNKNOWN Server not found in Kerberos database"),
			[]string{"does not know the service principal MSSQLSvc/127.0.0.2:1433", "setspn"}},
		{"clock skew", kerberos, errors.New("KRB Error: (37) KRB_AP_ERR_SKEW Clock skew too great"), []string{"clock", "NTP"}},
		{"wrong password", kerberos, errors.New("KRB Error: (24) KDC_ERR_PREAUTH_FAILED Pre-authentication information was invalid"), []string{"refused the password or keytab of dba"}},
		{"expired", kerberos, errors.New("KRB Error: (32) KRB_AP_ERR_TKT_EXPIRED Ticket expired"), []string{"expired", "kinit"}},
		{"not Kerberos", kerberos, fmt.Errorf("dial tcp: connection refused"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sql01()
			s.Auth = tt.auth
			got := windowsAuthProblem(s, tt.err)
			if tt.want == nil {
				if got != "" {
					t.Errorf("got %q, want none", got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not contain %q", got, w)
				}
			}
			if strings.Contains(got, "Secret-1") {
				t.Errorf("the password is in %q", got)
			}
		})
	}
}
