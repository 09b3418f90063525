package config

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
	"github.com/milink/milink/resources/sqlserver"
)

// bundleKind stands for two databases on its server: one per bundle
// (named after it) and one shared by every bundle ("shared").
var bundleKind = &resources.Kind{
	Type: "bundle",
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "server", Required: true}, {Name: "prefix"},
	}},
	Decode:     func(b *lang.Body, blk resources.BlockInfo) any { return b.Str("prefix", "", false) },
	TargetAttr: "server", TargetType: sqlserver.KindServer,
	Expand: func(x resources.ExpandInput) []resources.Synth {
		name := hcl.Expression(hcl.StaticExpr(cty.StringVal(x.Name), x.Range))
		if p, ok := x.Attrs["prefix"]; ok {
			name = p.Expr
		}
		return []resources.Synth{
			{Type: "database", Name: x.Name + "_db", PerInstance: true,
				Attrs: map[string]hcl.Expression{"server": x.Attrs["server"].Expr, "name": name}},
			{Type: "database", Name: "shared", DependsOn: []string{"database." + x.Name + "_db"},
				Attrs: map[string]hcl.Expression{"server": x.Attrs["server"].Expr}},
		}
	},
	Impl: noopResource{},
}

type noopResource struct{}

func (noopResource) Diff(resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	return resources.Change{}, nil
}
func (noopResource) Apply(_ context.Context, _ resources.ApplyRequest) (resources.Result, error) {
	return resources.Result{}, nil
}

func TestExpand(t *testing.T) {
	reg := kinds.Registry(bundleKind)
	src := minimalServer + `
bundle "a" {
  server = sql_server.s1
}
bundle "b" {
  server   = sql_server.s1
  for_each = toset(["x", "y"])
  prefix   = "p_${each.key}"
}
database "a_db" {
  server = sql_server.s1
  name   = "mine"
}
`
	dir := writeDir(t, map[string]string{"main.milink.hcl": src})
	cfg, s, diags := Load(dir, reg, Vars{})
	if diags.HasErrors() {
		t.Fatalf("load:\n%s", render(t, s, diags))
	}
	got := strings.Join(addrs(cfg), " ")
	for _, a := range []string{"database.a_db", "database.shared", `database.b_db["x"]`, `database.b_db["y"]`} {
		if cfg.Block(a) == nil {
			t.Errorf("no block %s; have %s", a, got)
		}
	}
	// The user's database.a_db wins over bundle.a's part.
	if d := decodeAs[*sqlserver.Database](t, cfg, "database.a_db", nil, true); d.DatabaseName != "mine" {
		t.Errorf("database.a_db is %q, want the written block's \"mine\"", d.DatabaseName)
	}
	if b := cfg.Block("database.a_db"); b.Parent != "" {
		t.Errorf("written block has parent %q", b.Parent)
	}
	// each.key reaches the per-instance part.
	if d := decodeAs[*sqlserver.Database](t, cfg, `database.b_db["y"]`, nil, true); d.DatabaseName != "p_y" {
		t.Errorf(`database.b_db["y"] is %q, want p_y`, d.DatabaseName)
	}
	sh := cfg.Block("database.shared")
	if sh.Parent != "bundle.a" || sh.Target != "sql_server.s1" || strings.Join(sh.DependsOn, ",") != "database.a_db" {
		t.Errorf("database.shared: parent %q target %q depends on %v", sh.Parent, sh.Target, sh.DependsOn)
	}
	// A bundle comes after its parts, written or added.
	for addr, deps := range map[string][]string{
		"bundle.a":      {"database.a_db", "database.shared"},
		`bundle.b["x"]`: {`database.b_db["x"]`, `database.b_db["y"]`, "database.shared"},
	} {
		b := cfg.Block(addr)
		for _, d := range deps {
			if indexOf(b.DependsOn, d) < 0 {
				t.Errorf("%s depends on %v, missing %s", addr, b.DependsOn, d)
			}
		}
	}
}

// An expansion's diagnostics point at the expanded block.
func TestExpandDiagnosticsPointAtParent(t *testing.T) {
	reg := kinds.Registry(bundleKind)
	src := minimalServer + `
bundle "a" {
  server = sql_server.s1
  prefix = 42 + "x"
}
`
	dir := writeDir(t, map[string]string{"main.milink.hcl": src})
	_, s, diags := Load(dir, reg, Vars{})
	if !diags.HasErrors() {
		t.Fatal("no error for a bad prefix")
	}
	out := render(t, s, diags)
	if !strings.Contains(out, `prefix = 42 + "x"`) {
		t.Errorf("diagnostic does not show the written line:\n%s", out)
	}
}
