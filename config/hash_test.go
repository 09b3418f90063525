package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	const main = `variable "pw" {
  sensitive = true
}
variable "region" {
  default = "westeurope"
}
locals {
  extra = file("extra.txt")
}
` + srv
	load := func(t *testing.T, files map[string]string, vars Vars) *Config {
		t.Helper()
		dir := writeDir(t, files)
		cfg, s, diags := Load(dir, testReg, vars)
		if diags.HasErrors() {
			t.Fatal(render(t, s, diags))
		}
		return cfg
	}
	base := map[string]string{"main.milink.hcl": main, "extra.txt": "one"}
	baseVars := Vars{Args: []string{"pw=Secret-One-1234"}}
	ref := load(t, base, baseVars).Hash("salt")
	if !strings.HasPrefix(ref, "sha256:") || len(ref) != len("sha256:")+64 {
		t.Fatalf("hash %q", ref)
	}
	if strings.Contains(ref, "Secret") {
		t.Fatal("hash shows the secret")
	}

	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name  string
		files map[string]string
		vars  Vars
		salt  string
		same  bool
	}{
		{"same inputs, another directory", base, baseVars, "salt", true},
		{"same value from the environment", base, Vars{Environ: []string{"MILINK_VAR_pw=Secret-One-1234"}}, "salt", true},
		{"changed file", with("main.milink.hcl", main+"\n# comment\n"), baseVars, "salt", false},
		{"added file", with("z.milink.hcl", "# nothing\n"), baseVars, "salt", false},
		{"changed file read by file()", with("extra.txt", "two"), baseVars, "salt", false},
		{"changed variable", base, Vars{Args: []string{"pw=Secret-One-1234", "region=northeurope"}}, "salt", false},
		{"changed secret", base, Vars{Args: []string{"pw=Secret-Two-1234"}}, "salt", false},
		{"other salt", base, baseVars, "pepper", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := load(t, tt.files, tt.vars).Hash(tt.salt)
			if (got == ref) != tt.same {
				t.Errorf("hash %s, reference %s, want same=%v", got, ref, tt.same)
			}
		})
	}
}

// The hash must not let anyone test a guess of a secret without the salt:
// it depends on the secret only through the salted fingerprint.
func TestHashUsesFingerprintForSecrets(t *testing.T) {
	c1 := &Config{variables: map[string]Value{"pw": {Text: "a", Sensitive: true}}}
	c2 := &Config{variables: map[string]Value{"pw": {Text: "a", Sensitive: false}}}
	if c1.Hash("s") == c2.Hash("s") {
		t.Fatal("a sensitive value must enter the hash differently (as a fingerprint)")
	}
	if c1.Hash("s") == c1.Hash("t") {
		t.Fatal("the salt must matter for sensitive values")
	}
	if c2.Hash("s") != c2.Hash("t") {
		t.Fatal("without secrets the salt should not matter")
	}
}

func TestFormat(t *testing.T) {
	in := "sql_server \"a\" {\naddress=\"x\"\n  port = 1\n}\n"
	want := "sql_server \"a\" {\n  address = \"x\"\n  port    = 1\n}\n"
	got, diags := Format([]byte(in))
	if diags.HasErrors() || string(got) != want {
		t.Fatalf("got %q, %v", got, diags)
	}
	if again, _ := Format(got); string(again) != want {
		t.Fatal("Format is not idempotent")
	}
	if _, diags := Format([]byte("sql_server {\n")); !diags.HasErrors() {
		t.Fatal("syntax error not reported")
	}

	dir := writeDir(t, map[string]string{
		"a.milink.hcl": in,
		"b.milink.hcl": want,
		"c.milink.hcl": "x = \n",
		"d.hcl":        in,
	})
	if err := os.Chmod(filepath.Join(dir, "a.milink.hcl"), 0o640); err != nil {
		t.Fatal(err)
	}
	changed, src, diags, err := FormatDir(dir, true)
	if err != nil || len(diags) == 0 || len(changed) != 1 || changed[0] != filepath.Join(dir, "a.milink.hcl") {
		t.Fatalf("check: %v %v %v", changed, diags, err)
	}
	// The syntax error of c.milink.hcl prints like validate's: file, line
	// and the source snippet.
	if out := render(t, src, diags); !strings.Contains(out, "on "+filepath.Join(dir, "c.milink.hcl")+" line 1") || !strings.Contains(out, "1: x = ") {
		t.Errorf("fmt diagnostics lack location or snippet:\n%s", out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.milink.hcl")); string(data) != in {
		t.Fatal("check mode rewrote the file")
	}
	changed, _, _, err = FormatDir(dir, false)
	if err != nil || len(changed) != 1 {
		t.Fatalf("write: %v %v", changed, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.milink.hcl")); string(data) != want {
		t.Fatalf("not rewritten: %q", data)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a.milink.hcl")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "d.hcl")); string(data) != in {
		t.Error("a file without the .milink.hcl suffix was touched")
	}
	if changed, _, _, _ := FormatDir(dir, true); len(changed) != 0 {
		t.Errorf("still changed: %v", changed)
	}
	if _, _, _, err := FormatDir(filepath.Join(dir, "missing"), true); err == nil {
		t.Error("missing directory accepted")
	}
}

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		srv,
		"variable \"v\" {\n  type = list(number)\n  default = [1]\n  validation {\n    condition = length(var.v) > 0\n    error_message = \"x\"\n  }\n}\n",
		"locals {\n  a = local.b\n  b = [for x in range(3) : x * 2]\n}\n",
		srv + "database \"d\" {\n  server = sql_server.s1\n  depends_on = [database.d, hadr.x]\n}\n",
		srv + "startup_trace_flags \"t\" {\n  server = sql_server.s1\n  flags = [1e100, -1, null]\n}\n",
		"sql_server \"x\" { host { restart_command = [null] } }",
		"locals { a = try(jsondecode(\"{\"), can(file(\"/\"))) }",
		"{{{",
	} {
		f.Add(seed, "v=1")
	}
	f.Fuzz(func(t *testing.T, src, arg string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, s, diags := Load(dir, testReg, Vars{Args: []string{arg}, Environ: []string{"MILINK_VAR_" + arg}})
		if cfg == nil && !diags.HasErrors() {
			t.Fatal("no config and no error")
		}
		var b strings.Builder
		if err := s.WriteDiagnostics(&b, diags, false, 80); err != nil {
			t.Fatal(err)
		}
		if cfg != nil {
			_ = cfg.Hash("salt")
		}
		_, _ = Format([]byte(src))
	})
}
