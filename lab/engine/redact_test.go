package engine

import (
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'S3cret''s-pw'", "CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'******'"},
		{"open master key decryption by password='abc'; SELECT 'keep me'", "open master key decryption by password=N'******'; SELECT 'keep me'"},
		{"BACKUP CERTIFICATE c TO FILE = N'/x.cer' WITH PRIVATE KEY (FILE = N'/x.pvk', ENCRYPTION BY PASSWORD = N'pvk-pw')",
			"BACKUP CERTIFICATE c TO FILE = N'/x.cer' WITH PRIVATE KEY (FILE = N'/x.pvk', ENCRYPTION BY PASSWORD = N'******')"},
		{"SELECT CERTPRIVATEKEY(256, N'enc-pw', N'dec-pw'), N'visible'", "SELECT CERTPRIVATEKEY(256, N'******', N'******'), N'visible'"},
		{"ALTER DATABASE [sales] SET RECOVERY FULL", "ALTER DATABASE [sales] SET RECOVERY FULL"},
	} {
		if got := redactSecrets(tc.in); got != tc.want {
			t.Errorf("redactSecrets(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// The statement log never holds a password, as SQL Server's traces do not.
func TestStatementLogHidesPasswords(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	mustRun(t, l.session(t), "USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Log-Secret-Pw-123';")
	inst := l.inst
	for _, e := range inst.StatementLog() {
		if strings.Contains(e.Text, "Log-Secret-Pw-123") {
			t.Fatalf("statement log holds the password: %q", e.Text)
		}
	}
	if n := len(inst.StatementLog()); n == 0 {
		t.Fatal("nothing logged")
	}
}
