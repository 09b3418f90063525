// Package testkind is a target and a resource kind for tests of the core:
// a directory on this machine (test_dir) and files in it (test_file),
// which milink creates, updates and, when their block is removed, deletes.
// They exercise what the SQL Server kinds do not: deletion, and a target
// whose refresh reads what its resources name. Only test binaries register
// them.
package testkind

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// Kinds returns test_dir and test_file.
func Kinds() []*resources.Kind { return []*resources.Kind{DirKind, FileKind} }

// Dir is a test_dir block.
type Dir struct {
	Name, Path string
	// FailApply makes every change through this target fail with this
	// message (to test failures).
	FailApply string
}

// File is a test_file block.
type File struct {
	Address, Name, Content string
	Secret                 string // sensitive; only its fingerprint is recorded
}

// DirKind is the test_dir target.
var DirKind = &resources.Kind{
	Type: "test_dir",
	Role: resources.RoleTarget,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true}, {Name: "fail_apply"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &Dir{Name: blk.Name, Path: b.Required("path", false, "in a test_dir block"), FailApply: b.Str("fail_apply", "", false)}
	},
	Impl: opener{},
}

// FileKind is the test_file resource.
var FileKind = &resources.Kind{
	Type: "test_file",
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "dir", Required: true}, {Name: "name"}, {Name: "content"}, {Name: "secret"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		name := blk.Name
		if blk.Key != "" {
			name = blk.Key
		}
		f := &File{Address: blk.Address, Name: b.Str("name", name, false), Content: b.Str("content", "", false), Secret: b.Str("secret", "", true)}
		if strings.ContainsAny(f.Name, `/\`) {
			b.Errorf(b.Attr("name"), "Invalid file name", "A test_file name is a plain file name.")
		}
		return f
	},
	TargetAttr: "dir", TargetType: "test_dir",
	Identity: func(cfg any) string { return cfg.(*File).Name },
	Removal:  resources.RemoveDelete,
	Impl:     fileImpl{},
}

type opener struct{}

// Opens counts the targets opened, for tests that check reuse.
var Opens struct {
	sync.Mutex
	N int
}

func (opener) Open(_ context.Context, _ resources.Env, address string, cfg any) (resources.Target, error) {
	d := cfg.(*Dir)
	if _, err := os.Stat(d.Path); err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", d.Path, err)
	}
	Opens.Lock()
	Opens.N++
	Opens.Unlock()
	return &Target{addr: address, dir: d}, nil
}

// Target is an open test_dir.
type Target struct {
	addr string
	dir  *Dir
	mu   sync.Mutex
}

// Address is the target's address.
func (t *Target) Address() string { return t.addr }

// Close does nothing.
func (t *Target) Close() error { return nil }

// Observation is what a refresh of a test_dir found.
type Observation struct {
	Addr, Path string
	Files      map[string]string // name → content, for the files the configuration names
	Entries    int               // files in the directory
}

// Refresh reads the files the resources on it name.
func (t *Target) Refresh(_ context.Context, res []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	o := &Observation{Addr: t.addr, Path: t.dir.Path, Files: map[string]string{}}
	entries, err := os.ReadDir(t.dir.Path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read " + t.addr, Detail: err.Error()}}
	}
	o.Entries = len(entries)
	for _, r := range res {
		if f, ok := r.Config.(*File); ok && f.Name != "" {
			if data, err := os.ReadFile(filepath.Join(t.dir.Path, f.Name)); err == nil {
				o.Files[f.Name] = string(data)
			}
		}
	}
	return o, nil
}

// Summary is the plan's header.
func (o *Observation) Summary() resources.TargetSummary {
	return resources.TargetSummary{Address: o.Addr, Type: "test_dir", Where: o.Path}
}

// Values lets other blocks refer to test_dir.NAME.entries.
func (o *Observation) Values() map[string]cty.Value {
	return map[string]cty.Value{"entries": cty.NumberIntVal(int64(o.Entries))}
}

type fileImpl struct{}

func (fileImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	f := req.Config.(*File)
	o := req.Observed.(*Observation)
	after := map[string]any{"name": f.Name, "content": f.Content}
	sensitive := []string(nil)
	if f.Secret != "" {
		after["secret"] = resources.Fingerprint(req.Salt, f.Secret)
		sensitive = []string{"secret"}
	}
	ch := resources.Change{Action: resources.NoOp, After: after, Sensitive: sensitive}
	cur, exists := o.Files[f.Name]
	switch {
	case !exists:
		ch.Action = resources.Create
		ch.Steps = []resources.Step{{Kind: "file", On: req.Target.Address(), Text: "write " + f.Name}}
	case cur != f.Content:
		ch.Action = resources.Update
		ch.Before = map[string]any{"name": f.Name, "content": cur}
		ch.Steps = []resources.Step{{Kind: "file", On: req.Target.Address(), Text: "write " + f.Name}}
	default:
		ch.Before = map[string]any{"name": f.Name, "content": cur}
		if req.Prior != nil {
			if fp, ok := req.Prior.Attributes["secret"]; ok {
				ch.Before["secret"] = fp
			}
		}
	}
	return ch, nil
}

func (fileImpl) Apply(_ context.Context, req resources.ApplyRequest) (resources.Result, error) {
	t := req.Target.(*Target)
	if t.dir.FailApply != "" {
		return resources.Result{}, fmt.Errorf("%s: %s", req.Change.Address, t.dir.FailApply)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if req.Change.Action == resources.Delete {
		name, _ := req.Change.Before["name"].(string)
		err := os.Remove(filepath.Join(t.dir.Path, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return resources.Result{}, fmt.Errorf("%s: deleting: %w", req.Change.Address, err)
		}
		return resources.Result{}, nil
	}
	f := req.Config.(*File)
	if err := os.WriteFile(filepath.Join(t.dir.Path, f.Name), []byte(f.Content), 0o600); err != nil {
		return resources.Result{}, fmt.Errorf("%s: writing: %w", req.Change.Address, err)
	}
	req.Progress("wrote " + f.Name)
	return resources.Result{Attributes: req.Change.After}, nil
}

// PlanDelete plans the removal of a file whose block is gone.
func (fileImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	name, _ := prior.Attributes["name"].(string)
	return resources.Change{
		Before: prior.Attributes,
		Steps:  []resources.Step{{Kind: "file", On: target.Address(), Text: "remove " + name}},
	}
}
