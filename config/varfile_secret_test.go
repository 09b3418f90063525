package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sensitive value set in a -var-file and refused (by validation or by its
// type) must not reach the rendered diagnostic through the source snippet.
func TestVarFileSecretNotInSnippet(t *testing.T) {
	for _, tc := range []struct{ name, decl, file, secret string }{
		{"validation", `validation {
    condition     = length(var.pw) >= 12
    error_message = "Too short."
  }`, `pw = "Sh0rt-Sec-2"`, "Sh0rt-Sec-2"},
		{"type", "", `pw = ["Lst-Secret-99"]`, "Lst-Secret-99"},
		{"json", "", `{"pw": ["Json-Secret-77"]}`, "Json-Secret-77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			main := `variable "pw" {
  type      = string
  sensitive = true
  ` + tc.decl + `
}
sql_server "a" {
  address = "127.0.0.1"
  authentication {
    user     = "sa"
    password = var.pw
  }
}
`
			if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(main), 0o600); err != nil {
				t.Fatal(err)
			}
			name := "x.vars"
			if tc.name == "json" {
				name = "x.json"
			}
			vf := filepath.Join(dir, name)
			if err := os.WriteFile(vf, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, src, diags := Load(dir, testReg, Vars{Files: []string{vf}})
			if !diags.HasErrors() {
				t.Fatal("want an error")
			}
			var out bytes.Buffer
			if err := src.WriteDiagnostics(&out, diags, false, 100); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), tc.secret) {
				t.Errorf("secret in diagnostics:\n%s", out.String())
			}
		})
	}
}
