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
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// Kinds returns test_dir, test_file and test_copy.
func Kinds() []*resources.Kind { return []*resources.Kind{DirKind, FileKind, CopyKind} }

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
	// active counts the changes using the target now: a target serves
	// one change at a time, and a change finding another one fails.
	active atomic.Int32
}

// use marks the target busy for one change, or fails if it already is.
func (t *Target) use(addr string) (done func(), err error) {
	if t.active.Add(1) > 1 {
		t.active.Add(-1)
		return nil, fmt.Errorf("%s: %s is used by another change at the same time", addr, t.addr)
	}
	time.Sleep(2 * time.Millisecond) // long enough for an overlap to show
	return func() { t.active.Add(-1) }, nil
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
	done, err := t.use(req.Change.Address)
	if err != nil {
		return resources.Result{}, err
	}
	defer done()
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

// CheckDelete refuses, unless forced, to delete a file whose content in
// its directory is now "keep" (someone wants it): the checked deletion
// (resources.DeleteChecker) of the planner's tests.
func (f fileImpl) CheckDelete(_ context.Context, req resources.DeleteRequest) (resources.Change, hcl.Diagnostics) {
	name, _ := req.Prior.Attributes["name"].(string)
	t, _ := req.Target.(*Target)
	if t == nil {
		return resources.Change{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No directory", Detail: req.Address}}
	}
	// The refresh reads only the files the configuration names: look.
	if data, err := os.ReadFile(filepath.Join(t.dir.Path, name)); err == nil && string(data) == "keep" && !req.Force {
		return resources.Change{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "File wanted",
			Detail: fmt.Sprintf("%s: %s holds \"keep\"; delete it anyway with -force-delete %s.", req.Address, name, req.Address)}}
	}
	return f.PlanDelete(req.Prior, req.Target), nil
}

// Copy is a test_copy block: a file copied from its primary target, dir
// "from", to its other target, dir "to" (Kind.OtherTargets).
type Copy struct {
	Address, Name string
}

// CopyKind is the test_copy resource: a kind with two targets, whose
// observation needs a Read across both.
var CopyKind = &resources.Kind{
	Type: "test_copy",
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true}, {Name: "to", Required: true}, {Name: "name", Required: true},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &Copy{Address: blk.Address, Name: b.Required("name", false, "in a test_copy block")}
	},
	TargetAttr: "from", TargetType: "test_dir",
	OtherTargets: []resources.TargetRef{{Attr: "to", Type: "test_dir"}},
	Removal:      resources.RemoveForget,
	Impl:         copyImpl{},
}

type copyImpl struct{}

// copyRead is what Read found: the source's content and the copy's.
type copyRead struct {
	src, dst     string
	srcOK, dstOK bool
}

func (copyImpl) Read(_ context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*Copy)
	from := req.Target.(*Target)
	to, ok := req.Others["to"].Target.(*Target)
	if !ok || req.Others["to"].Observed == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No destination", Detail: c.Address + ": the destination was not refreshed"}}
	}
	var r copyRead
	if b, err := os.ReadFile(filepath.Join(from.dir.Path, c.Name)); err == nil {
		r.src, r.srcOK = string(b), true
	}
	if b, err := os.ReadFile(filepath.Join(to.dir.Path, c.Name)); err == nil {
		r.dst, r.dstOK = string(b), true
	}
	if !r.srcOK {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Nothing to copy", Detail: fmt.Sprintf("%s: %s has no file %s", c.Address, from.addr, c.Name)}}
	}
	return r, nil
}

func (copyImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*Copy)
	r := req.Read.(copyRead)
	to := req.Others["to"].Target.Address()
	ch := resources.Change{Action: resources.NoOp, After: map[string]any{"name": c.Name, "content": r.src}}
	if r.dstOK {
		ch.Before = map[string]any{"name": c.Name, "content": r.dst}
	}
	if !r.dstOK || r.dst != r.src {
		ch.Action = resources.Create
		if r.dstOK {
			ch.Action = resources.Update
		}
		ch.Steps = []resources.Step{{Kind: "file", On: to, Text: "copy " + c.Name + " from " + req.Target.Address()}}
	}
	return ch, nil
}

func (copyImpl) Apply(_ context.Context, req resources.ApplyRequest) (resources.Result, error) {
	c := req.Config.(*Copy)
	from := req.Target.(*Target)
	to := req.Others["to"].(*Target)
	for _, t := range []*Target{from, to} {
		done, err := t.use(req.Change.Address)
		if err != nil {
			return resources.Result{}, err
		}
		defer done()
	}
	b, err := os.ReadFile(filepath.Join(from.dir.Path, c.Name))
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: reading: %w", req.Change.Address, err)
	}
	if err := os.WriteFile(filepath.Join(to.dir.Path, c.Name), b, 0o600); err != nil {
		return resources.Result{}, fmt.Errorf("%s: writing: %w", req.Change.Address, err)
	}
	return resources.Result{Attributes: map[string]any{"name": c.Name, "content": string(b)}}, nil
}
