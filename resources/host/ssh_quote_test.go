//go:build unix

package host

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// FuzzShellQuote: any two arguments reach the program exactly as given,
// through the whole command line SSH sends (pid line, exec, quoting), in
// every POSIX shell installed here; an argument with a NUL byte is refused
// before anything runs.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "it's", "'", "''", `'\''`, `"`, "$HOME", "${x:-y}", "`id`", "$(id)", `\`, "\\\n", "\n", "*", "?", "[a]",
		"~", "~root", "=x", "a=b", "%1", "!", "!!", "-n", "--", "{a,b}", "#", ";", "&", "|", "<", ">", "(", ")", "\xff\xfe", "ünïcødé", "\t \r", "\x00", "a\x00b"} {
		f.Add(s, "x")
		f.Add("-e", s)
	}
	var shells []string
	for _, sh := range []string{"sh", "dash", "bash", "zsh", "ksh", "mksh"} {
		if p, err := exec.LookPath(sh); err == nil {
			shells = append(shells, p)
		}
	}
	if len(shells) == 0 {
		f.Skip("no shell")
	}
	s := &SSH{cfg: SSHConfig{OS: "linux"}}
	f.Fuzz(func(t *testing.T, a, b string) {
		line, _, err := s.command([]string{"printf", `%s\0`, a, b}, nil)
		if strings.IndexByte(a+b, 0) >= 0 {
			if err == nil {
				t.Fatalf("an argument with a NUL byte was accepted: %q", line)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range shells {
			var stdout bytes.Buffer
			stderr := &sshStderr{}
			cmd := exec.Command(sh, "-c", line)
			cmd.Stdout, cmd.Stderr = &stdout, stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s -c %q: %v: %s", sh, line, err, stderr.Bytes())
			}
			if want := a + "\x00" + b + "\x00"; stdout.String() != want {
				t.Fatalf("%s -c %q printed %q, want %q", sh, line, stdout.String(), want)
			}
			if stderr.PID() <= 0 || len(stderr.Bytes()) != 0 {
				t.Fatalf("%s: pid %d, stderr %q", sh, stderr.PID(), stderr.Bytes())
			}
		}
	})
}

// A word posixQuote leaves bare has nothing any shell would expand.
func TestPosixQuoteBare(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "''",
		"/opt/mssql/bin/mssql-conf": "/opt/mssql/bin/mssql-conf",
		"hadr.hadrenabled":          "hadr.hadrenabled",
		"a=b":                       "'a=b'",
		"=x":                        "'=x'",
		"~":                         "'~'",
		"%1":                        "'%1'",
		"it's":                      `'it'\''s'`,
		"user@host:1,2+3-4_5":       "user@host:1,2+3-4_5",
	} {
		if got := posixQuote(in); got != want {
			t.Errorf("posixQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
