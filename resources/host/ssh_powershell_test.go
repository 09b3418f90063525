package host

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	goldenfile "github.com/milink/milink/internal/golden"
)

// No Windows host exists here: what an SSH transport sends to one (the
// command lines and the scripts they carry) is kept as golden files under
// testdata/ssh, and the parsing of outputs is tested on fixtures written
// from the scripts' own format (not recorded on Windows).

func sshGolden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "ssh", name), []byte(got))
}

// psDecode is the inverse of psEncode.
func psDecode(t *testing.T, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b)%2 != 0 {
		t.Fatalf("not base64 of UTF-16LE: %v", err)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

func TestSSHWindowsCommandLines(t *testing.T) {
	s := &SSH{cfg: SSHConfig{OS: "windows"}}
	w := &Windows{Instance: "SQL2019"}
	long := "# " + strings.Repeat("x", 4000) + "\nWrite-Output 'long'\n"
	cases := []struct {
		name  string
		argv  []string
		stdin []byte
	}{
		{"hadr (named instance)", PowerShellArgv(w.HadrScript(true)), nil},
		{"trace flags", PowerShellArgv(w.TraceFlagsScript([]int{1800, 9567}, []int{3226})), nil},
		{"restart", PowerShellArgv(w.RestartScript()), nil},
		{"a restart command, not PowerShell", []string{"cluster.exe", "resource", "SQL Server (MSSQLSERVER)", "/restart", "it's", "$env:x", "‘typographic’"}, nil},
		{"a program given stdin", []string{"findstr", "x"}, []byte("x\r\n")},
		{"too long for the command line: the script on stdin", PowerShellArgv(long), nil},
	}
	var b strings.Builder
	for _, c := range cases {
		line, stdin, err := s.command(c.argv, c.stdin)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !strings.HasPrefix(line, psEncodedPrefix) || len(line) > psMaxCommandLine {
			t.Fatalf("%s: command line %q", c.name, line)
		}
		// Nothing in the line means anything to cmd.exe or PowerShell.
		if strings.ContainsAny(line, "\"'&|<>^%$`;()\n") {
			t.Errorf("%s: command line has a special character: %s", c.name, line)
		}
		script := psDecode(t, strings.TrimPrefix(line, psEncodedPrefix))
		argv := CommandText(c.argv)
		if c.argv[0] == "powershell.exe" {
			argv = CommandText(c.argv[:len(c.argv)-1]) + " <the script>"
		}
		fmt.Fprintf(&b, "=== %s\nargv: %s\ncommand line: %s\nscript:\n%s\n", c.name, argv, line, script)
		switch {
		case len(stdin) > 100:
			fmt.Fprintf(&b, "stdin: %d bytes of base64\n", len(stdin))
		case stdin != nil:
			fmt.Fprintf(&b, "stdin: %q\n", stdin)
		}
		if c.name == "too long for the command line: the script on stdin" {
			got, err := base64.StdEncoding.DecodeString(string(stdin))
			if err != nil || string(got) != long {
				t.Errorf("the script on stdin is not the script: %v", err)
			}
			if _, _, err := s.command(c.argv, []byte("input")); err == nil {
				t.Error("a long script with stdin of its own was accepted")
			}
		} else if c.argv[0] == "powershell.exe" && script != c.argv[len(c.argv)-1] {
			t.Errorf("%s: the encoded script is not the script", c.name)
		}
	}
	sshGolden(t, "windows-commands.txt", b.String())

	if _, _, err := s.command([]string{"cmd", "a\x00b"}, nil); err == nil {
		t.Error("NUL accepted")
	}
}

func TestSSHWindowsFileScripts(t *testing.T) {
	p := `C:\Program Files\Microsoft SQL Server\it's ‘here’.conf`
	sshGolden(t, "windows-read.ps1", psReadScript(p))
	sshGolden(t, "windows-stat.ps1", psStatScript(p))
	sshGolden(t, "windows-write.ps1", psWriteScript(p))
	for name, script := range map[string]string{"read": psReadScript(p), "stat": psStatScript(p), "write": psWriteScript(p)} {
		if n := len(psEncodedPrefix + psEncode(script)); n > psMaxCommandLine {
			t.Errorf("the %s script makes a command line of %d characters", name, n)
		}
	}

	// Outputs, in the scripts' own format (Write to the console, CRLF).
	got, err := decodePSRead(p, "ssh u@win01:22", []byte(sshReadMarker+base64.StdEncoding.EncodeToString([]byte("a\x00b\r\n"))+"\r\n"))
	if err != nil || string(got) != "a\x00b\r\n" {
		t.Errorf("decodePSRead = %q, %v", got, err)
	}
	if _, err := decodePSRead(p, "ssh u@win01:22", []byte("Windows PowerShell\r\n")); err == nil {
		t.Error("output without the marker was taken")
	}
	fi, err := parsePSStat(`C:\mssql\mssql-conf.exe`, []byte("milink-stat: 0 0 1234 1700000000\r\n"))
	if err != nil || fi.Name() != "mssql-conf.exe" || fi.Size() != 1234 || fi.Mode() != 0o755 || fi.IsDir() {
		t.Errorf("parsePSStat = %v, %v", fi, err)
	}
	if fi, err := parsePSStat(`C:\data`, []byte("milink-stat: 1 0 0 1700000000")); err != nil || !fi.IsDir() {
		t.Errorf("directory: %v, %v", fi, err)
	}
	if fi, err := parsePSStat(`C:\ro.txt`, []byte("milink-stat: 0 1 5 1700000000")); err != nil || fi.Mode() != 0o555 {
		t.Errorf("read-only: %v, %v", fi, err)
	}
	err = (&SSH{cfg: SSHConfig{OS: "windows"}, label: "ssh u@win01:22"}).fileError("open", "reading "+p, p,
		Output{ExitCode: 1, Stderr: []byte("milink-error: notexist: Could not find file '" + p + "'.\r\n")}, errors.New("exit status 1"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("not found: %v", err)
	}
}
