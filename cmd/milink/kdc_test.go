package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/milink/milink/internal/kdctest"
	"github.com/milink/milink/lab"
)

// scriptTB adapts a script to what kdctest needs. Scripts skip with the
// [kdc] condition before, so a skip here is a failure.
type scriptTB struct{ ts *testscript.TestScript }

func (s scriptTB) Helper()                           {}
func (s scriptTB) Fatalf(format string, args ...any) { s.ts.Fatalf(format, args...) }
func (s scriptTB) Skipf(format string, args ...any)  { s.ts.Fatalf("skip: "+format, args...) }
func (s scriptTB) Cleanup(f func())                  { s.ts.Defer(f) }
func (s scriptTB) TempDir() string {
	d, err := os.MkdirTemp(s.ts.MkAbs("."), "kdc-")
	s.ts.Check(err)
	return d
}

// cmdKDC starts a throw-away Kerberos realm on the real MIT KDC for the
// script: `kdc REALM ADDRESS:PORT` registers the SQL Server's SPN
// MSSQLSvc/ADDRESS:PORT (its keytab in the lab's windows-auth file,
// $WORK/windows-auth.json, with the Windows login MILINK\dba), adds the
// user dba (password $DBA_PASSWORD, keytab $KDC_DIR/dba.keytab) and logs
// it in with the real kinit. It sets KRB5_CONFIG, KRB5_CCACHE (dba's
// ticket cache), KRB5_REALM, KRB5_SPN and KDC_DIR. Scripts guard it with
// [kdc].
func cmdKDC(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: kdc REALM ADDRESS:PORT")
	}
	realm, service := args[0], args[1]
	k := kdctest.Start(scriptTB{ts}, realm)
	const password = "Dba-Passw0rd!"
	k.AddUser("dba", password)
	spn := "MSSQLSvc/" + service
	keytab := k.AddService(spn)
	k.UserKeytab("dba")
	wa := lab.WindowsAuth{Domain: "MILINK", Realm: realm, Keytab: keytab,
		Logins: []string{`MILINK\dba`}, NTLMUsers: map[string]string{"dba": password}}
	data, err := json.MarshalIndent(wa, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("windows-auth.json"), data, 0o600))
	ts.Setenv("KRB5_CONFIG", k.Krb5Conf)
	ts.Setenv("KRB5_CCACHE", k.Kinit("dba", password))
	ts.Setenv("KRB5_REALM", realm)
	ts.Setenv("KRB5_SPN", spn)
	ts.Setenv("DBA_PASSWORD", password)
	ts.Setenv("KDC_DIR", filepath.Dir(k.Krb5Conf))
}
