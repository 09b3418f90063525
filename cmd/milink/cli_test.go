package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/milink/milink/config"
)

// unreachable is a configuration whose server refuses connections at once:
// an error that mentions it shows that milink went as far as connecting.
const unreachable = `sql_server "s1" {
  address         = "127.0.0.1"
  port            = 1
  encrypt         = "disable"
  connect_timeout = "3s"
  authentication {
    user     = "sa"
    password = "x"
  }
}
hadr "s1" {
  server = sql_server.s1
}
`

// runIn runs milink in-process with -chdir=dir, returning the exit code
// and what it printed.
func runIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	sio := &stdio{
		in: strings.NewReader(""), out: &out, err: &errw,
		getenv: func(string) string { return "" }, environ: func() []string { return nil },
	}
	code := run(context.Background(), append([]string{"-chdir=" + dir}, args...), sio)
	return code, out.String(), errw.String()
}

func cliDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Bad input is a clear error (exit 1) on stderr before anything is read,
// locked or contacted, naming what was wrong.
func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", 100000)
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"parallelism 0", []string{"plan", "-parallelism=0"}, "Error: -parallelism must be at least 1 (got 0)"},
		{"parallelism negative", []string{"plan", "-parallelism", "-3"}, "Error: -parallelism must be at least 1 (got -3)"},
		{"apply parallelism 0", []string{"apply", "-auto-approve", "-parallelism=0"}, "Error: -parallelism must be at least 1 (got 0)"},
		{"lock-timeout negative", []string{"plan", "-lock-timeout=-1s"}, "Error: -lock-timeout must not be negative (got -1s)"},
		{"apply lock-timeout negative", []string{"apply", "-lock-timeout=-5m"}, "Error: -lock-timeout must not be negative (got -5m0s)"},
		{"plan argument", []string{"plan", "extra"}, `plan takes no arguments (got "extra")`},
		{"apply two plan files", []string{"apply", "p1", "p2"}, `apply takes at most one plan file (unexpected argument "p2")`},
		{"show two plan files", []string{"show", "p1", "p2"}, `show takes at most one plan file (unexpected argument "p2")`},
		{"validate argument", []string{"validate", "extra"}, `validate takes no arguments (got "extra")`},
		{"fmt argument", []string{"fmt", "extra"}, `fmt takes no arguments (got "extra")`},
		{"fmt -check argument", []string{"fmt", "-check", "extra"}, `fmt takes no arguments (got "extra")`},
		{"state list argument", []string{"state", "list", "extra"}, `state list takes no arguments (got "extra")`},
		{"state show two addresses", []string{"state", "show", "hadr.s1", "extra"}, `state show takes exactly one address (unexpected argument "extra")`},
		{"state unknown", []string{"state", "lst"}, `unknown state subcommand "lst"`},
		{"force-unlock two IDs", []string{"force-unlock", "id1", "id2"}, `force-unlock takes exactly one lock ID (unexpected argument "id2")`},
		{"version argument", []string{"version", "extra"}, `version takes no arguments (got "extra")`},
		{"-version argument", []string{"-version", "extra"}, `version takes no arguments (got "extra")`},
		{"lab demo argument", []string{"lab", "demo", "extra"}, `lab demo takes no arguments (got "extra")`},
		// A value of 100,000 characters is not echoed in full.
		{"long argument", []string{"validate", long}, `validate takes no arguments (got "xxxxxxxx`},
		{"long flag value", []string{"plan", "-parallelism=" + long}, `invalid value "xxxxxxxx`},
		{"long flag name", []string{"plan", "-" + long}, "flag provided but not defined: -xxxxxxxx"},
		{"long command", []string{long}, `unknown command "xxxxxxxx`},
		{"long -var name", []string{"plan", "-var", long + "=1"}, `A variable named "xxxxxxxx`},
		{"long state address", []string{"state", "show", long}, "Error:"},
		{"long plan file", []string{"show", long}, "Error:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cliDir(t, unreachable)
			code, stdout, stderr := runIn(t, dir, tt.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%.2000s", tt.want, stderr)
			}
			if strings.Contains(stdout+stderr, strings.Repeat("x", 300)) {
				t.Errorf("the long value is echoed (stderr %d bytes)", len(stderr))
			}
			if strings.Contains(stderr, "127.0.0.1") {
				t.Errorf("milink contacted the server:\n%s", stderr)
			}
			if strings.Contains(tt.name, "long") {
				return // usage texts go to stdout for some of these
			}
			if stdout != "" && !strings.Contains(tt.name, "command") {
				t.Errorf("stdout: %q", stdout)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "milink.state") {
					t.Errorf("%s was written: nothing should be read or locked", e.Name())
				}
			}
		})
	}
}

// decodeOne decodes stdout as exactly one JSON document.
func decodeOne(t *testing.T, stdout string) jsonDiagnostics {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var doc jsonDiagnostics
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one document on stdout:\n%s", stdout)
	}
	return doc
}

// plan -json and show -json always print one JSON document, with the
// diagnostics when they fail.
func TestJSONOnError(t *testing.T) {
	const secret = "Hunter2-Json-Secret"
	misspelt := strings.Replace(unreachable, `password = "x"`, `pasword = "`+secret+`"`, 1)
	tests := []struct {
		name    string
		config  string
		args    []string
		summary string // of one diagnostic
		line    int    // its range's start line; 0: no range
	}{
		{"configuration error", misspelt, []string{"plan", "-json"}, "Unsupported argument", 8},
		{"connection error", unreachable, []string{"plan", "-json"}, "", 0},
		{"bad flag value", unreachable, []string{"plan", "-json", "-parallelism=0"}, "-parallelism must be at least 1 (got 0)", 0},
		{"unknown flag", unreachable, []string{"plan", "-json", "-bogus"}, "flag provided but not defined: -bogus", 0},
		{"unknown flag first", unreachable, []string{"plan", "-bogus", "-json"}, "flag provided but not defined: -bogus", 0},
		{"argument", unreachable, []string{"plan", "--json", "extra"}, `plan takes no arguments (got "extra"); did you mean 'milink apply extra'?`, 0},
		{"-out directory missing", unreachable, []string{"plan", "-json=true", "-out=nowhere/p.plan"}, "-out=nowhere/p.plan: the directory nowhere does not exist", 0},
		{"show missing plan file", unreachable, []string{"show", "-json", "missing.plan"}, "", 0},
		{"show two plan files", unreachable, []string{"show", "-json", "a", "b"}, `show takes at most one plan file (unexpected argument "b")`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cliDir(t, tt.config)
			code, stdout, stderr := runIn(t, dir, tt.args...)
			if code != exitError {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			doc := decodeOne(t, stdout)
			if doc.FormatVersion != "1.0" || doc.MilinkVersion != version || doc.Errors < 1 || len(doc.Diagnostics) != doc.Errors+doc.Warnings {
				t.Errorf("document: %+v", doc)
			}
			if stderr == "" {
				t.Error("nothing on stderr: the text of the errors still goes there")
			}
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("the secret is printed:\n%s\n%s", stdout, stderr)
			}
			var found *config.JSONDiagnostic
			for i, d := range doc.Diagnostics {
				if d.Severity != "error" && d.Severity != "warning" {
					t.Errorf("severity %q", d.Severity)
				}
				if tt.summary == "" || d.Summary == tt.summary {
					found = &doc.Diagnostics[i]
					break
				}
			}
			if found == nil {
				t.Fatalf("no diagnostic %q in:\n%s", tt.summary, stdout)
			}
			if tt.line == 0 {
				return
			}
			if r := found.Range; r == nil || r.Filename != filepath.Join(dir, "main.milink.hcl") || r.Start.Line != tt.line || r.End.Line != tt.line {
				t.Errorf("range %+v, want line %d of main.milink.hcl", found.Range, tt.line)
			}
		})
	}
	// Without -json (or with -json=false) nothing goes to stdout.
	for _, args := range [][]string{{"plan", "-parallelism=0"}, {"plan", "-json=false", "-parallelism=0"}, {"plan", "-json", "-json=false", "-bogus"}} {
		if code, stdout, _ := runIn(t, cliDir(t, unreachable), args...); code != exitError || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
}
