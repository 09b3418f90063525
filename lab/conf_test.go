package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMSSQLConf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    startupSettings
		wantErr string
	}{
		{name: "empty", in: "", want: startupSettings{}},
		{name: "header only", in: mssqlConfHeader, want: startupSettings{}},
		{name: "reference example", in: "[hadr]\nhadrenabled = 1\n\n[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 9567\n",
			want: startupSettings{Hadr: true, TraceFlags: []int{1800, 9567}}},
		{name: "other sections kept apart", in: "[sqlagent]\nenabled = true\n[network]\ntcpport = 1433\n[hadr]\nhadrenabled=0\n",
			want: startupSettings{}},
		{name: "colon delimiter, upper-case option, comments",
			in:   "# c\n; c\n[traceflag]\nTRACEFLAG3: 12381\ntraceflag0 = 1800\n",
			want: startupSettings{TraceFlags: []int{1800, 12381}}},
		{name: "duplicate flag values dedup", in: "[traceflag]\ntraceflag0 = 1800\ntraceflag1 = 1800\n",
			want: startupSettings{TraceFlags: []int{1800}}},
		{name: "section names are case-sensitive", in: "[HADR]\nhadrenabled = 1\n", want: startupSettings{}},
		{name: "bad hadr", in: "[hadr]\nhadrenabled = yes\n", wantErr: "want 0 or 1"},
		{name: "bad flag", in: "[traceflag]\ntraceflag0 = -T1800\n", wantErr: "not a trace flag"},
		{name: "bad flag key", in: "[traceflag]\ntraceflagx = 1800\n", wantErr: "traceflagN"},
		{name: "duplicate option", in: "[hadr]\nhadrenabled = 1\nhadrenabled = 0\n", wantErr: "already exists"},
		{name: "no section", in: "hadrenabled = 1\n", wantErr: "outside any"},
		{name: "garbage line", in: "[hadr]\nhadrenabled\n", wantErr: "line 2"},
		{name: "broken header", in: "[hadr\n", wantErr: "section header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMSSQLConf([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
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
