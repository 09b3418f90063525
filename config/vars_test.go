package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// varSrc declares v and uses it as the database name, so the resolved
// value can be read back from the Config.
func varSrc(decl string) string {
	return decl + srv + `
database "d" {
  server = sql_server.s1
  name   = tostring(var.v)
}
`
}

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	f1 := filepath.Join(dir, "one.milinkvars")
	f2 := filepath.Join(dir, "two.json")
	if err := os.WriteFile(f1, []byte(`v = "file1"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f2, []byte(`{"v": "file2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	decl := "variable \"v\" {\n  type = string\n  default = \"default\"\n}\n"
	tests := []struct {
		name string
		vars Vars
		want string
	}{
		{"default", Vars{}, "default"},
		{"environment beats default", Vars{Environ: []string{"PATH=/bin", "MILINK_VAR_v=env"}}, "env"},
		{"last environment entry wins", Vars{Environ: []string{"MILINK_VAR_v=env1", "MILINK_VAR_v=env2"}}, "env2"},
		{"file beats environment", Vars{Environ: []string{"MILINK_VAR_v=env"}, Files: []string{f1}}, "file1"},
		{"later file wins", Vars{Files: []string{f1, f2}}, "file2"},
		{"files in given order", Vars{Files: []string{f2, f1}}, "file1"},
		{"-var beats files", Vars{Environ: []string{"MILINK_VAR_v=env"}, Files: []string{f1, f2}, Args: []string{"v=arg"}}, "arg"},
		{"later -var wins", Vars{Args: []string{"v=arg1", "v=arg2"}}, "arg2"},
		{"-var value with =", Vars{Args: []string{"v=a=b"}}, "a=b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, varSrc(decl), tt.vars)
			if got := database(t, cfg, "database.d").DatabaseName; got != tt.want {
				t.Errorf("v = %q, want %q", got, tt.want)
			}
			if got := cfg.variables["v"].Text; got != tt.want {
				t.Errorf("recorded value %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVariableTypesFromCommandLine(t *testing.T) {
	tests := []struct {
		name, decl, raw, want string
	}{
		{"string stays a string", "type = string", "010", "010"},
		{"string is not parsed as HCL", "type = string", `"quoted"`, `"quoted"`},
		{"untyped is a string", "", "[1, 2]", "[1, 2]"},
		{"number parsed", "type = number", "010", "10"},
		{"bool parsed", "type = bool", "true", "true"},
		{"list parsed", "type = list(string)", `["a", "b"]`, `["a","b"]`},
		{"map parsed", "type = map(number)", `{ a = 1 }`, `{"a":1}`},
		{"object with optional default", "type = object({ a = string, b = optional(number, 7) })", `{ a = "x" }`, `{"a":"x","b":7}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "variable \"v\" {\n  " + tt.decl + "\n}\n" + srv
			for _, vars := range []Vars{{Args: []string{"v=" + tt.raw}}, {Environ: []string{"MILINK_VAR_v=" + tt.raw}}} {
				cfg := mustLoad(t, src, vars)
				if got := cfg.variables["v"].Text; got != tt.want {
					t.Errorf("%+v: v = %s, want %s", vars, got, tt.want)
				}
			}
		})
	}
}

func TestUndeclaredVariableSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "vars.hcl")
	if err := os.WriteFile(f, []byte("nope = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, s, diags, _ := loadSrc(t, srv, Vars{Files: []string{f}})
	if !diags.HasErrors() || diags[0].Summary != "Value for undeclared variable" || diags[0].Subject.Filename != f || diags[0].Subject.Start.Line != 1 {
		t.Fatalf("var file: %s", render(t, s, diags))
	}
	if out := render(t, s, diags); !strings.Contains(out, "nope = 1") {
		t.Errorf("var file snippet missing:\n%s", out)
	}
	// Undeclared environment variables only warn: the environment is shared.
	cfg, _, diags, _ := loadSrc(t, srv, Vars{Environ: []string{"MILINK_VAR_nope=1"}})
	if cfg == nil || len(diags) != 1 || diags[0].Summary != "Value for undeclared variable" || diags.HasErrors() {
		t.Fatalf("environment: %v", diags)
	}
	// A missing -var-file is an error.
	if _, _, diags, _ := loadSrc(t, srv, Vars{Files: []string{filepath.Join(dir, "missing.hcl")}}); !diags.HasErrors() {
		t.Fatal("missing var file accepted")
	}
}

func TestValidation(t *testing.T) {
	decl := `variable "v" {
  type = number
  default = 5
  validation {
    condition     = var.v >= 1
    error_message = "Must be at least 1."
  }
  validation {
    condition     = var.v <= 10
    error_message = "Must be at most 10."
  }
}
`
	tests := []struct {
		arg  string
		want string // "" for valid
	}{
		{"v=5", ""},
		{"v=1", ""},
		{"v=0", "Must be at least 1."},
		{"v=11", "Must be at most 10."},
	}
	for _, tt := range tests {
		_, s, diags, _ := loadSrc(t, decl+srv, Vars{Args: []string{tt.arg}})
		if tt.want == "" {
			if diags.HasErrors() {
				t.Errorf("%s: %s", tt.arg, render(t, s, diags))
			}
			continue
		}
		if len(diags) != 1 || !strings.Contains(diags[0].Detail, tt.want) || diags[0].Summary != "Invalid value for variable" {
			t.Errorf("%s: %s", tt.arg, render(t, s, diags))
			continue
		}
		if out := render(t, s, diags); !strings.Contains(out, "<value for var.v>") || !strings.Contains(out, tt.arg[2:]) {
			t.Errorf("%s: rendered diagnostic should point at the -var value:\n%s", tt.arg, out)
		}
	}
}
