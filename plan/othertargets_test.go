package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/milink/milink/config"
	"github.com/milink/milink/internal/testkind"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
)

// copyConfig has test_copy.c read on test_dir.x and write to test_dir.y,
// while y's own lane writes many files: the copy and those writes must
// not use y at the same time (testkind fails a change that finds its
// target busy).
const copyConfig = `
test_dir "x" { path = "DATA/x" }
test_dir "y" { path = "DATA/y" }
test_file "f" {
  for_each = toset(["a", "b", "c", "d", "e", "f", "g", "h"])
  dir      = test_dir.y
  content  = each.key
}
test_copy "c" {
  from = test_dir.x
  to   = test_dir.y
  name = "src"
}
`

func TestOtherTargets(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.data, "x", "src"), []byte("payload"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(copyConfig)
	cfg := e.load()
	if b := cfg.Block("test_copy.c"); b.Target != "test_dir.x" || b.Others["to"] != "test_dir.y" ||
		strings.Join(b.Targets(), ",") != "test_dir.x,test_dir.y" {
		t.Fatalf("targets: %q, others %v", b.Target, b.Others)
	}
	p, _, _ := e.plan(cfg)
	ch := p.Change("test_copy.c")
	if ch == nil || ch.Action != resources.Create || ch.Target != "test_dir.x" || len(ch.Steps) != 1 || ch.Steps[0].On != "test_dir.y" {
		t.Fatalf("plan: %+v", ch)
	}
	for range 3 { // an overlap is a matter of timing: give it chances
		if err := os.Remove(filepath.Join(e.data, "y", "src")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b", "c", "d"} {
			_ = os.Remove(filepath.Join(e.data, "y", n))
		}
		_, _, err := e.apply()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.read("y/src"); got != "payload" {
		t.Errorf("copy holds %q", got)
	}
	p, _, _ = e.plan(e.load())
	if ch := p.Change("test_copy.c"); ch == nil || ch.Action != resources.NoOp {
		t.Errorf("second plan: %+v", ch)
	}
	// Changed at the source: the copy is updated.
	if err := os.WriteFile(filepath.Join(e.data, "x", "src"), []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _, _ = e.plan(e.load())
	if ch := p.Change("test_copy.c"); ch == nil || ch.Action != resources.Update || ch.Before["content"] != "payload" {
		t.Errorf("after a change at the source: %+v", ch)
	}
}

func TestOtherTargetErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"not a target", `
test_dir "x" { path = "DATA/x" }
test_file "f" { dir = test_dir.x }
test_copy "c" {
  from = test_dir.x
  to   = test_file.f
  name = "src"
}`, `The argument "to" must be a reference to a test_dir block`},
		{"undeclared", `
test_dir "x" { path = "DATA/x" }
test_copy "c" {
  from = test_dir.x
  to   = test_dir.z
  name = "src"
}`, `test_dir.z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.write(tt.src)
			_, _, diags := config.Load(e.dir, kinds.Registry(testkind.Kinds()...), config.Vars{})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Errorf("diags %v, want %q", diags, tt.want)
			}
		})
	}
}

// A Read that fails is the block's error at plan time; the other blocks
// are still planned.
func TestOtherTargetReadFails(t *testing.T) {
	e := newEnv(t)
	e.write(copyConfig) // x/src does not exist
	cfg := e.load()
	st, err := e.backend.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sess := NewSession(resources.Env{})
	defer sess.Close()
	_, diags := Build(context.Background(), cfg, st, sess, Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "has no file src") {
		t.Fatalf("diags %v", diags)
	}
}

// A change whose other target is refreshed after its own is diffed with
// that target's observation: the builder waits for every target.
func TestOtherTargetObserved(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.data, "x", "src"), []byte("p"), 0o600); err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	// Many targets, refreshed concurrently.
	for i := range 20 {
		d := filepath.Join(e.data, fmt.Sprintf("d%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&src, "test_dir \"d%d\" { path = %q }\n", i, d)
		fmt.Fprintf(&src, "test_copy \"c%d\" {\n  from = test_dir.x\n  to = test_dir.d%d\n  name = \"src\"\n}\n", i, i)
	}
	e.write("test_dir \"x\" { path = \"DATA/x\" }\n" + src.String())
	p, st, sess := e.plan(e.load())
	var n int
	for _, ch := range p.Changes {
		if ch.Kind == "test_copy" && ch.Action == resources.Create {
			n++
		}
	}
	if n != 20 {
		t.Fatalf("%d copies planned", n)
	}
	if err := Apply(context.Background(), p, e.load(), st, e.backend, sess, &events{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got := e.read(fmt.Sprintf("d%d/src", i)); got != "p" {
			t.Errorf("d%d: %q", i, got)
		}
	}
}
