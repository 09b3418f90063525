package sqlserver

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	// Kerberos for Windows authentication (go-mssqldb registers NTLM
	// itself).
	"github.com/microsoft/go-mssqldb/integratedauth/krb5"
)

// windowsAuthParams sets go-mssqldb's parameters for Windows
// authentication and returns the URL's user. The protocol is chosen, never
// negotiated: a Kerberos login cannot silently become an NTLM one.
func windowsAuthParams(a Auth, q url.Values) *url.Userinfo {
	if a.Protocol == "ntlm" {
		q.Set("authenticator", "ntlm")
		return url.UserPassword(a.Domain+`\`+a.User, a.Password)
	}
	q.Set("authenticator", "krb5")
	for param, v := range map[string]string{
		"krb5-configfile": a.Krb5Conf, "krb5-realm": a.Realm, "krb5-keytabfile": a.Keytab,
		"krb5-credcachefile": a.CredentialCache, "serverspn": a.SPN,
	} {
		if v != "" {
			q.Set(param, v)
		}
	}
	switch {
	case a.User == "":
		return nil // the ticket cache says who
	case a.Password == "":
		return url.User(a.User)
	}
	return url.UserPassword(a.User, a.Password)
}

// windowsAuthProblem explains a failed Windows login in one sentence with
// what to do, or "" when the failure is not Windows authentication's.
func windowsAuthProblem(s *Server, err error) string {
	a := s.Auth
	msg := err.Error()
	what := "Kerberos login to " + target(s)
	if a.Protocol == "ntlm" {
		what = "NTLM login to " + target(s)
	}
	switch {
	case errors.Is(err, krb5.ErrCredCacheFileDoesNotExist),
		a.User == "" && strings.Contains(msg, "no such file") && strings.Contains(msg, "cache"):
		return fmt.Sprintf("%s: no Kerberos ticket (credential cache %s not found): run kinit, or give a keytab and user", what, orDefault(a.CredentialCache, "$KRB5CCNAME"))
	case errors.Is(err, krb5.ErrRequiredParametersMissing):
		return fmt.Sprintf("%s: no Kerberos credentials: run kinit (a ticket cache), or give user with a keytab or a password", what)
	case errors.Is(err, krb5.ErrKrb5ConfigFileDoesNotExist):
		return fmt.Sprintf("%s: the Kerberos configuration %s does not exist (krb5_conf)", what, orDefault(a.Krb5Conf, "/etc/krb5.conf"))
	case errors.Is(err, krb5.ErrKeytabFileDoesNotExist):
		return fmt.Sprintf("%s: the keytab %s does not exist", what, a.Keytab)
	case strings.Contains(msg, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		spn := a.SPN
		if spn == "" {
			spn = "MSSQLSvc/" + hostPort(s)
		}
		return fmt.Sprintf("%s: the KDC does not know the service principal %s: register the SPN for SQL Server's service account (setspn -S), or give spn", what, spn)
	case strings.Contains(msg, "KRB_AP_ERR_SKEW") || strings.Contains(msg, "(37)"):
		return fmt.Sprintf("%s: this machine's clock differs from the KDC's by more than Kerberos allows (5 minutes): synchronise the clocks (NTP)", what)
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		return fmt.Sprintf("%s: the KDC does not know the user %s", what, orDefault(a.User, "of the ticket cache"))
	case strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"):
		return fmt.Sprintf("%s: the KDC refused the password or keytab of %s", what, a.User)
	case strings.Contains(msg, "expired") || strings.Contains(msg, "KRB_AP_ERR_TKT_EXPIRED") || strings.Contains(msg, "KDC_ERR_TKT_EXPIRED"):
		return fmt.Sprintf("%s: the Kerberos ticket has expired: run kinit again", what)
	case strings.Contains(msg, "KDC_Error") || strings.Contains(msg, "KRB Error") || strings.Contains(msg, "krb5"):
		return fmt.Sprintf("%s: %v", what, err)
	}
	return ""
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// authDescription says how milink logged in, for the plan.
func authDescription(a Auth) string {
	switch a.Method {
	case "windows":
		if a.Protocol == "ntlm" {
			return "Windows authentication, NTLM"
		}
		return "Windows authentication, Kerberos"
	case "entra":
		return "Microsoft Entra"
	}
	return "SQL authentication"
}

// windowsLoginHint says what to do about SQL Server's refusal of a
// Windows login (its error log holds the cause; the client gets only the
// number).
func windowsLoginHint(s *Server, number int32) string {
	if s.Auth.Method != "windows" {
		return ""
	}
	switch number {
	case 18452:
		if s.Auth.Protocol == "ntlm" {
			return "SQL Server could not validate the NTLM credentials (its error log says why): check the domain, user and password, and that the server accepts NTLM."
		}
		return "SQL Server could not validate the Kerberos ticket (its error log says why): check that the SPN is registered for SQL Server's service account and that its keytab or password is current."
	case 18456:
		return "The account was authenticated but has no login on this server: CREATE LOGIN [DOMAIN\\user] FROM WINDOWS, in the sysadmin role."
	}
	return ""
}
