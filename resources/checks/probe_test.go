package checks

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/resources/host"
)

// fakeHost answers Exec with a canned output; it records the argv.
type fakeHost struct {
	host.Transport
	os   string
	out  host.Output
	err  error
	argv []string
}

func (f *fakeHost) OS() string { return f.os }
func (f *fakeHost) Exec(_ context.Context, c host.Command) (host.Output, error) {
	f.argv = c.Argv
	return f.out, f.err
}

func TestProbeOutcomes(t *testing.T) {
	exit := errors.New("exit status")
	tests := []struct {
		name      string
		host      *fakeHost
		connected bool
		notRun    bool
		why       string
	}{
		{"linux connected", &fakeHost{os: "linux"}, true, false, ""},
		{"linux refused", &fakeHost{os: "linux", err: exit, out: host.Output{ExitCode: 1,
			Stderr: []byte("milink-probe: connect: Connection refused\nmilink-probe: line 1: /dev/tcp/h/5022: Connection refused\n")}},
			false, false, "Connection refused"},
		{"linux unknown name", &fakeHost{os: "linux", err: exit, out: host.Output{ExitCode: 1,
			Stderr: []byte("milink-probe: line 1: mi.example: Name or service not known\nmilink-probe: line 1: /dev/tcp/mi.example/5022: Invalid argument\n")}},
			false, false, "Name or service not known"},
		{"linux timeout", &fakeHost{os: "linux", err: exit, out: host.Output{ExitCode: 124}}, false, false, "no answer within 5s"},
		{"linux without bash", &fakeHost{os: "linux", err: exit, out: host.Output{ExitCode: 127, Stderr: []byte("timeout: failed to run command 'bash': No such file or directory")}},
			false, true, "timeout and bash are needed"},
		{"linux cannot start", &fakeHost{os: "linux", err: errors.New(`exec: "timeout": executable file not found in $PATH`), out: host.Output{ExitCode: -1}},
			false, true, "executable file not found"},
		{"windows True", &fakeHost{os: "windows", out: host.Output{Stdout: []byte("True\r\n")}}, true, false, ""},
		{"windows False", &fakeHost{os: "windows", out: host.Output{Stdout: []byte("False\r\n")}}, false, false, "Test-NetConnection returned False"},
		{"windows error", &fakeHost{os: "windows", err: exit, out: host.Output{ExitCode: 1, Stderr: []byte("Test-NetConnection : The term is not recognized")}},
			false, true, "not recognized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probe(t.Context(), tt.host, "mi.example", 5022, ProbeTimeout)
			if o.connected != tt.connected || o.notRun != tt.notRun || !strings.Contains(o.why, tt.why) {
				t.Errorf("got %+v, want connected=%v notRun=%v why~%q", o, tt.connected, tt.notRun, tt.why)
			}
			if tt.host.os == "windows" && !reflect.DeepEqual(tt.host.argv, host.PowerShellArgv(ProbeScriptWindows("mi.example", 5022))) {
				t.Errorf("argv %q", tt.host.argv)
			}
		})
	}
}

func TestProbeArgvSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {500 * time.Millisecond, "1"}, {5 * time.Second, "5"}, {5001 * time.Millisecond, "6"}} {
		if got := ProbeArgv("h", 1, tt.d)[1]; got != tt.want {
			t.Errorf("%s: timeout %s, want %s", tt.d, got, tt.want)
		}
	}
}

// The address is an argument of the script, never its text: an address
// that a shell would run does not run, with the real bash.
func TestProbeAddressIsNeverRun(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("timeout (coreutils) is not installed")
	}
	marker := filepath.Join(t.TempDir(), "ran")
	for _, addr := range []string{"$(touch " + marker + ")", "`touch " + marker + "`", "127.0.0.1/1; touch " + marker, "x'; touch " + marker + "; '"} {
		o := probe(t.Context(), host.Local{}, addr, 1, time.Second)
		if o.connected {
			t.Errorf("%q: connected", addr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%q: the address ran as a command", addr)
		}
	}
}

func TestVerdict(t *testing.T) {
	for log, want := range map[string]string{
		"True\n": "True", "False": "False", "WARNING: Name resolution of x failed\nFalse\r\n": "False",
		"": "", "Executed as user: X. The step failed.": "", " true ": "True",
	} {
		if got := verdict(log); got != want {
			t.Errorf("verdict(%q) = %q, want %q", log, got, want)
		}
	}
}

func TestHints(t *testing.T) {
	c := &Check{Address: "sql01.contoso.com"}
	tests := []struct {
		name    string
		known   Knowledge
		dir     Direction
		want    []string // fragments, in order
		without []string
	}{
		{"nothing known, to the managed instance", Knowledge{}, ToManagedInstance,
			[]string{"firewall of SQL Server's host", "network firewall", "NSG rule on the managed instance's virtual network"}, []string{"Azure VM", "dialed"}},
		{"nothing known, to SQL Server", Knowledge{}, ToSQLServer,
			[]string{"firewall of SQL Server's host", "NSG rule on the managed instance's virtual network", "if SQL Server is on an Azure VM", "dialed sql01.contoso.com"}, []string{"network firewall"}},
		{"rules applied", Knowledge{HostFirewall: Present, NSG: Present, AzureVM: Absent}, ToSQLServer,
			[]string{"dialed sql01.contoso.com"}, []string{"firewall", "NSG"}},
		{"rules missing or pending", Knowledge{NotApplied: []string{"nsg_rule.mi_inbound"}, HostFirewall: Absent, NSG: Absent, AzureVM: Present}, ToSQLServer,
			[]string{"nsg_rule.mi_inbound is not applied yet", "no host firewall rule for 5022: SQL Server's host must allow inbound", "no nsg_rule allows TCP 5022", "NSG of SQL Server's virtual machine"}, nil},
		{"host rule missing, outbound", Knowledge{HostFirewall: Absent}, ToManagedInstance,
			[]string{"no host firewall rule for 5022: SQL Server's host must allow outbound"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Known = tt.known
			got := c.hints(tt.dir, 5022)
			all := strings.Join(got, "\n")
			at := 0
			for _, w := range tt.want {
				i := strings.Index(all[at:], w)
				if i < 0 {
					t.Fatalf("missing or out of order %q in:\n%s", w, all)
				}
				at += i
			}
			for _, w := range tt.without {
				if strings.Contains(all, w) {
					t.Errorf("%q should not be there:\n%s", w, all)
				}
			}
		})
	}
}

// psLiteral reads a PowerShell single-quoted literal at the start of s
// (quotes doubled), independently of PSQuote: the test's own reader.
func psLiteral(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, "'") {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", "", false
}

// FuzzTncCommand: whatever the address, the job step's command is tnc,
// one literal holding exactly the address, and the fixed rest; and the
// T-SQL around it quotes it whole.
func FuzzTncCommand(f *testing.F) {
	for _, s := range []string{"10.0.0.4", "sql01.contoso.com", "it's", "''", "a ]b", "$(x)", "‘curly’", "x\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if strings.ContainsAny(addr, "\u2018\u2019\u201a\u201b") {
			// PowerShell's typographic quotes: PSQuote doubles them too,
			// which this reader does not model.
			t.Skip()
		}
		cmd := TncCommand(addr, 5022)
		lit, rest, ok := psLiteral(strings.TrimPrefix(cmd, "tnc "))
		if !strings.HasPrefix(cmd, "tnc ") || !ok || lit != addr || rest != " -port 5022 -InformationLevel Quiet" {
			t.Fatalf("TncCommand(%q) = %q: literal %q ok=%v rest %q", addr, cmd, lit, ok, rest)
		}
		q := AddJobSQL("j", addr, 5022)
		want := "@command = N'" + strings.ReplaceAll(cmd, "'", "''") + "',"
		if !strings.Contains(q, want) {
			t.Fatalf("AddJobSQL does not carry %q:\n%s", want, q)
		}
	})
}
