package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	milinkhost "github.com/milink/milink/resources/host"
)

// startupCases are the readings the lab and milink must agree on, kept
// beside milink's reader (resources/host/testdata/startup-cases.json).
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
	b, err := os.ReadFile(filepath.Join("..", "resources", "host", "testdata", "startup-cases.json"))
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

func TestParseMSSQLConfSharedCases(t *testing.T) {
	for _, tc := range loadStartupCases(t).Conf {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := parseMSSQLConf([]byte(tc.Conf))
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := startupSettings{Hadr: tc.Hadr}
			if len(tc.Flags) > 0 {
				want.TraceFlags = milinkhost.SortedFlags(tc.Flags)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// What milink writes when it edits mssql.conf itself (no mssql-conf), the
// lab reads as milink does: each readable shared case, edited every way
// milink edits it.
func TestLabReadsWhatMilinkWrites(t *testing.T) {
	for _, tc := range loadStartupCases(t).Conf {
		if tc.Error != "" {
			continue
		}
		for name, edit := range map[string]func([]byte) []byte{
			"hadr on":     func(b []byte) []byte { return milinkhost.EditHadr(b, true) },
			"hadr off":    func(b []byte) []byte { return milinkhost.EditHadr(b, false) },
			"flags added": func(b []byte) []byte { return milinkhost.EditTraceFlags(b, append([]int{1800, 9567}, tc.Flags...)) },
			"flags gone":  func(b []byte) []byte { return milinkhost.EditTraceFlags(b, nil) },
			"one flag":    func(b []byte) []byte { return milinkhost.EditTraceFlags(milinkhost.EditHadr(b, true), []int{9567}) },
		} {
			t.Run(tc.Name+"/"+name, func(t *testing.T) {
				conf := edit([]byte(tc.Conf))
				want, err := milinkhost.ParseStartup(conf)
				if err != nil {
					t.Fatalf("milink does not read what it wrote: %v\n%s", err, conf)
				}
				got, err := parseMSSQLConf(conf)
				if err != nil {
					t.Fatalf("the lab does not read what milink wrote: %v\n%s", err, conf)
				}
				if got.Hadr != want.Hadr || !slices.Equal(got.TraceFlags, want.TraceFlags) {
					t.Fatalf("lab reads %+v, milink %+v:\n%s", got, want, conf)
				}
			})
		}
	}
}

func TestNewLabConfIsDefault(t *testing.T) {
	got, err := parseMSSQLConf([]byte(mssqlConfHeader))
	if err != nil || got.Hadr || got.TraceFlags != nil {
		t.Fatalf("got %+v, %v; want defaults", got, err)
	}
}

func TestReadMSSQLConfMissingFileIsDefault(t *testing.T) {
	got, err := readMSSQLConf(filepath.Join(t.TempDir(), "mssql.conf"))
	if err != nil || got.Hadr || got.TraceFlags != nil {
		t.Fatalf("got %+v, %v; want defaults", got, err)
	}
	p := filepath.Join(t.TempDir(), "mssql.conf")
	os.WriteFile(p, []byte("[hadr]\nhadrenabled = 2\n"), 0o644)
	if _, err := readMSSQLConf(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want it to name the file", err)
	}
}
