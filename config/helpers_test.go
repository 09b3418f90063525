package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources/kinds"
	"github.com/milink/milink/resources/sqlserver"
)

// testReg holds every kind milink knows. Package config no longer knows
// any kind itself; resources/sqlserver does not import config, so these
// internal tests can use the real kinds without an import cycle.
var testReg = kinds.Registry()

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
	cfg, s, diags := Load(dir, testReg, vars)
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

// decodeAs decodes the block at addr with the given values of other blocks
// (nil: none known) and returns its kind's value. final asks for every
// value to be known, as planning does. It fails the test on errors.
func decodeAs[T any](t testing.TB, cfg *Config, addr string, values map[string]cty.Value, final bool) T {
	t.Helper()
	b := cfg.Block(addr)
	if b == nil {
		t.Fatalf("no block %s; have %v", addr, addrs(cfg))
	}
	v, diags := cfg.Decode(b, values, final)
	if diags.HasErrors() {
		t.Fatalf("decoding %s: %s", addr, errorSummaries(diags))
	}
	x, ok := v.(T)
	if !ok {
		t.Fatalf("%s decodes to %T", addr, v)
	}
	return x
}

// server decodes sql_server.NAME, every value known.
func server(t testing.TB, cfg *Config, name string) *sqlserver.Server {
	t.Helper()
	return decodeAs[*sqlserver.Server](t, cfg, "sql_server."+name, nil, true)
}

// database decodes the database block at addr, every value known.
func database(t testing.TB, cfg *Config, addr string) *sqlserver.Database {
	t.Helper()
	return decodeAs[*sqlserver.Database](t, cfg, addr, nil, true)
}

// addrs lists the block addresses of cfg, in order.
func addrs(cfg *Config) []string {
	var out []string
	for _, b := range cfg.Blocks {
		out = append(out, b.Addr)
	}
	return out
}

// blocksOf lists the addresses of the blocks of one type on a target.
func blocksOf(cfg *Config, typ, target string) []string {
	var out []string
	for _, b := range cfg.Blocks {
		if b.Type == typ && b.Target == target {
			out = append(out, b.Addr)
		}
	}
	return out
}
