package lab_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// runTSQLWith runs input through FreeTDS tsql at a TDS version with extra
// [global] lines in its freetds.conf, and returns stdout and stderr.
func runTSQLWith(t *testing.T, info lab.ServerInfo, version, global, input string) (string, string) {
	t.Helper()
	tsql := tsqlPath(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(conf, []byte("[global]\n\tclient charset = UTF-8\n"+global), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsql, "-H", info.Address, "-p", strconv.Itoa(info.Port), "-U", info.User, "-P", info.Password)
	cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "TDSVER="+version, "HOME="+dir)
	cmd.Stdin = strings.NewReader(input)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	_ = cmd.Run() // tsql's exit status says little; its output does
	if ctx.Err() != nil {
		t.Fatalf("tsql hung:\n%s\n%s", out.String(), stderr.String())
	}
	return out.String(), stderr.String()
}

// TestFreeTDSEncryptedLab: FreeTDS, requiring encryption and verifying the
// certificate lab.json names, logs in to a lab server that forces
// encryption at TDS 7.1 and 7.4, runs the procedure's version check and
// gets SQL Server's error for a batch that holds GO (tsql, like sqlcmd,
// splits at a line starting with GO, so the GO here follows a comment).
func TestFreeTDSEncryptedLab(t *testing.T) {
	t.Parallel()
	tsqlPath(t)
	l := startLab(t, lab.Config{TLS: map[string]lab.TLS{"sql01": {Force: true}}})
	info, _ := l.File().Server("sql01")
	for _, version := range []string{"7.1", "7.4"} {
		t.Run(version, func(t *testing.T) {
			global := "\tencryption = require\n\tca file = " + info.Certificate + "\n"
			out, stderr := runTSQLWith(t, info, version, global,
				"SELECT SERVERPROPERTY('ProductVersion')\ngo\nPRINT 'before'\n/* tsql sends this line */ GO\nPRINT 'after'\ngo\nexit\n")
			all := out + stderr
			if !strings.Contains(all, "15.0.4322.2") {
				t.Errorf("no version row:\n%s", all)
			}
			if !strings.Contains(all, "Msg 102") || !strings.Contains(all, "Incorrect syntax near 'GO'.") {
				t.Errorf("no error 102 for GO:\n%s", all)
			}
			if strings.Contains(all, "before") || strings.Contains(all, "after") {
				t.Errorf("part of a batch that does not parse ran:\n%s", all)
			}
		})
	}
	// Without encryption, FreeTDS is refused by a server forcing it.
	out, stderr := runTSQLWith(t, info, "7.4", "\tencryption = off\n", "SELECT 1\ngo\nexit\n")
	if !strings.Contains(out+stderr, "There was a problem connecting to the server") {
		t.Errorf("FreeTDS without encryption got in:\n%s\n%s", out, stderr)
	}
}
