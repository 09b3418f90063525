package plan

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/internal/testkind"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
)

// noImpl is a kind whose behaviour the ordering test never calls.
type noImpl struct{}

func (noImpl) Diff(resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	return resources.Change{}, nil
}
func (noImpl) Apply(context.Context, resources.ApplyRequest) (resources.Result, error) {
	return resources.Result{}, nil
}

// linkKind acts on a test_dir and, as its other target, a SQL Server,
// with the given phase.
func linkKind(typ string, phase resources.Phase) *resources.Kind {
	return &resources.Kind{
		Type: typ, Role: resources.RoleResource,
		Schema:     &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "dir", Required: true}, {Name: "server", Required: true}}},
		Decode:     func(*lang.Body, resources.BlockInfo) any { return struct{}{} },
		TargetAttr: "dir", TargetType: "test_dir",
		OtherTargets: []resources.TargetRef{{Attr: "server", Type: "sql_server"}},
		Phase:        phase,
		Impl:         noImpl{},
	}
}

// A change that needs its targets restarted waits for the restart (and
// verification) of its other target; one that does not neither waits for
// it nor holds it up.
func TestOtherTargetRestartOrder(t *testing.T) {
	dir := t.TempDir()
	src := `
test_dir "x" { path = "/tmp" }
sql_server "s" {
  address = "127.0.0.1"
  authentication {
    user     = "sa"
    password = "x"
  }
}
hadr "s" { server = sql_server.s }
test_after "l" {
  dir    = test_dir.x
  server = sql_server.s
}
test_any "m" {
  dir    = test_dir.x
  server = sql_server.s
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := kinds.Registry(append(testkind.Kinds(), linkKind("test_after", resources.PhaseAfterRestart), linkKind("test_any", resources.PhaseAny))...)
	cfg, _, diags := config.Load(dir, reg, config.Vars{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	restart, verify := resources.RestartAddr("sql_server.s"), resources.VerifyAddr("sql_server.s")
	list := []resources.Change{
		{Address: "test_after.l", Kind: "test_after", Target: "test_dir.x", Action: resources.Create},
		{Address: "test_any.m", Kind: "test_any", Target: "test_dir.x", Action: resources.Create},
		{Address: "hadr.s", Kind: "hadr", Target: "sql_server.s", Action: resources.Update, Restart: resources.NeedsRestart},
		{Address: restart, Kind: resources.KindRestart, Target: "sql_server.s", Action: resources.Restart, DependsOn: []string{"hadr.s"}},
		{Address: verify, Kind: resources.KindVerify, Target: "sql_server.s", Action: resources.Verify, DependsOn: []string{restart}},
	}
	out, diags := order(cfg, list)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pos := map[string]int{}
	deps := map[string][]string{}
	for i, ch := range out {
		pos[ch.Address] = i
		deps[ch.Address] = ch.DependsOn
	}
	if !slices.Contains(deps["test_after.l"], verify) || pos["test_after.l"] < pos[verify] {
		t.Errorf("test_after.l does not wait for %s: %v", verify, deps["test_after.l"])
	}
	if slices.Contains(deps["test_any.m"], verify) || slices.Contains(deps["test_any.m"], restart) || slices.Contains(deps[restart], "test_any.m") {
		t.Errorf("test_any.m is tied to the other target's restart: %v; restart %v", deps["test_any.m"], deps[restart])
	}
}
