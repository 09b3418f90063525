package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// Config is a loaded, checked environment: every variable resolved, every
// block's meta-arguments (depends_on, for_each, count) and references
// resolved, every block body checked once against its kind's schema. The
// bodies themselves are kept, not decoded: the planner evaluates each when
// the values it refers to are known (a data source read at plan time, a
// target's observed attributes). Secrets live in the bodies and variables;
// whoever prints or stores what a body decodes to must redact them.
type Config struct {
	Dir string
	// Blocks are the target and resource blocks, for_each and count
	// expanded, in file order.
	Blocks   []*Block
	Registry *resources.Registry
	// Validation is set when the configuration was loaded without every
	// variable value (milink validate): unknown values stand in for the
	// missing ones, so it can be checked but never planned.
	Validation bool
	// Backend is the backend block; nil for the local state file.
	Backend *Backend

	ctx  *hcl.EvalContext // var, local, path and the functions
	sink *lang.Sink

	byAddr map[string]*Block   // block instances by address
	byName map[string][]*Block // instances by block name (database.app)

	// files and variables feed Hash; set by the loader.
	files     map[string][]byte
	variables map[string]Value
	// read holds the files read by file(), by path as written; they enter
	// Hash only as salted fingerprints since they may hold secrets.
	read map[string][]byte
}

// Value is a resolved variable: its value as a string rendering and whether
// it is sensitive.
type Value struct {
	Text      string
	Sensitive bool
}

// Block is one target or resource block instance.
type Block struct {
	Kind *resources.Kind
	Type string // "database"
	Name string // the label, "app"
	// Key is each.key or count.index for an expanded block, cty.NilVal
	// otherwise.
	Key cty.Value
	// Addr is the address: database.app, database.app["sales"], database.app[0].
	Addr string
	// Body is the block body without its meta-arguments.
	Body      hcl.Body
	DeclRange hcl.Range
	// Parent is, for a block another one's expansion added (Kind.Expand),
	// that block's name address (managed_instance_link.payroll); its
	// DeclRange is the parent's.
	Parent string
	// Target is the address of the target block a resource acts on.
	Target string
	// Others are the addresses of the kind's other targets
	// (Kind.OtherTargets), by attribute name.
	Others map[string]string
	// DependsOn lists the block addresses named by depends_on; Refs those
	// the body's expressions refer to (every instance of an expanded
	// block). Both order the plan.
	DependsOn []string
	Refs      []string

	each map[string]cty.Value // each / count for the body's evaluation
}

// Targets lists every target the block acts through: Target, then its
// other targets in the kind's order.
func (b *Block) Targets() []string {
	var out []string
	if b.Target != "" {
		out = append(out, b.Target)
	}
	if b.Kind != nil {
		for _, r := range b.Kind.OtherTargets {
			if a := b.Others[r.Attr]; a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// Info names the block for its kind's Decode.
func (b *Block) Info() resources.BlockInfo {
	info := resources.BlockInfo{Address: b.Addr, Name: b.Name}
	if b.Key != cty.NilVal && b.Key.IsKnown() {
		if b.Key.Type() == cty.String {
			info.Key = b.Key.AsString()
		} else {
			info.Key = b.Key.AsBigFloat().Text('f', -1)
		}
	}
	return info
}

// NameAddr is the address of the block as written (database.app), shared
// by every instance of an expanded block.
func (b *Block) NameAddr() string { return b.Type + "." + b.Name }

// Block returns the block instance at addr, or nil.
func (c *Config) Block(addr string) *Block {
	if c.byAddr != nil {
		return c.byAddr[addr]
	}
	for _, b := range c.Blocks {
		if b.Addr == addr {
			return b
		}
	}
	return nil
}

// index builds the lookups by address and by name, once the blocks are
// known.
func (c *Config) index() {
	c.byAddr = make(map[string]*Block, len(c.Blocks))
	c.byName = map[string][]*Block{}
	for _, b := range c.Blocks {
		c.byAddr[b.Addr] = b
		c.byName[b.NameAddr()] = append(c.byName[b.NameAddr()], b)
	}
}

// Targets returns the target blocks, in file order.
func (c *Config) Targets() []*Block {
	var out []*Block
	for _, b := range c.Blocks {
		if b.Kind.Role == resources.RoleTarget {
			out = append(out, b)
		}
	}
	return out
}

// Secrets lists the texts of the sensitive values known to the
// configuration, for scrubbing messages.
func (c *Config) Secrets() []string { return c.sink.Secrets() }

// Decode reads a block's body with the given values of other blocks (by
// instance address; blocks not given are unknown). With final set every
// value must be known, as planning needs. Secrets met on the way are
// remembered for scrubbing.
func (c *Config) Decode(b *Block, values map[string]cty.Value, final bool) (any, hcl.Diagnostics) {
	sink := &lang.Sink{}
	body := lang.Decode(sink, b.Body, b.Kind.Schema, c.EvalContext(b, values), b.DeclRange, final)
	v := b.Kind.Decode(body, b.Info())
	for _, s := range sink.Secrets() {
		c.sink.AddSecret(s)
	}
	return v, redactDiagnostics(sink.Diags, c.sink.Secrets())
}

// EvalContext is what a block's expressions see: variables, locals, path,
// functions, each/count, and the other blocks' values by type and name
// (objects, or maps and lists of them for expanded blocks). A block whose
// value is not given is unknown.
//
// Only the blocks this one refers to are put in the context (the loader
// checked every reference against the whole configuration), so that
// evaluating a block costs the same in a configuration of ten blocks or of
// ten thousand.
func (c *Config) EvalContext(b *Block, values map[string]cty.Value) *hcl.EvalContext {
	ctx := c.ctx.NewChild()
	vars := map[string]cty.Value{}
	for k, v := range b.each {
		vars[k] = v
	}
	objs := map[string]map[string]cty.Value{}
	for _, ref := range b.Refs {
		r := c.Block(ref)
		if r == nil {
			continue
		}
		if objs[r.Type] == nil {
			objs[r.Type] = map[string]cty.Value{}
		}
		if _, done := objs[r.Type][r.Name]; !done {
			objs[r.Type][r.Name] = groupValue(c.byName[r.NameAddr()], values)
		}
	}
	for typ, obj := range objs {
		vars[typ] = cty.ObjectVal(obj)
	}
	ctx.Variables = vars
	return ctx
}

// groupValue is the value of one block name: the instance's value, or a
// map (for_each) or tuple (count) of them.
func groupValue(insts []*Block, values map[string]cty.Value) cty.Value {
	val := func(b *Block) cty.Value {
		if v, ok := values[b.Addr]; ok {
			return v
		}
		return cty.DynamicVal
	}
	first := insts[0]
	switch {
	case first.Key == cty.NilVal:
		return val(first)
	case !first.Key.IsKnown():
		return cty.DynamicVal
	case first.Key.Type() == cty.Number:
		sorted := append([]*Block(nil), insts...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key.LessThan(sorted[j].Key).True() })
		elems := make([]cty.Value, len(sorted))
		for i, b := range sorted {
			elems[i] = val(b)
		}
		return cty.TupleVal(elems)
	}
	m := map[string]cty.Value{}
	for _, b := range insts {
		m[b.Key.AsString()] = val(b)
	}
	return cty.ObjectVal(m)
}

// instanceAddr is the address of an expanded block's instance.
func instanceAddr(typ, name string, key cty.Value) string {
	switch {
	case key == cty.NilVal:
		return typ + "." + name
	case !key.IsKnown():
		return fmt.Sprintf("%s.%s[*]", typ, name)
	case key.Type() == cty.Number:
		return fmt.Sprintf("%s.%s[%s]", typ, name, key.AsBigFloat().Text('f', -1))
	}
	return fmt.Sprintf("%s.%s[%q]", typ, name, key.AsString())
}

// ParseAddress splits a block address into type, name and key ("" when
// the block is not expanded): database.app["sales"] → database, app,
// "sales" (with quotes).
func ParseAddress(addr string) (typ, name, key string, ok bool) {
	typ, rest, ok := strings.Cut(addr, ".")
	if !ok || typ == "" || rest == "" {
		return "", "", "", false
	}
	name, key = rest, ""
	if i := strings.IndexByte(rest, '['); i >= 0 {
		if !strings.HasSuffix(rest, "]") {
			return "", "", "", false
		}
		name, key = rest[:i], rest[i:]
	}
	return typ, name, key, name != ""
}
