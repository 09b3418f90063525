package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// writeDir writes files (name → content) into a fresh temporary directory.
func writeDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadSrc loads one main.milink.hcl with the given source.
func loadSrc(t testing.TB, src string, vars Vars) (*Config, *Sources, hcl.Diagnostics, string) {
	t.Helper()
	dir := writeDir(t, map[string]string{"main.milink.hcl": src})
	cfg, s, diags := Load(dir, vars)
	return cfg, s, diags, dir
}

func mustLoad(t testing.TB, src string, vars Vars) *Config {
	t.Helper()
	cfg, s, diags, _ := loadSrc(t, src, vars)
	if diags.HasErrors() || cfg == nil {
		t.Fatalf("unexpected diagnostics:\n%s", render(t, s, diags))
	}
	return cfg
}

func render(t testing.TB, s *Sources, diags hcl.Diagnostics) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteDiagnostics(&b, diags, false, 0); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// minimalServer is the smallest valid sql_server block.
const minimalServer = `
sql_server "s1" {
  address = "10.0.0.4"
  authentication {
    user     = "sa"
    password = "Passw0rd!Passw0rd"
  }
}
`

func errorSummaries(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d.Summary)
		}
	}
	return strings.Join(out, "; ")
}
