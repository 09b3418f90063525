package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// srv is a valid sql_server "s1" on lines 1-7 of a source.
const srv = `sql_server "s1" {
  address = "10.0.0.4"
  authentication {
    user     = "sa"
    password = "Passw0rd!Passw0rd"
  }
}
`

func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		vars    Vars
		summary string
		line    int    // Subject line in main.milink.hcl; 0: no subject expected
		detail  string // substring of Detail
	}{
		{"syntax error", "sql_server \"x\" {\n  address = \n}\n", Vars{}, "Invalid expression", 2, ""},
		{"unknown block", srv + "databse \"d\" {}\n", Vars{}, "Unsupported block type", 8, `Did you mean "database"?`},
		{"misspelled attribute", "sql_server \"s1\" {\n  adress = \"x\"\n}\n", Vars{}, "Unsupported argument", 2, `Did you mean "address"?`},
		{"misspelled next to the right one", strings.Replace(srv, "  address", "  adress = \"y\"\n  address", 1), Vars{}, "Unsupported argument", 2, `Did you mean "address"?`},
		{"missing address", "sql_server \"s1\" {\n  authentication {\n    user = \"u\"\n    password = \"p\"\n  }\n}\n", Vars{}, "Missing required argument", 1, `"address" is required`},
		{"missing authentication", "sql_server \"s1\" {\n  address = \"a\"\n}\n", Vars{}, "Missing authentication block", 1, "authentication block"},
		{"duplicate authentication", "sql_server \"s1\" {\n  address = \"a\"\n  authentication {\n    user = \"u\"\n    password = \"p\"\n  }\n  authentication {}\n}\n", Vars{}, "Duplicate authentication block", 7, ""},
		{"missing user", "sql_server \"s1\" {\n  address = \"a\"\n  authentication {\n    password = \"p\"\n  }\n}\n", Vars{}, "Missing required argument", 3, `"user" is required for SQL authentication`},
		{"empty password", "sql_server \"s1\" {\n  address = \"a\"\n  authentication {\n    user = \"u\"\n    password = \"\"\n  }\n}\n", Vars{}, "Missing required argument", 5, `"password"`},
		{"bad method", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    method = \"kerberos\"\n  }\n}\n", Vars{}, "Invalid value", 11, `"method" must be one of "sql", "windows" or "entra"`},
		{"port type", srv + "sql_server \"s2\" {\n  address = \"a\"\n  port = \"x\"\n  authentication {\n    user = \"u\"\n    password = \"p\"\n  }\n}\n", Vars{}, "Incorrect attribute value type", 10, "a number is required"},
		{"port range", srv + "sql_server \"s2\" {\n  address = \"a\"\n  port = 70000\n  authentication {\n    user = \"u\"\n    password = \"p\"\n  }\n}\n", Vars{}, "Invalid value", 10, "from 1 to 65535"},
		{"encrypt typo", strings.Replace(srv, "  address", "  encrypt = \"strct\"\n  address", 1), Vars{}, "Invalid value", 2, `Did you mean "strict"?`},
		{"connect_timeout", strings.Replace(srv, "  address", "  connect_timeout = \"soon\"\n  address", 1), Vars{}, "Invalid duration", 2, "positive duration"},
		{"restart", strings.Replace(srv, "  address", "  restart = \"always\"\n  address", 1), Vars{}, "Invalid value", 2, `"auto" or "never"`},
		{"support_matrix", strings.Replace(srv, "  address", "  support_matrix = \"2019\"\n  address", 1), Vars{}, "Invalid value", 2, `"current" or "2022-06"`},
		{"trust type", strings.Replace(srv, "  address", "  trust_server_certificate = \"maybe\"\n  address", 1), Vars{}, "Incorrect attribute value type", 2, "a bool is required"},
		{"certificate without encryption", strings.Replace(srv, "  address", "  encrypt = \"disable\"\n  certificate = \"ca.pem\"\n  address", 1), Vars{}, "Certificate setting without encryption", 3, `encrypt = "disable" means no TLS`},
		{"host name with trust", strings.Replace(srv, "  address", "  encrypt = \"true\"\n  trust_server_certificate = true\n  host_name_in_certificate = \"db1\"\n  address", 1), Vars{}, "Certificate setting with trust_server_certificate", 4, "accepts any certificate"},
		{"os", strings.Replace(srv, "  address", "  host {\n    os = \"macos\"\n  }\n  address", 1), Vars{}, "Invalid value", 3, `"linux" or "windows"`},
		{"ssh without its block", strings.Replace(srv, "  address", "  host {\n    transport = \"ssh\"\n  }\n  address", 1), Vars{}, "Missing ssh block", 3, "which user"},
		{"ssh without a way to log in", strings.Replace(srv, "  address", "  host {\n    transport = \"ssh\"\n    ssh { user = \"dba\" }\n  }\n  address", 1), Vars{}, "No way to log in over SSH", 4, "private_key_files"},
		{"ssh block without ssh", strings.Replace(srv, "  address", "  host {\n    ssh { user = \"dba\" }\n  }\n  address", 1), Vars{}, "Unexpected ssh block", 3, "transport"},
		{"winrm transport", strings.Replace(srv, "  address", "  host {\n    os = \"windows\"\n    transport = \"winrm\"\n  }\n  address", 1), Vars{}, "Invalid value", 4, "winrm"},
		{"mssql_conf on windows", strings.Replace(srv, "  address", "  host {\n    os = \"windows\"\n    mssql_conf = \"/x\"\n  }\n  address", 1), Vars{}, "Argument not valid on Windows", 4, "registry"},
		{"empty restart_command", strings.Replace(srv, "  address", "  host {\n    restart_command = []\n  }\n  address", 1), Vars{}, "Invalid restart command", 3, ""},
		{"restart_timeout", strings.Replace(srv, "  address", "  host {\n    restart_timeout = \"-1s\"\n  }\n  address", 1), Vars{}, "Invalid duration", 3, ""},
		{"duplicate host", strings.Replace(srv, "  address", "  host {}\n  host {}\n  address", 1), Vars{}, "Duplicate host block", 3, ""},
		{"duplicate server", srv + srv, Vars{}, "Duplicate sql_server block", 8, "already declared at"},
		{"invalid label", "sql_server \"1bad\" {\n}\n", Vars{}, "Invalid block name", 1, ""},
		// The example in the detail is generic now that the loader
		// words it for any kind's target (it was sql_server.sql01).
		{"server not a reference", srv + "hadr \"h\" {\n  server = \"s1\"\n}\n", Vars{}, "Invalid server reference", 9, "such as sql_server.NAME"},
		{"server undeclared", srv + "hadr \"h\" {\n  server = sql_server.s2\n}\n", Vars{}, "Reference to undeclared sql_server", 9, "Did you mean sql_server.s1?"},
		{"missing server", srv + "hadr \"h\" {\n}\n", Vars{}, "Missing required argument", 8, `"server" is required`},
		{"two master keys", srv + "master_key \"a\" {\n  server = sql_server.s1\n  password = \"p1234\"\n}\nmaster_key \"b\" {\n  server = sql_server.s1\n  password = \"p1234\"\n}\n", Vars{}, "Duplicate master_key for sql_server.s1", 12, "at most one"},
		{"two hadr", srv + "hadr \"a\" {\n  server = sql_server.s1\n}\nhadr \"b\" {\n  server = sql_server.s1\n}\n", Vars{}, "Duplicate hadr for sql_server.s1", 11, ""},
		{"two trace flag blocks", srv + "startup_trace_flags \"a\" {\n  server = sql_server.s1\n}\nstartup_trace_flags \"b\" {\n  server = sql_server.s1\n}\n", Vars{}, "Duplicate startup_trace_flags for sql_server.s1", 11, ""},
		{"master key without password", srv + "master_key \"a\" {\n  server = sql_server.s1\n}\n", Vars{}, "Missing required argument", 8, `"password" is required`},
		{"trace flag range", srv + "startup_trace_flags \"a\" {\n  server = sql_server.s1\n  flags = [1800, 0, 40000]\n}\n", Vars{}, "Invalid trace flag", 10, "1 to 32767"},
		{"trace flag fraction", srv + "startup_trace_flags \"a\" {\n  server = sql_server.s1\n  flags = [1.5]\n}\n", Vars{}, "Invalid trace flag", 10, ""},
		{"recovery model", srv + "database \"d\" {\n  server = sql_server.s1\n  recovery_model = \"SIMPLE\"\n}\n", Vars{}, "Invalid recovery model", 10, "FULL"},
		{"system database by label", srv + "database \"master\" {\n  server = sql_server.s1\n}\n", Vars{}, "System database", 8, "system database"},
		{"system database by name", srv + "database \"x\" {\n  server = sql_server.s1\n  name = \"TempDB\"\n}\n", Vars{}, "System database", 8, ""},
		{"duplicate database name", srv + "database \"a\" {\n  server = sql_server.s1\n  name = \"Sales\"\n}\ndatabase \"b\" {\n  server = sql_server.s1\n  name = \"sales\"\n}\n", Vars{}, "Duplicate database", 12, "already declared"},
		{"duplicate database label", srv + "database \"a\" {\n  server = sql_server.s1\n}\ndatabase \"a\" {\n  server = sql_server.s1\n}\n", Vars{}, "Duplicate database block", 11, ""},
		{"backup without directory", srv + "database \"a\" {\n  server = sql_server.s1\n  backup {\n  }\n}\n", Vars{}, "Missing required argument", 10, ""},
		{"two backups", srv + "database \"a\" {\n  server = sql_server.s1\n  backup {\n    directory = \"/b\"\n  }\n  backup {\n    directory = \"/b\"\n  }\n}\n", Vars{}, "Duplicate backup block", 13, ""},
		{"depends_on undeclared", srv + "database \"a\" {\n  server = sql_server.s1\n  depends_on = [master_key.s1]\n}\n", Vars{}, "Reference to undeclared block", 10, "master_key.s1"},
		// depends_on and the body's references share one lookup now: an
		// unknown kind is an "Invalid reference" (it was "Invalid
		// depends_on reference"), still with the closest kind.
		{"depends_on bad kind", srv + "database \"a\" {\n  server = sql_server.s1\n  depends_on = [databse.b]\n}\n", Vars{}, "Invalid reference", 10, `Did you mean "database"?`},
		{"depends_on string", srv + "database \"a\" {\n  server = sql_server.s1\n  depends_on = [\"database.b\"]\n}\n", Vars{}, "Invalid depends_on reference", 10, ""},
		// A block naming itself in depends_on was silently dropped after
		// the refactor; it is a cycle again (reported on the block; it
		// was "Self-referential depends_on" on the attribute).
		{"depends_on self", srv + "database \"a\" {\n  server = sql_server.s1\n  depends_on = [database.a]\n}\n", Vars{}, "Dependency cycle", 8, "database.a → database.a"},
		{"depends_on cycle", srv + "database \"a\" {\n  server = sql_server.s1\n  depends_on = [database.b]\n}\ndatabase \"b\" {\n  server = sql_server.s1\n  depends_on = [database.a]\n}\n", Vars{}, "Dependency cycle", 8, "database.a → database.b → database.a"},
		{"server depends on own resource", strings.Replace(srv, "  address", "  depends_on = [hadr.h]\n  address", 1) + "hadr \"h\" {\n  server = sql_server.s1\n}\n", Vars{}, "Dependency cycle", 9, ""},
		{"unknown function", srv + "database \"a\" {\n  server = sql_server.s1\n  name = nosuch(\"x\")\n}\n", Vars{}, "Call to unknown function", 10, ""},
		{"unknown variable", srv + "database \"a\" {\n  server = sql_server.s1\n  name = var.nope\n}\n", Vars{}, "Reference to undeclared input variable", 10, `variable "nope" {}`},
		{"unknown local", srv + "database \"a\" {\n  server = sql_server.s1\n  name = local.nope\n}\n", Vars{}, "Reference to undeclared local value", 10, `"nope" has not been declared`},
		{"abbreviated variable", "variable \"master_key_password\" {\n  default = \"x\"\n}\n" + srv + "master_key \"m\" {\n  server = sql_server.s1\n  password = var.master_key_pw\n}\n", Vars{}, "Reference to undeclared input variable", 13, `Did you mean "master_key_password"?`},
		{"misspelled variable in a local", "variable \"region\" {\n  default = \"x\"\n}\nlocals {\n  r = var.regoin\n}\n" + srv, Vars{}, "Reference to undeclared input variable", 5, `Did you mean "region"?`},
		{"misspelled local", "locals {\n  db_name = \"Sales\"\n}\n" + srv + "database \"a\" {\n  server = sql_server.s1\n  name = local.db_nmae\n}\n", Vars{}, "Reference to undeclared local value", 13, `Did you mean "db_name"?`},
		{"misspelled local in a local", "locals {\n  a = 1\n  b = local.aa\n}\n" + srv, Vars{}, "Reference to undeclared local value", 3, `Did you mean "a"?`},
		{"attribute of an object variable", "variable \"o\" {\n  default = { a = \"x\" }\n}\n" + srv + "database \"a\" {\n  server = sql_server.s1\n  name = var.o.b\n}\n", Vars{}, "Unsupported attribute", 13, ""},
		{"locals cycle", "locals {\n  a = local.b\n  b = local.a\n}\n" + srv, Vars{}, "Cycle in local values", 0, "local.a → local.b → local.a"},
		{"duplicate local", "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n" + srv, Vars{}, "Duplicate local value", 5, ""},
		{"file missing", "locals {\n  a = file(\"nope.json\")\n}\n" + srv, Vars{}, "Invalid function argument", 2, "no file exists"},
		{"file not regular", "locals {\n  a = file(\".\")\n}\n" + srv, Vars{}, "Invalid function argument", 2, "not a regular file"},
		{"jsondecode bad", "locals {\n  a = jsondecode(\"{\")\n}\n" + srv, Vars{}, "Error in function call", 2, ""},
		{"required variable", "variable \"master_key_password\" {\n  type = string\n}\n" + srv, Vars{}, "No value for required variable", 1,
			"-var master_key_password=..., in a -var-file, or with the environment variable MILINK_VAR_master_key_password"},
		{"undeclared -var", "variable \"region\" {\n  default = \"x\"\n}\n" + srv, Vars{Args: []string{"regon=y"}}, "Value for undeclared variable", 0, `Did you mean "region"?`},
		{"malformed -var", srv, Vars{Args: []string{"novalue"}}, "Invalid -var option", 0, "NAME=VALUE"},
		{"bad type", "variable \"v\" {\n  type = strin\n}\n" + srv, Vars{}, "Invalid type specification", 2, ""},
		{"default wrong type", "variable \"v\" {\n  type = number\n  default = \"ten\"\n}\n" + srv, Vars{}, "Invalid value for input variable", 3, "a number is required"},
		{"-var wrong type", "variable \"v\" {\n  type = list(number)\n}\n" + srv, Vars{Args: []string{"v=[\"a\"]"}}, "Invalid value for input variable", 0, "number is required"},
		{"-var syntax", "variable \"v\" {\n  type = number\n}\n" + srv, Vars{Args: []string{"v=1 +"}}, "Missing expression", 0, ""},
		{"validation fails", "variable \"v\" {\n  default = \"ab\"\n  validation {\n    condition = length(var.v) > 3\n    error_message = \"Too short.\"\n  }\n}\n" + srv, Vars{}, "Invalid value for variable", 2, "Too short."},
		{"validation refers to another var", "variable \"w\" {\n  default = 1\n}\nvariable \"v\" {\n  default = \"ab\"\n  validation {\n    condition = var.w > 0\n    error_message = \"x\"\n  }\n}\n" + srv, Vars{}, "Invalid reference in variable validation", 7, ""},
		{"validation not bool", "variable \"v\" {\n  default = \"ab\"\n  validation {\n    condition = \"maybe\"\n    error_message = \"x\"\n  }\n}\n" + srv, Vars{}, "Invalid validation condition", 4, ""},
		{"validation missing message", "variable \"v\" {\n  default = \"ab\"\n  validation {\n    condition = true\n  }\n}\n" + srv, Vars{}, "Missing required argument", 3, ""},
		{"duplicate variable", "variable \"v\" {\n  default = 1\n}\nvariable \"v\" {\n  default = 1\n}\n" + srv, Vars{}, "Duplicate variable block", 4, ""},
		// Reported at load since validate must catch them (they were
		// accepted until the connection was opened).
		{"ntlm without an account", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    method = \"windows\"\n    protocol = \"ntlm\"\n    password = \"x\"\n  }\n}\n", Vars{}, "Missing NTLM account", 10, `user = "DOMAIN\\user"`},
		{"keytab without a user", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    method = \"windows\"\n    keytab = \"k\"\n  }\n}\n", Vars{}, "Keytab without a user", 12, "give user"},
		{"kerberos argument with ntlm", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    method = \"windows\"\n    protocol = \"ntlm\"\n    user = \"D\\\\u\"\n    password = \"x\"\n    spn = \"s\"\n  }\n}\n", Vars{}, "Kerberos argument with NTLM", 15, `"spn" applies to protocol = "kerberos"`},
		{"windows argument with sql authentication", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    user = \"u\"\n    password = \"p\"\n    realm = \"R\"\n  }\n}\n", Vars{}, "Argument only for Windows authentication", 13, `"realm" applies to method = "windows"`},
		{"entra with a user", srv + "sql_server \"s2\" {\n  address = \"a\"\n  authentication {\n    method = \"entra\"\n    user = \"dba\"\n  }\n}\n", Vars{}, "Argument not valid with Microsoft Entra", 12, "Entra logs in with a token"},
		{"relative mssql_conf", strings.Replace(srv, "  address", "  host {\n    mssql_conf = \"mssql.conf\"\n  }\n  address", 1), Vars{}, "Invalid path", 3, `"mssql_conf" must be an absolute path`},
		{"relative mssql_conf_tool", strings.Replace(srv, "  address", "  host {\n    mssql_conf_tool = \"bin/mssql-conf\"\n  }\n  address", 1), Vars{}, "Invalid path", 3, `"bin/mssql-conf" is not`},
		{"database name with a control character", srv + "database \"x\" {\n  server = sql_server.s1\n  name = \"Sales\\tDB\"\n}\n", Vars{}, "Invalid database name", 10, "control characters"},
		{"empty database name", srv + "database \"x\" {\n  server = sql_server.s1\n  name = \"\"\n}\n", Vars{}, "Invalid database name", 10, "1 to 128 characters"},
		{"for_each and count", srv + "database \"x\" {\n  server = sql_server.s1\n  for_each = toset([\"a\"])\n  count = 1\n}\n", Vars{}, `Invalid combination of "count" and "for_each"`, 11, "not both"},
		{"for_each over a list", srv + "database \"x\" {\n  server = sql_server.s1\n  for_each = [\"a\"]\n}\n", Vars{}, "Invalid for_each argument", 10, "toset"},
		{"for_each null", srv + "database \"x\" {\n  server = sql_server.s1\n  for_each = null\n}\n", Vars{}, "Invalid for_each argument", 10, "null"},
		{"negative count", srv + "database \"x\" {\n  server = sql_server.s1\n  count = -1\n}\n", Vars{}, "Invalid count argument", 10, "whole number"},
		{"fractional count", srv + "database \"x\" {\n  server = sql_server.s1\n  count = 1.5\n}\n", Vars{}, "Invalid count argument", 10, ""},
		{"each without for_each", srv + "database \"x\" {\n  server = sql_server.s1\n  name = each.key\n}\n", Vars{}, "Unknown variable", 10, "each"},
		{"server names an expanded server", "sql_server \"m\" {\n  for_each = toset([\"a\", \"b\"])\n  address = each.key\n  authentication {\n    user = \"u\"\n    password = \"p\"\n  }\n}\nhadr \"h\" {\n  server = sql_server.m\n}\n", Vars{}, "Invalid server reference", 10, `sql_server.m["KEY"]`},
		{"reference to an undeclared block", srv + "database \"sales\" {\n  server = sql_server.s1\n}\ndatabase \"x\" {\n  server = sql_server.s1\n  name = database.slaes.name\n}\n", Vars{}, "Reference to undeclared block", 13, "Did you mean database.sales?"},
		{"reference to an unknown kind in depends_on", srv + "database \"x\" {\n  server = sql_server.s1\n  depends_on = [hadrr.x]\n}\n", Vars{}, "Invalid reference", 10, `Did you mean "hadr"?`},
		{"depends_on an attribute", srv + "hadr \"h\" {\n  server = sql_server.s1\n}\ndatabase \"x\" {\n  server = sql_server.s1\n  depends_on = [hadr.h.enabled]\n}\n", Vars{}, "Invalid depends_on reference", 13, ""},
		{"sql_server in locals", "locals {\n  a = sql_server.s1.address\n}\n" + srv, Vars{}, "Unknown variable", 2, ""},
		{"top-level attribute", "x = 1\n" + srv, Vars{}, "Unsupported argument", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, s, diags, dir := loadSrc(t, tt.src, tt.vars)
			if cfg != nil {
				t.Fatalf("expected an error, got a config")
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Severity == hcl.DiagError && d.Summary == tt.summary {
					found = d
					break
				}
			}
			if found == nil {
				t.Fatalf("no error %q; got: %s\n%s", tt.summary, errorSummaries(diags), render(t, s, diags))
			}
			if !strings.Contains(found.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", found.Detail, tt.detail)
			}
			if tt.line > 0 {
				if found.Subject == nil {
					t.Fatalf("no subject")
				}
				if want := filepath.Join(dir, "main.milink.hcl"); found.Subject.Filename != want || found.Subject.Start.Line != tt.line {
					t.Errorf("subject %s:%d, want %s:%d", found.Subject.Filename, found.Subject.Start.Line, want, tt.line)
				}
				out := render(t, s, hcl.Diagnostics{found})
				if !strings.Contains(out, "Error: "+tt.summary) || !strings.Contains(out, "main.milink.hcl line ") || !strings.Contains(out, "│") && !strings.Contains(out, ":") {
					t.Errorf("rendered diagnostic lacks summary or location:\n%s", out)
				}
				// The snippet quotes the source line.
				lines := strings.Split(tt.src, "\n")
				if snippet := strings.TrimSpace(lines[tt.line-1]); snippet != "" && !strings.Contains(out, snippet) {
					t.Errorf("rendered diagnostic lacks the snippet %q:\n%s", snippet, out)
				}
			}
		})
	}
}

// All problems of a file are reported at once.
func TestAllErrorsAtOnce(t *testing.T) {
	_, _, diags, _ := loadSrc(t, `
sql_server "s1" {
  adress = "x"
  port   = "nope"
  authentication {
    user     = "u"
    password = "p"
  }
}
database "master" {
  server = sql_server.s1
}
hadr "h" {
  server = sql_server.zz
}
`, Vars{})
	want := []string{"Unsupported argument", "Missing required argument", "Incorrect attribute value type", "Reference to undeclared sql_server", "System database"}
	got := errorSummaries(diags)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in %s", w, got)
		}
	}
}

// The same configuration gives the same diagnostics in the same order
// (HCL reports unexpected arguments in map order; we sort them).
func TestDiagnosticsDeterministic(t *testing.T) {
	src := "sql_server \"s1\" {\n  adress = 1\n  prot = 2\n  encrypt = \"x\"\n  zz = 3\n  yy = 4\n}\nx = 1\ny = 2\n"
	dir := writeDir(t, map[string]string{"main.milink.hcl": src})
	_, s, diags := Load(dir, testReg, Vars{})
	first := render(t, s, diags)
	for i := 0; i < 20; i++ {
		_, s, diags := Load(dir, testReg, Vars{})
		if got := render(t, s, diags); got != first {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, got, first)
		}
	}
	if !strings.Contains(first, `Did you mean "port"?`) {
		t.Errorf("no suggestion for prot:\n%s", first)
	}
}

func TestWriteDiagnosticsWithoutSources(t *testing.T) {
	var s *Sources
	var b strings.Builder
	err := s.WriteDiagnostics(&b, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Boom", Detail: "d"}}, false, 0)
	if err != nil || !strings.Contains(b.String(), "Error: Boom") {
		t.Fatalf("%q %v", b.String(), err)
	}
}

// A database without a backup block loads, with a warning on the block:
// the link needs a full backup that milink then will not take.
func TestDatabaseWithoutBackupWarns(t *testing.T) {
	tests := []struct {
		name string
		src  string
		warn bool
	}{
		{"no backup", srv + "database \"sales\" {\n  server = sql_server.s1\n}\n", true},
		{"with backup", srv + "database \"sales\" {\n  server = sql_server.s1\n  backup {\n    directory = \"/b\"\n  }\n}\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, s, diags, dir := loadSrc(t, tt.src, Vars{})
			if cfg == nil || diags.HasErrors() {
				t.Fatalf("a warning must not fail Load:\n%s", render(t, s, diags))
			}
			var warns hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagWarning {
					warns = append(warns, d)
				}
			}
			if !tt.warn {
				if len(warns) > 0 {
					t.Fatalf("unexpected warnings:\n%s", render(t, s, warns))
				}
				return
			}
			if len(warns) != 1 {
				t.Fatalf("want one warning, got:\n%s", render(t, s, diags))
			}
			w := warns[0]
			if !strings.Contains(w.Detail, "database.sales has no backup block: the link needs a full, non-copy-only backup; milink will not take one") {
				t.Errorf("detail %q", w.Detail)
			}
			if w.Subject == nil || w.Subject.Filename != filepath.Join(dir, "main.milink.hcl") || w.Subject.Start.Line != 8 {
				t.Fatalf("subject %v, want the database block on line 8", w.Subject)
			}
			if out := render(t, s, warns); !strings.Contains(out, "Warning: No backup block") || !strings.Contains(out, `database "sales" {`) {
				t.Errorf("rendered warning lacks summary or snippet:\n%s", out)
			}
		})
	}
}
