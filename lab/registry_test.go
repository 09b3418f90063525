package lab

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultRegistryShape(t *testing.T) {
	r := defaultRegistry("15.0.4312.2")
	want := map[string]string{
		`HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters|SQLArg0`: `-dC:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\master.mdf`,
		`HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\HADR|HADR_Enabled`:  "0",
	}
	got := map[string]string{}
	for _, v := range r.Values {
		got[v.Key+"|"+v.Name] = v.Data
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if id := instanceID("13.0.6300.2"); id != "MSSQL13.MSSQLSERVER" {
		t.Errorf("instanceID(2016) = %s", id)
	}
	s, err := startupFromRegistry(r)
	if err != nil || s.Hadr || s.TraceFlags != nil {
		t.Fatalf("fresh registry starts with %+v, %v; want defaults", s, err)
	}
}

func TestStartupFromRegistry(t *testing.T) {
	root := registryRoot("16.0.4125.3")
	params := root + `\MSSQLServer\Parameters`
	hadr := root + `\MSSQLServer\HADR`
	tests := []struct {
		name    string
		values  []registryEntry
		want    startupSettings
		wantErr string
	}{
		{name: "flags and hadr", values: []registryEntry{
			{Key: params, Name: "SQLArg0", Data: `-dC:\x\master.mdf`},
			{Key: params, Name: "SQLArg3", Data: "-T9567"},
			{Key: params, Name: "SQLArg4", Data: "-T1800"},
			{Key: hadr, Name: "HADR_Enabled", Type: "REG_DWORD", Data: "1"},
		}, want: startupSettings{Hadr: true, TraceFlags: []int{1800, 9567}}},
		{name: "lower-case -t is not a trace flag", values: []registryEntry{
			{Key: params, Name: "SQLArg3", Data: "-t1800"},
		}, want: startupSettings{}},
		{name: "names are case-insensitive", values: []registryEntry{
			{Key: strings.ToUpper(params), Name: "sqlarg3", Data: "-T1800"},
			{Key: strings.ToLower(hadr), Name: "hadr_enabled", Data: "1"},
		}, want: startupSettings{Hadr: true, TraceFlags: []int{1800}}},
		{name: "other keys ignored", values: []registryEntry{
			{Key: root + `\MSSQLServer\SuperSocketNetLib`, Name: "SQLArg3", Data: "-T1800"},
			{Key: params, Name: "Other", Data: "-T1800"},
		}, want: startupSettings{}},
		{name: "bad flag", values: []registryEntry{{Key: params, Name: "SQLArg3", Data: "-Tabc"}}, wantErr: "not a trace flag"},
		{name: "bad hadr", values: []registryEntry{{Key: hadr, Name: "HADR_Enabled", Data: "on"}}, wantErr: "want 0 or 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startupFromRegistry(registryFile{Values: tt.values})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
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

// The startup parameters milink and the lab must read alike: -T1800,
// -T 1800 and /T1800 are one flag; -t1800 is another option.
func TestStartupFromRegistrySharedCases(t *testing.T) {
	params := registryRoot("15.0.4312.2") + `\MSSQLServer\Parameters`
	for _, tc := range loadStartupCases(t).SQLArg {
		t.Run(tc.Name, func(t *testing.T) {
			var r registryFile
			for i, a := range tc.Args {
				r.Values = append(r.Values, registryEntry{Key: params, Name: fmt.Sprintf("SQLArg%d", i), Type: "REG_SZ", Data: a})
			}
			got, err := startupFromRegistry(r)
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := startupSettings{}
			if len(tc.Flags) > 0 {
				want.TraceFlags = tc.Flags
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestRegistryFileRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "registry.json")
	if err := writeRegistryIfMissing(p, "13.0.7000.253"); err != nil {
		t.Fatal(err)
	}
	r, err := loadRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, defaultRegistry("13.0.7000.253")) {
		t.Fatalf("round trip changed the registry: %+v", r)
	}
	// An existing registry is never overwritten.
	if err := writeRegistryIfMissing(p, "15.0.1.1"); err != nil {
		t.Fatal(err)
	}
	if r2, _ := loadRegistry(p); !reflect.DeepEqual(r2, r) {
		t.Fatal("existing registry was overwritten")
	}
}
