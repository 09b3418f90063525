package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestSensitiveName(t *testing.T) {
	for _, name := range []string{
		"password", "Password", "PASSWORD", "pasword", "passwrd", "pssword", "passowrd", "paswrd",
		"master_key_password", "sa_password", "sa-password", "passwd", "passphrase", "pass_phrase",
		"secret", "secert", "secrets", "client_secret", "token", "tokens", "sas_token", "sas",
		"private_key", "privatekey", "account_key", "api_key", "access_key", "pfx", "pfx_password",
		"pw", "pwd", "credentials", "connection_string",
	} {
		if !sensitiveName(name) {
			t.Errorf("sensitiveName(%q) = false, want true", name)
		}
	}
	// Every other name of the language, and near misses that are words.
	for _, name := range []string{
		"address", "port", "instance", "encrypt", "trust_server_certificate", "connect_timeout",
		"restart", "support_matrix", "method", "user", "os", "transport", "mssql_conf",
		"mssql_conf_tool", "restart_command", "restart_timeout", "server", "enabled", "flags",
		"recovery_model", "directory", "compression", "checksum", "depends_on", "name", "type",
		"default", "sensitive", "description", "validation", "condition", "error_message",
		"nullable", "backup", "host", "authentication", "master_key", "hadr", "database",
		"variable", "locals", "sql_server", "startup_trace_flags", "taken", "select", "second",
		"key", "keys", "session", "backup_file", "exists", "running", "configured",
	} {
		if sensitiveName(name) {
			t.Errorf("sensitiveName(%q) = true, want false", name)
		}
	}
}

func TestSensitiveAttributeHook(t *testing.T) {
	defer func(prev func(string) bool) { SensitiveAttribute = prev }(SensitiveAttribute)
	if sensitiveName("thumbprint") {
		t.Fatal("thumbprint is not sensitive by name")
	}
	SensitiveAttribute = func(name string) bool { return name == "thumbprint" }
	if !sensitiveName("thumbprint") {
		t.Fatal("the hook is not consulted")
	}
	got := string(redactSource([]byte("thumbprint = \"AB12CD\"\n"), nil, nil).bytes)
	if want := "thumbprint = \"(sensitive)\"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRedactSource(t *testing.T) {
	tests := []struct {
		name, src, want string
		extra           []string
		secrets         []string
	}{
		{"plain lines unchanged", "a = \"x\"\nb = 1 # note\n", "a = \"x\"\nb = 1 # note\n", nil, nil},
		{"string", "password = \"Hunter2\"\n", "password = \"(sensitive)\"\n", nil, nil},
		{"misspelt", "  pasword = \"Hunter2\"\n", "  pasword = \"(sensitive)\"\n", nil, nil},
		{"every string on the line", "{ user = \"sa\", password = \"Hunter2\" }\nx = \"y\"\n", "{ user = \"(sensitive)\", password = \"(sensitive)\" }\nx = \"y\"\n", nil, nil},
		{"template", "password = \"a${var.b}c\"\n", "password = \"(sensitive)\"\n", nil, nil},
		{"reference kept", "password = var.master_key_password\n", "password = var.master_key_password\n", nil, nil},
		{"bare word", "password = Hunter2\n", "password = (sensitive)\n", nil, nil},
		{"number", "password = 123456789\n", "password = (sensitive)\n", nil, nil},
		{"function kept", "password = trimspace(\"Hunter2\")\n", "password = trimspace(\"(sensitive)\")\n", nil, nil},
		{"heredoc", "password = <<EOT\nHunter2\n  more\nEOT\nx = \"y\"\n", "password = <<EOT\n(sensitive)\n(sensitive)\nEOT\nx = \"y\"\n", nil, nil},
		{"unterminated heredoc", "password = <<EOT\nHunter2\n", "password = <<EOT\n(sensitive)\n", nil, nil},
		{"multi-line value", "password = join(\"\", [\n  \"Hun\",\n  \"ter2\",\n])\nx = \"y\"\n", "password = join(\"\", [\n  \"(sensitive)\",\n  \"(sensitive)\",\n])\nx = \"y\"\n", nil, nil},
		{"value on the next line", "password =\n  \"Hunter2\"\n", "password =\n  \"(sensitive)\"\n", nil, nil},
		{"missing equals", "password \"Hunter2\"\n", "password \"(sensitive)\"\n", nil, nil},
		{"trailing junk", "password = \"Hunter2\" x\n", "password = \"(sensitive)\" (sensitive)\n", nil, nil},
		{"unterminated string", "password = \"Hunter2\n}\n", "password = \"(sensitive)\n}\n", nil, nil},
		{"invalid character", "password = \"Hunter2\" @ x\n", "password = \"(sensitive)\" (sensitive) (sensitive)\n", nil, nil},
		{"backtick", "password = `Hunter2`\n", "password = (sensitive)\n", nil, nil},
		{"bad line without a name", "x = \"Hunter2\" @\ny = \"z\"\n", "x = \"(sensitive)\" @\ny = \"z\"\n", nil, nil},
		{"quoted key", "x = { \"password\" = \"Hunter2\" }\n", "x = { \"password\" = \"(sensitive)\" }\n", nil, nil},
		{"json key", "{\"password\": \"Hunter2\",\n \"user\": \"sa\"}\n", "{\"password\": \"(sensitive)\",\n \"user\": \"sa\"}\n", nil, nil},
		{"json extra name", "{\"mk\": [\n  \"Hunter2\"\n]}\n", "{\"mk\": [\n  \"(sensitive)\"\n]}\n", []string{"mk"}, nil},
		{"extra name", "mk = \"Hunter2\"\nother = \"x\"\n", "mk = \"(sensitive)\"\nother = \"x\"\n", []string{"mk"}, nil},
		{"label is a name", "variable \"sa_password\" {\n  type = string\n}\n", "variable \"sa_password\" {\n  type = string\n}\n", nil, nil},
		{"sensitive default", "variable \"k\" {\n  sensitive = true\n  default = \"Hunter2\"\n}\n", "variable \"k\" {\n  sensitive = true\n  default = \"(sensitive)\"\n}\n", nil, nil},
		{"non-sensitive default", "variable \"k\" {\n  default = \"x\"\n}\n", "variable \"k\" {\n  default = \"x\"\n}\n", nil, nil},
		{"comment on the line", "password = \"Hunter2\" # was \"Old1\"\n", "password = \"(sensitive)\" # (sensitive)\n", nil, nil},
		{"commented-out password", "# password = \"Hunter2\"\nx = 1\n", "# (sensitive)\nx = 1\n", nil, nil},
		{"known secret anywhere", "x = \"pre-Hunter2-post\"\n", "x = \"pre-(sensitive)-post\"\n", nil, []string{"Hunter2"}},
		{"crlf", "password = \"Hunter2\"\r\nx = \"y\"\r\n", "password = \"(sensitive)\"\r\nx = \"y\"\r\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := map[string]bool{}
			for _, n := range tt.extra {
				extra[n] = true
			}
			rf := redactSource([]byte(tt.src), extra, tt.secrets)
			if got := string(rf.bytes); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if n, m := strings.Count(string(rf.bytes), "\n"), strings.Count(tt.src, "\n"); n != m {
				t.Errorf("%d lines, want %d", n, m)
			}
		})
	}
}

// The mask has a fixed length: two secrets of different lengths give the
// same redacted line.
func TestMaskHidesLength(t *testing.T) {
	a := redactSource([]byte("password = \"ab\"\n"), nil, nil).bytes
	b := redactSource([]byte("password = \""+strings.Repeat("x", 300)+"\"\n"), nil, nil).bytes
	if !bytes.Equal(a, b) {
		t.Fatalf("%q != %q", a, b)
	}
}

func TestLongLinesCut(t *testing.T) {
	long := "name = \"" + strings.Repeat("a", 100000) + "\"\n"
	got := string(redactSource([]byte(long+"x = 1\n"), nil, nil).bytes)
	if len(got) > snippetLineKeep+20 || !strings.Contains(got, ellipsis+"\nx = 1\n") {
		t.Fatalf("not cut: %d bytes, %q", len(got), got[:min(len(got), 300)])
	}
	// A cut never splits a mask, nor a UTF-8 character.
	masked := "password = \"" + strings.Repeat("é", 200) + "\" " + strings.Repeat("b", 300) + "\n"
	got = string(redactSource([]byte(masked), nil, nil).bytes)
	if want := "password = \"(sensitive)\" (sensitive)\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	utf := strings.Repeat("é", 150) + "\n"
	got = string(redactSource([]byte(utf), nil, nil).bytes)
	if !strings.HasSuffix(got, ellipsis+"\n") || !bytes.Equal([]byte(got), bytes.ToValidUTF8([]byte(got), nil)) {
		t.Fatalf("bad cut: %q", got)
	}
}

func TestRedactedPositions(t *testing.T) {
	src := "a = 1\npassword = \"Hunter2-Secret\" x\nb = 2\n"
	rf := redactSource([]byte(src), nil, nil)
	// "password = "(sensitive)" (sensitive)"
	at := func(s string) int { return strings.Index(src, s) }
	tests := []struct {
		name  string
		off   int
		isEnd bool
		want  string // the redacted text from the mapped offset on, up to the line's end
	}{
		{"before", at("a = 1"), false, "a = 1"},
		{"name", at("password"), false, "password = \"(sensitive)\" (sensitive)"},
		{"secret start", at("Hunter2"), false, "(sensitive)\" (sensitive)"},
		{"inside the secret", at("Secret"), false, "(sensitive)\" (sensitive)"},
		{"end inside the secret", at("Secret"), true, "\" (sensitive)"},
		{"after the secret", at("\" x"), false, "\" (sensitive)"},
		{"next line", at("b = 2"), false, "b = 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rf.offset(tt.off, tt.isEnd)
			rest := string(rf.bytes[o:])
			rest = rest[:strings.IndexByte(rest, '\n')]
			if rest != tt.want {
				t.Errorf("offset %d maps to %q, want %q", tt.off, rest, tt.want)
			}
		})
	}
	p := rf.pos(hcl.Pos{Line: 2, Column: 1, Byte: at("password")}, false)
	q := rf.pos(hcl.Pos{Line: 2, Column: 29, Byte: at(" x")}, false)
	if p.Line != 2 || p.Column != 1 || q.Line != 2 || q.Column != 25 {
		t.Errorf("positions %+v %+v", p, q)
	}
}

// Literal passwords in configuration files never reach a rendered
// diagnostic, whatever is wrong on their line; the line is still shown.
func TestSecretsNotInSnippets(t *testing.T) {
	const secret = "Hunter2-Literal-Secret"
	mk := func(body string) string {
		return srv + "master_key \"m\" {\n  server = sql_server.s1\n" + body + "}\n"
	}
	auth := func(line string) string {
		return "sql_server \"s1\" {\n  address = \"10.0.0.4\"\n  authentication {\n    user = \"sa\"\n" + line + "  }\n}\n"
	}
	tests := []struct {
		name, src, summary, shown string
	}{
		{"misspelt in master_key", mk("  pasword = \"" + secret + "\"\n"), "Unsupported argument", `pasword = "(sensitive)"`},
		{"misspelt in authentication", auth("    passwrd = \"" + secret + "\"\n"), "Unsupported argument", `passwrd = "(sensitive)"`},
		{"syntax error after the value", mk("  password = \"" + secret + "\" x\n"), "Missing newline after argument", `password = "(sensitive)" (sensitive)`},
		{"unterminated string", mk("  password = \"" + secret + "\n"), "Unterminated template string", `password = "(sensitive)`},
		{"invalid character", auth("    password = \"" + secret + "\" !@\n"), "Invalid character", `password = "(sensitive)"`},
		{"missing equals", mk("  password \"" + secret + "\"\n"), "Invalid block definition", `password "(sensitive)"`},
		{"unquoted", mk("  password = " + secret + "\n"), "Unknown variable", "password = (sensitive)"},
		{"heredoc misspelt", mk("  pasword = <<EOT\n" + secret + "\nEOT\n"), "Unsupported argument", "pasword = <<EOT"},
		{"wrong type", mk("  password = [\"" + secret + "\"]\n"), "Incorrect attribute value type", `password = ["(sensitive)"]`},
		{"sensitive default", "variable \"k\" {\n  sensitive = true\n  default = \"" + secret + "\"\n  validation {\n    condition = length(var.k) > 100\n    error_message = \"Too short.\"\n  }\n}\n" + srv, "Invalid value for variable", `default = "(sensitive)"`},
		{"local named like a password", "locals {\n  password = \"" + secret + "\"\n}\n" + strings.Replace(srv, "  address", "  port = local.password\n  address", 1), "Incorrect attribute value type", "port = local.password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s, diags, _ := loadSrc(t, tt.src, Vars{})
			found := false
			for _, d := range diags {
				found = found || d.Summary == tt.summary
			}
			if !found {
				t.Fatalf("no %q error; got %s\n%s", tt.summary, errorSummaries(diags), render(t, s, diags))
			}
			for _, color := range []bool{false, true} {
				var b strings.Builder
				if err := s.WriteDiagnostics(&b, diags, color, 78); err != nil {
					t.Fatal(err)
				}
				out := b.String()
				if strings.Contains(out, secret) || strings.Contains(out, "Hunter2") {
					t.Fatalf("the secret is in the output:\n%s", out)
				}
				if !color && !strings.Contains(out, tt.shown) {
					t.Errorf("the snippet does not show %q:\n%s", tt.shown, out)
				}
			}
			for _, jd := range s.JSONDiagnostics(diags) {
				if strings.Contains(jd.Summary+jd.Detail, "Hunter2") {
					t.Errorf("the secret is in a JSON diagnostic: %+v", jd)
				}
			}
		})
	}
}

// A -var value is a file of its own for snippets; for a variable named like
// a secret, though not declared sensitive, it is masked whole.
func TestVarValueNamedLikeASecret(t *testing.T) {
	src := "variable \"sa_password\" {\n  type = number\n}\nvariable \"region\" {\n  type = number\n}\n" + srv
	for _, tc := range []struct {
		arg, hidden, shown string
	}{
		{"sa_password=Hunter2 x", "Hunter2", "1: (sensitive)"},
		{"region=eu west", "", "1: eu west"},
	} {
		_, s, diags, _ := loadSrc(t, src, Vars{Args: []string{tc.arg}})
		out := render(t, s, diags)
		if !diags.HasErrors() || (tc.hidden != "" && strings.Contains(out, tc.hidden)) || !strings.Contains(out, tc.shown) {
			t.Errorf("-var %s:\n%s", tc.arg, out)
		}
	}
}

// Diagnostics that touch no secret print exactly as HCL prints them.
func TestSnippetFormatUnchanged(t *testing.T) {
	src := "locals {\n  n = \"Sales\"\n}\n" + strings.Replace(srv, "  address", "  adress = \"typo\"\n  port = \"x\"\n  address", 1)
	_, s, diags, _ := loadSrc(t, src, Vars{})
	if !diags.HasErrors() {
		t.Fatal("want errors")
	}
	for _, color := range []bool{false, true} {
		var want, got bytes.Buffer
		if err := hcl.NewDiagnosticTextWriter(&want, s.Files(), 78, color).WriteDiagnostics(diags); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteDiagnostics(&got, diags, color, 78); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("color=%v: got\n%s\nwant\n%s", color, got.String(), want.String())
		}
	}
}

// A highlighted secret highlights the mask.
func TestHighlightedSecret(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"main.milink.hcl": "variable \"pw\" {\n  type = string\n  sensitive = true\n  validation {\n    condition = length(var.pw) > 100\n    error_message = \"Too short.\"\n  }\n}\n" + srv,
		"x.vars":          "pw = \"Hunter2-Var-File\" # the password\n",
	})
	_, s, diags := Load(dir, testReg, Vars{Files: []string{filepath.Join(dir, "x.vars")}})
	var b strings.Builder
	if err := s.WriteDiagnostics(&b, diags, true, 78); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "Hunter2") || !strings.Contains(out, "pw = \x1b[1;4m\"(sensitive)\"\x1b[0m # (sensitive)") {
		t.Fatalf("%q", out)
	}
}

// Variable files: the mask says nothing of the value's length, and a line
// that does not parse is masked too.
func TestVarFileMasks(t *testing.T) {
	const decl = "variable \"mk\" {\n  type = string\n  sensitive = true\n  validation {\n    condition = length(var.mk) >= 12\n    error_message = \"Too short.\"\n  }\n}\n"
	tests := []struct {
		name, file, secret, shown string
	}{
		{"refused value", "mk = \"Sh0rt-Sec-2\"\n", "Sh0rt-Sec-2", `mk = "(sensitive)"`},
		{"syntax error on the line", "mk = \"Mk-Zq7-Bad-Line-95\" junk\n", "Mk-Zq7-Bad-Line-95", `mk = "(sensitive)" (sensitive)`},
		{"unterminated", "mk = \"Mk-Zq7-Bad-Line-95\n", "Mk-Zq7-Bad-Line-95", `mk = "(sensitive)`},
		{"missing equals", "mk \"Mk-Zq7-Bad-Line-95\"\n", "Mk-Zq7-Bad-Line-95", `mk "(sensitive)"`},
		{"misspelt name", "mk_pasword = \"Mk-Zq7-Bad-Line-95\"\n", "Mk-Zq7-Bad-Line-95", `mk_pasword = "(sensitive)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{"main.milink.hcl": decl + srv, "x.vars": tt.file})
			_, s, diags := Load(dir, testReg, Vars{Files: []string{filepath.Join(dir, "x.vars")}})
			if !diags.HasErrors() {
				t.Fatal("want an error")
			}
			out := render(t, s, diags)
			if strings.Contains(out, tt.secret) || strings.Contains(out, "**") {
				t.Fatalf("the value or its length shows:\n%s", out)
			}
			if !strings.Contains(out, tt.shown) {
				t.Errorf("the snippet does not show %q:\n%s", tt.shown, out)
			}
		})
	}
}

func TestJSONDiagnostics(t *testing.T) {
	src := "sql_server \"s1\" {\n  adress = \"x\"\n  address = \"10.0.0.4\"\n  authentication {\n    user = \"sa\"\n    password = \"Hunter2-Secret\" x\n  }\n}\n"
	_, s, diags, dir := loadSrc(t, src, Vars{})
	got := s.JSONDiagnostics(diags)
	file := filepath.Join(dir, "main.milink.hcl")
	var adress, newline *JSONDiagnostic
	for i := range got {
		switch got[i].Summary {
		case "Unsupported argument":
			adress = &got[i]
		case "Missing newline after argument":
			newline = &got[i]
		}
		if got[i].Severity != "error" {
			t.Errorf("severity %q", got[i].Severity)
		}
	}
	if adress == nil || newline == nil {
		t.Fatalf("missing diagnostics: %+v", got)
	}
	// An ordinary line: the range as HCL gives it.
	want := JSONRange{Filename: file, Start: JSONPos{Line: 2, Column: 3, Byte: 20}, End: JSONPos{Line: 2, Column: 9, Byte: 26}}
	if adress.Range == nil || *adress.Range != want {
		t.Errorf("range %+v, want %+v", adress.Range, want)
	}
	if !strings.Contains(adress.Detail, `Did you mean "address"?`) {
		t.Errorf("detail %q", adress.Detail)
	}
	// On the secret's line, positions past it move to the line's start: a
	// column after the secret would tell its length.
	lineStart := strings.Index(src, "    password")
	if r := newline.Range; r == nil || r.Start.Line != 6 || r.Start.Column != 1 || r.Start.Byte != lineStart || r.End.Column != 1 {
		t.Errorf("range %+v on the secret's line", newline.Range)
	}
	// Positions before it stay.
	_, s2, diags2, _ := loadSrc(t, strings.Replace(src, "password = \"Hunter2-Secret\" x", "pasword = \"Hunter2-Secret\"", 1), Vars{})
	seen := false
	for _, jd := range s2.JSONDiagnostics(diags2) {
		if strings.Contains(jd.Detail, `"pasword"`) {
			seen = true
			if r := jd.Range; r == nil || r.Start.Line != 6 || r.Start.Column != 5 || r.End.Column != 12 {
				t.Errorf("range %+v of the name before the secret", jd.Range)
			}
		}
	}
	if !seen {
		t.Error("no diagnostic about pasword")
	}
	// No subject, no range; warnings are warnings.
	j := s.JSONDiagnostics(hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "W"}})
	if len(j) != 1 || j[0].Range != nil || j[0].Severity != "warning" {
		t.Errorf("%+v", j)
	}
	var nilSources *Sources
	if j := nilSources.JSONDiagnostics(diags); len(j) != len(diags) {
		t.Errorf("nil Sources: %d diagnostics, want %d", len(j), len(diags))
	}
}

func TestShortenValues(t *testing.T) {
	long := strings.Repeat("a", 100000)
	tests := []struct{ in, want string }{
		{"short", "short"},
		{`The name "x" is bad.`, `The name "x" is bad.`},
		{`A variable named "` + long + `" was given.`, `A variable named "` + strings.Repeat("a", 79) + `…" was given.`},
		{`open ` + long + `: file name too long`, `open ` + strings.Repeat("a", 199) + `… file name too long`},
		{`escaped "` + strings.Repeat(`\"`, 100) + `" end`, `escaped "` + strings.Repeat(`\"`, 39) + `…" end`},
		{`unbalanced "` + strings.Repeat("b ", 60), `unbalanced "` + strings.Repeat("b ", 60)},
		{`"` + strings.Repeat("é", 90) + `"`, `"` + strings.Repeat("é", 79) + `…"`},
	}
	for _, tt := range tests {
		if got := ShortenValues(tt.in); got != tt.want {
			t.Errorf("ShortenValues(%.40q...) = %.200q, want %.200q", tt.in, got, tt.want)
		}
	}
}

// A value of 100,000 characters is not echoed in full: not in a message,
// not in a snippet, not as expression context.
func TestLongValueNotEchoed(t *testing.T) {
	long := strings.Repeat("v", 100000)
	decl := "variable \"region\" {\n  type = string\n  validation {\n    condition = length(var.region) < 10\n    error_message = \"Too long.\"\n  }\n}\n"
	for _, tc := range []struct {
		name string
		src  string
		vars Vars
	}{
		{"undeclared -var name", decl + srv, Vars{Args: []string{long + "=x"}}},
		{"-var value refused", decl + srv, Vars{Args: []string{"region=" + long}}},
		{"value in the file", strings.Replace(srv, "  address", "  encrypt = \""+long+"\"\n  address", 1), Vars{}},
		{"label", "sql_server \"" + long + "\" {\n}\n", Vars{}},
		{"as expression context", "locals {\n  l = \"" + long + "\"\n}\n" + strings.Replace(srv, "  address", "  port = local.l\n  address", 1), Vars{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, s, diags, _ := loadSrc(t, tc.src, tc.vars)
			if !diags.HasErrors() {
				t.Fatal("want an error")
			}
			out := render(t, s, diags)
			if strings.Contains(out, strings.Repeat("v", 300)) {
				t.Fatalf("the value is echoed (%d bytes of output)", len(out))
			}
		})
	}
}
