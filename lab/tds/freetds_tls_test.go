package tds

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lookTSQL finds FreeTDS's tsql or skips (fails when MILINK_REQUIRE_TSQL
// says CI installed it).
func lookTSQL(t *testing.T) string {
	t.Helper()
	tsql, err := exec.LookPath("tsql")
	if err != nil {
		if os.Getenv("MILINK_REQUIRE_TSQL") != "" {
			t.Fatal("tsql (FreeTDS) not on PATH, and MILINK_REQUIRE_TSQL is set")
		}
		t.Skip("tsql (FreeTDS) not on PATH")
	}
	return tsql
}

// runTSQL runs tsql against addr with a freetds.conf holding global (extra
// [global] lines) and TDSVER=version, feeding it input.
func runTSQL(t *testing.T, tsql, addr, version, global, input string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "freetds.conf")
	text := "[global]\n\tclient charset = UTF-8\n" + global
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsql, "-H", "127.0.0.1", "-p", port, "-U", "sa", "-P", "pw")
	cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "TDSVER="+version, "HOME="+dir)
	cmd.Stdin = strings.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // tsql's exit status is not meaningful; the output is
	if ctx.Err() != nil {
		t.Fatalf("tsql hung:\n%s", out.String())
	}
	return out.String()
}

// TestFreeTDSVersionsAndTLS logs in with FreeTDS at every TDS version it
// speaks, in clear text, with login-only encryption and with encryption
// required, and checks the version and encryption the server negotiated and
// that every type arrives in the encoding of that version: (max) types as
// text/ntext/image before 7.2, datetime2 as a string before 7.3.
func TestFreeTDSVersionsAndTLS(t *testing.T) {
	tsql := lookTSQL(t)
	cert, pemPath := labCert(t)
	for _, version := range []string{"7.1", "7.2", "7.3", "7.4"} {
		for _, tc := range []struct {
			name, global string
			opts         Options
			want         Encryption
		}{
			{"plain", "\tencryption = off\n", Options{}, EncryptionNone},
			{"login-only", "\tencryption = request\n", Options{Certificate: cert}, EncryptionLogin},
			{"required", "\tencryption = require\n\tca file = " + pemPath + "\n", Options{Certificate: cert}, EncryptionOn},
		} {
			t.Run(version+"/"+tc.name, func(t *testing.T) {
				srv, addr := startServer(t, newTestHandler(), tc.opts)
				type seen struct {
					enc     Encryption
					version uint32
				}
				got := make(chan seen, 4)
				srv.onLogin = func(c *conn) { got <- seen{c.enc, c.version} }
				out := runTSQL(t, tsql, addr, version, tc.global, "alltypes\ngo\nfail\ngo\nexit\n")
				want := []string{
					"héllo wörld ☃", "café", "98000000012345600001",
					strings.Repeat("ab", 100), // the nvarchar(max) value, whatever its encoding
					"Msg 50001 (severity 16, state 3) from LABSQL", "custom failure",
					"(6 rows affected)",
				}
				if version < "7.3" {
					want = append(want, "2024-03-05 13:14:15.1234567")
				}
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q", w)
					}
				}
				select {
				case s := <-got:
					if s.enc != tc.want {
						t.Errorf("negotiated %s, want %s", s.enc, tc.want)
					}
					if versionName(s.version) != version {
						t.Errorf("TDS version %s, want %s", versionName(s.version), version)
					}
				default:
					t.Error("no login reached the server")
				}
				if t.Failed() {
					t.Logf("tsql output:\n%s", out)
				}
			})
		}
	}
}

// TestFreeTDSRequireWithoutCertificate: FreeTDS that requires encryption
// gives up against a server that cannot encrypt, and never logs in.
func TestFreeTDSRequireWithoutCertificate(t *testing.T) {
	tsql := lookTSQL(t)
	srv, addr := startServer(t, newTestHandler(), Options{})
	logins := 0
	srv.onLogin = func(*conn) { logins++ }
	out := runTSQL(t, tsql, addr, "7.4", "\tencryption = require\n", "select 1\ngo\nexit\n")
	if logins != 0 {
		t.Errorf("%d logins reached the server:\n%s", logins, out)
	}
	if !strings.Contains(out, "There was a problem connecting to the server") {
		t.Errorf("tsql did not report a failed connection:\n%s", out)
	}
}
