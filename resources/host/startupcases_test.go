package host

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// startupCases are the readings milink and the lab must agree on
// (testdata/startup-cases.json, read by lab/conf_test.go and
// lab/registry_test.go too).
type startupCases struct {
	Conf []struct {
		Name  string `json:"name"`
		Conf  string `json:"conf"`
		Hadr  bool   `json:"hadr"`
		Flags []int  `json:"flags"`
		Error string `json:"error"`
	} `json:"mssql.conf"`
	SQLArg []struct {
		Name  string   `json:"name"`
		Args  []string `json:"args"`
		Flags []int    `json:"flags"`
		Error string   `json:"error"`
	} `json:"SQLArg"`
}

func loadStartupCases(t *testing.T) startupCases {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "startup-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c startupCases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Conf) == 0 || len(c.SQLArg) == 0 {
		t.Fatal("no cases")
	}
	return c
}

func TestParseStartupSharedCases(t *testing.T) {
	for _, tc := range loadStartupCases(t).Conf {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := ParseStartup([]byte(tc.Conf))
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (Startup{Hadr: tc.Hadr, TraceFlags: SortedFlags(tc.Flags)}); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// managedLines says which lines of mssql.conf is one of the options
// milink edits ([hadr] hadrenabled, [traceflag] traceflag/traceflagN).
func managedLines(conf []byte) map[int]bool {
	m := map[int]bool{}
	for i, l := range parseConf(conf) {
		if l.is("hadr", "hadrenabled") || l.isTraceFlag() {
			m[i] = true
		}
	}
	return m
}

// otherLines are the lines milink must keep as written, in order.
func otherLines(conf []byte) []string {
	var out []string
	managed := managedLines(conf)
	for i, l := range parseConf(conf) {
		if !managed[i] && strings.TrimSpace(l.raw) != "" {
			out = append(out, l.raw)
		}
	}
	return out
}

// Every readable file of the shared cases, whatever its form, is edited in
// place: the result reads back as asked, holds each option once, keeps
// every other line as written and in order, and a second edit changes
// nothing.
func TestEditSharedCases(t *testing.T) {
	for _, tc := range loadStartupCases(t).Conf {
		if tc.Error != "" {
			continue
		}
		in := []byte(tc.Conf)
		union := SortedFlags(append([]int{1800, 9567}, tc.Flags...))
		edits := []struct {
			name string
			edit func([]byte) []byte
			want Startup
		}{
			{"hadr flipped", func(b []byte) []byte { return EditHadr(b, !tc.Hadr) }, Startup{Hadr: !tc.Hadr, TraceFlags: SortedFlags(tc.Flags)}},
			{"hadr unchanged", func(b []byte) []byte { return EditHadr(b, tc.Hadr) }, Startup{Hadr: tc.Hadr, TraceFlags: SortedFlags(tc.Flags)}},
			{"flags added", func(b []byte) []byte { return EditTraceFlags(b, union) }, Startup{Hadr: tc.Hadr, TraceFlags: union}},
			{"flags kept", func(b []byte) []byte { return EditTraceFlags(b, tc.Flags) }, Startup{Hadr: tc.Hadr, TraceFlags: SortedFlags(tc.Flags)}},
			{"flags removed", func(b []byte) []byte { return EditTraceFlags(b, nil) }, Startup{Hadr: tc.Hadr}},
			{"one flag swapped", func(b []byte) []byte {
				return EditTraceFlags(b, append(SortedFlags(tc.Flags)[min(1, len(tc.Flags)):], 9567))
			},
				Startup{Hadr: tc.Hadr, TraceFlags: SortedFlags(append(SortedFlags(tc.Flags)[min(1, len(tc.Flags)):], 9567))}},
		}
		for _, e := range edits {
			t.Run(tc.Name+"/"+e.name, func(t *testing.T) {
				got := e.edit(in)
				st, err := ParseStartup(got)
				if err != nil {
					t.Fatalf("result does not read back: %v\n%s", err, got)
				}
				if !reflect.DeepEqual(st, e.want) {
					t.Fatalf("reads back as %+v, want %+v:\n%s", st, e.want, got)
				}
				if again := e.edit(got); string(again) != string(got) {
					t.Errorf("second edit changed the file:\n%s\nthen:\n%s", got, again)
				}
				before, after := otherLines(in), otherLines(got)
				if len(after) < len(before) || !slices.Equal(after[:len(before)], before) {
					t.Errorf("other lines changed:\n%q\nnow:\n%q", before, after)
				}
				// An edit that asks for what the file already says writes
				// it back byte for byte (only a flag listed twice is tidied).
				same := len(in) == 0 || strings.HasSuffix(tc.Conf, "\n")
				switch e.name {
				case "hadr unchanged":
					same = same && hasHadrLine(in)
				case "flags kept":
					same = same && !hasDuplicateFlag(in)
				default:
					same = false
				}
				if same && string(got) != tc.Conf {
					t.Errorf("an edit that changes nothing changed the file:\n%q\nto:\n%q", tc.Conf, got)
				}
			})
		}
	}
}

func hasHadrLine(conf []byte) bool {
	for _, l := range parseConf(conf) {
		if l.is("hadr", "hadrenabled") {
			return true
		}
	}
	return false
}

func hasDuplicateFlag(conf []byte) bool {
	seen := map[string]bool{}
	for _, l := range parseConf(conf) {
		if l.isTraceFlag() {
			if seen[l.value] {
				return true
			}
			seen[l.value] = true
		}
	}
	return false
}

// An option changes in place whatever its form: key spelling, delimiter
// and spacing stay; a new flag never takes a name in use.
func TestEditInPlace(t *testing.T) {
	tests := []struct {
		name string
		in   string
		edit func([]byte) []byte
		want string
	}{
		{"key: value", "[hadr]\nHadrEnabled: 0\n", func(b []byte) []byte { return EditHadr(b, true) }, "[hadr]\nHadrEnabled: 1\n"},
		{"odd spacing, CRLF", "[hadr]\r\n  hadrenabled   =0  \r\n", func(b []byte) []byte { return EditHadr(b, true) }, "[hadr]\r\n  hadrenabled   =1  \r\n"},
		{"second copy removed", "[hadr]\nhadrenabled = 0\n[network]\ntcpport = 1433\n[hadr]\n# set by hand\nhadrenabled = 0\n",
			func(b []byte) []byte { return EditHadr(b, true) }, "[hadr]\nhadrenabled = 1\n[network]\ntcpport = 1433\n[hadr]\n# set by hand\n"},
		{"traceflag = N kept, new flag after it", "[traceflag]\ntraceflag: 1800\n\n[memory]\nmemorylimitmb = 4096\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{1800, 9567}) }, "[traceflag]\ntraceflag: 1800\ntraceflag0 = 9567\n\n[memory]\nmemorylimitmb = 4096\n"},
		{"numbers above those in use", "[traceflag]\ntraceflag0 = 3226\n# keep me\ntraceflag3 = 1800\n\n[memory]\nmemorylimitmb = 4096\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{1800, 3226, 9567}) },
			"[traceflag]\ntraceflag0 = 3226\n# keep me\ntraceflag3 = 1800\ntraceflag4 = 9567\n\n[memory]\nmemorylimitmb = 4096\n"},
		{"removed where it was", "[traceflag]\nTraceFlag0 = 3226\ntraceflag1: 1800\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{1800}) }, "[traceflag]\ntraceflag1: 1800\n"},
		{"all removed, one added where they were", "[traceflag]\n# mine\ntraceflag0 = 3226\ntraceflag1 = 1800\n# end\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{9567}) }, "[traceflag]\n# mine\ntraceflag0 = 9567\n# end\n"},
		{"a flag listed twice is listed once", "[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 1800\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{1800}) }, "[traceflag]\ntraceflag0 = 1800\n"},
		{"empty [traceflag] section filled", "[traceflag]\n# none yet\n\n[hadr]\nhadrenabled = 1\n",
			func(b []byte) []byte { return EditTraceFlags(b, []int{1800}) }, "[traceflag]\n# none yet\ntraceflag0 = 1800\n\n[hadr]\nhadrenabled = 1\n"},
		{"no trailing newline", "[hadr]\nhadrenabled = 0", func(b []byte) []byte { return EditHadr(b, true) }, "[hadr]\nhadrenabled = 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.edit([]byte(tt.in))); got != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestStartupFromRegistrySharedCases(t *testing.T) {
	key := `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	for _, tc := range loadStartupCases(t).SQLArg {
		t.Run(tc.Name, func(t *testing.T) {
			var rows []RegistryValue
			for i, a := range tc.Args {
				rows = append(rows, RegistryValue{key, fmt.Sprintf("SQLArg%d", i), a})
			}
			got, err := StartupFromRegistry(rows)
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (Startup{TraceFlags: SortedFlags(tc.Flags)}); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// The PowerShell that edits SQLArgN recognises a trace flag exactly when
// StartupFromRegistry does, so it never adds a second copy of a flag that
// is there as -T 1800 or /T1800, and removes it in any of those forms.
func TestTraceFlagsScriptRecognisesTheSameForms(t *testing.T) {
	script := (&Windows{}).TraceFlagsScript([]int{1800}, []int{3226})
	m := regexp.MustCompile(`\$value -cmatch '([^']+)'`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no Get-TraceFlag pattern in:\n%s", script)
	}
	ps := regexp.MustCompile(m[1]) // .NET and Go agree on this pattern's syntax
	for _, want := range []string{
		`if ((Get-TraceFlag $existing[$n]) -eq $flag) { Remove-ItemProperty`,
		`if ($null -eq (Get-TraceFlag $existing[$n])) { throw "refusing to renumber`,
		`if (@($existing.Values | ForEach-Object { Get-TraceFlag $_ }) -notcontains $flag) {`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	var args []string
	for _, tc := range loadStartupCases(t).SQLArg {
		args = append(args, tc.Args...)
	}
	for _, a := range append(args, "-T01800", "-T 1800 ", "/T\t1800", "-T1800x", "T1800", "--T1800") {
		f, isFlag, err := traceFlagArg(a)
		sub := ps.FindStringSubmatch(a)
		switch {
		case isFlag && err == nil:
			if n, _ := strconv.Atoi(sub[1]); sub == nil || n != f {
				t.Errorf("%q: Go reads flag %d, PowerShell %q", a, f, sub)
			}
		case sub != nil:
			if n, _ := strconv.Atoi(sub[1]); n >= 1 && n <= 32767 {
				t.Errorf("%q: PowerShell reads a flag, Go does not (%v)", a, err)
			}
		}
	}
}
