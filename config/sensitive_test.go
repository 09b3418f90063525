package config

import (
	"strings"
	"testing"
)

func TestSensitiveValuesNeverRendered(t *testing.T) {
	const secret = "Hunter2-Very-Secret"
	lab := `{"servers": [{"name": "sql01", "address": "127.0.0.2", "port": 1433, "user": "sa", "password": "` + secret + `"}]}`
	tests := []struct {
		name  string
		decl  string // variable "secret" declaration body
		body  string // the rest of the configuration
		vars  Vars
		files map[string]string
	}{
		{
			name: "failed validation from -var",
			decl: "type = string\n  sensitive = true\n  validation {\n    condition = length(var.secret) > 100\n    error_message = \"Too short.\"\n  }",
			body: srv, vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "failed validation from environment",
			decl: "type = string\n  sensitive = true\n  validation {\n    condition = length(var.secret) > 100\n    error_message = \"Too short.\"\n  }",
			body: srv, vars: Vars{Environ: []string{"MILINK_VAR_secret=" + secret}},
		},
		{
			name: "error message built from the secret",
			decl: "sensitive = true\n  validation {\n    condition = var.secret == \"x\"\n    error_message = \"Bad value ${var.secret}.\"\n  }",
			body: srv, vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "function error in validation",
			decl: "sensitive = true\n  validation {\n    condition = tonumber(var.secret) > 0\n    error_message = \"x\"\n  }",
			body: srv, vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "wrong type from -var",
			decl: "type = list(string)\n  sensitive = true",
			body: srv, vars: Vars{Args: []string{"secret=\"" + secret + "\""}},
		},
		{
			name: "unparsable -var",
			decl: "type = number\n  sensitive = true",
			body: srv, vars: Vars{Args: []string{"secret=" + secret + " {"}},
		},
		{
			name: "sensitive variable in a type error",
			decl: "sensitive = true",
			body: strings.Replace(srv, "  address", "  port = var.secret\n  address", 1), vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "sensitive variable in a function error",
			decl: "sensitive = true",
			body: strings.Replace(srv, "  address", "  port = tonumber(var.secret)\n  address", 1), vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "sensitive variable in an invalid value",
			decl: "sensitive = true",
			body: strings.Replace(srv, "  address", "  encrypt = var.secret\n  address", 1), vars: Vars{Args: []string{"secret=" + secret}},
		},
		{
			name: "password from lab.json in a type error",
			decl: "default = 1",
			body: `locals {
  lab   = jsondecode(file("lab.json"))
  sql01 = local.lab.servers[0]
}
sql_server "s1" {
  address = local.sql01
  authentication {
    user     = local.sql01.user
    password = local.sql01.password
  }
}
`,
			files: map[string]string{"lab.json": lab},
		},
		{
			name: "password of a master key in an error",
			decl: "sensitive = true",
			body: srv + "master_key \"m\" {\n  server = sql_server.s1\n  password = [var.secret]\n}\n",
			vars: Vars{Args: []string{"secret=" + secret}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"main.milink.hcl": "variable \"secret\" {\n  " + tt.decl + "\n}\n" + tt.body}
			for k, v := range tt.files {
				files[k] = v
			}
			dir := writeDir(t, files)
			cfg, s, diags := Load(dir, testReg, tt.vars)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("expected errors")
			}
			for _, color := range []bool{false, true} {
				out := render(t, s, diags)
				if color {
					var b strings.Builder
					if err := s.WriteDiagnostics(&b, diags, true, 78); err != nil {
						t.Fatal(err)
					}
					out = b.String()
				}
				if strings.Contains(out, secret) || strings.Contains(out, "Hunter2") {
					t.Fatalf("the secret appears in the rendered diagnostics:\n%s", out)
				}
				if !strings.Contains(out, "Error") {
					t.Fatalf("nothing rendered:\n%s", out)
				}
			}
			for _, d := range diags {
				if strings.Contains(d.Summary+d.Detail, "Hunter2") {
					t.Fatalf("the secret appears in a returned diagnostic: %s: %s", d.Summary, d.Detail)
				}
			}
		})
	}
}

// Without redaction the test above would see the secret: HCL renders the
// values of the variables an expression refers to.
func TestRedactionIsNeeded(t *testing.T) {
	const text = "Visible-Value-123"
	_, s, diags, _ := loadSrc(t, "variable \"v\" {}\n"+strings.Replace(srv, "  address", "  port = var.v\n  address", 1), Vars{Args: []string{"v=" + text}})
	if out := render(t, s, diags); !strings.Contains(out, text) {
		t.Fatalf("a non-sensitive value should be shown as context:\n%s", out)
	}
}
