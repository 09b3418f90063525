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

// TestFreeTDS checks the encoding against an independent client: FreeTDS
// tsql logs in, prints typed results (sql_variant included) and an error.
func TestFreeTDS(t *testing.T) {
	tsql, err := exec.LookPath("tsql")
	if err != nil {
		// CI installs freetds-bin and sets MILINK_REQUIRE_TSQL, so the
		// cross-check cannot silently vanish there.
		if os.Getenv("MILINK_REQUIRE_TSQL") != "" {
			t.Fatal("tsql (FreeTDS) not on PATH, and MILINK_REQUIRE_TSQL is set")
		}
		t.Skip("tsql (FreeTDS) not on PATH")
	}
	_, addr := startServer(t, newTestHandler(), Options{ServerName: "LABFREETDS"})
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(conf, []byte("[global]\n\ttds version = 7.4\n\tclient charset = UTF-8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password, input string
		want, notWant         []string
	}{
		{
			name: "types", password: "pw",
			input: "alltypes\ngo\nfail\ngo\nexit\n",
			want: []string{
				"-7", "1099511627776", "-300", "200", "2.5", "98000000012345600001",
				"héllo wörld ☃", "café", "010203", "Mar  5 2024 01:14PM",
				"12345678-1234-5678-0102-030405060708", "variant text",
				"int\t42", "bigint\t1099511627776", "bit\t1", "datetime\tMar  5 2024 01:14PM",
				"null\tNULL", "nvarchar\tEnterprise Edition",
				"Msg 50001 (severity 16, state 3) from LABFREETDS", "custom failure",
				"(6 rows affected)", "\nempty\n",
			},
		},
		{
			name: "wrong password", password: "bad", input: "select 1\ngo\nexit\n",
			want: []string{"Login failed for user 'sa'"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tsql, "-H", "127.0.0.1", "-p", port, "-U", "sa", "-P", tc.password)
			cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "TDSVER=7.4", "HOME="+dir)
			cmd.Stdin = strings.NewReader(tc.input)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			_ = cmd.Run() // tsql's exit status is not meaningful; the output is
			if ctx.Err() != nil {
				t.Fatalf("tsql hung:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("tsql output:\n%s", out.String())
			}
		})
	}
}
