package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// metaSchema holds the meta-arguments every target and resource block may
// have, as in Terraform; the kinds never see them.
var metaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "depends_on"}, {Name: "for_each"}, {Name: "count"}},
}

// decodeBlocks expands and checks the target and resource blocks.
func (l *loader) decodeBlocks(cfg *Config, blocks []*hcl.Block) {
	type written struct {
		b    *hcl.Block
		kind *resources.Kind
		meta hcl.Attributes
		body hcl.Body
	}
	var all []written
	declared := map[string]hcl.Range{} // type.name → where
	for _, b := range blocks {
		k := l.reg.Kind(b.Type)
		name := k.Type + "." + b.Labels[0]
		if prev, ok := declared[name]; ok {
			l.diags = append(l.diags, duplicate(b.Type, b.Labels[0], b, prev))
			continue
		}
		declared[name] = b.DefRange
		content, rest, diags := b.Body.PartialContent(metaSchema)
		l.diags = append(l.diags, diags...)
		all = append(all, written{b, k, content.Attributes, rest})
	}

	// Expansions (Kind.Expand): a block that stands for further blocks
	// adds those not written already, and comes after all of them.
	parts := map[int][]string{} // index in all → the parts' name addresses
	parent := map[int]string{}  // index in all → the expanding block's name address
	after := map[int][]string{} // index in all → Synth.DependsOn
	for i, n := 0, len(all); i < n; i++ {
		w := all[i]
		if w.kind.Expand == nil {
			continue
		}
		content, _, _ := w.body.PartialContent(w.kind.Schema)
		_, forEach := w.meta["for_each"]
		for _, s := range w.kind.Expand(resources.ExpandInput{Name: w.b.Labels[0], Attrs: content.Attributes, Range: w.b.DefRange, ForEach: forEach}) {
			k := l.reg.Kind(s.Type)
			if k == nil {
				panic(fmt.Sprintf("config: %s expands to unknown kind %q", w.kind.Type, s.Type))
			}
			name := s.Type + "." + s.Name
			parts[i] = append(parts[i], name)
			if _, ok := declared[name]; ok {
				continue
			}
			declared[name] = w.b.DefRange
			meta := hcl.Attributes{}
			if s.PerInstance {
				for _, m := range []string{"for_each", "count"} {
					if a, ok := w.meta[m]; ok {
						meta[m] = a
					}
				}
			}
			hb := &hcl.Block{Type: s.Type, Labels: []string{s.Name}, DefRange: w.b.DefRange, TypeRange: w.b.TypeRange}
			parent[len(all)] = w.kind.Type + "." + w.b.Labels[0]
			after[len(all)] = s.DependsOn
			all = append(all, written{hb, k, meta, newSynthBody(s, w.b.DefRange)})
		}
	}

	// Expand for_each and count: each instance is a block of its own.
	for i, w := range all {
		for _, inst := range l.expand(w.b, w.meta) {
			blk := &Block{
				Kind:      w.kind,
				Type:      w.kind.Type,
				Name:      w.b.Labels[0],
				Key:       inst.key,
				Body:      w.body,
				DeclRange: w.b.DefRange,
				Parent:    parent[i],
				each:      inst.each,
			}
			blk.Addr = instanceAddr(blk.Type, blk.Name, inst.key)
			cfg.Blocks = append(cfg.Blocks, blk)
		}
	}

	cfg.index()
	byName := cfg.byName
	for i, w := range all {
		insts := byName[w.kind.Type+"."+w.b.Labels[0]]
		var deps []string
		if a, ok := w.meta["depends_on"]; ok {
			deps = l.resolveDeps(a, byName)
		}
		for _, p := range append(parts[i], after[i]...) {
			for _, b := range byName[p] {
				deps = append(deps, b.Addr)
			}
		}
		refs := l.references(w.body, byName)
		if own := len(refs) - len(without(refs, w.kind.Type+"."+w.b.Labels[0])); own > 0 {
			// A block's value is what its body makes it: it cannot be an
			// input of that body (planning would only find it unknown).
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Self-referential block",
				Detail:   fmt.Sprintf("The arguments of %s.%s refer to the block itself; use each.key, each.value or count.index for what differs between its instances.", w.kind.Type, w.b.Labels[0]),
				Subject:  w.b.DefRange.Ptr(),
			})
		}
		for _, b := range insts {
			b.DependsOn = deps // naming itself is a cycle, reported below
			b.Refs = without(refs, b.NameAddr())
			if w.kind.Role == resources.RoleResource {
				b.Target = l.targetRef(b, w.kind.TargetAttr, w.kind.TargetType, byName)
				for _, r := range w.kind.OtherTargets {
					if a := l.targetRef(b, r.Attr, r.Type, byName); a != "" {
						if b.Others == nil {
							b.Others = map[string]string{}
						}
						b.Others[r.Attr] = a
					}
				}
			}
		}
	}

	// Check every body once now, with other blocks' values unknown, so
	// that validate reports all the configuration alone can show.
	identities := map[string]hcl.Range{}
	perTarget := map[string]hcl.Range{}
	for _, b := range cfg.Blocks {
		v, diags := cfg.Decode(b, nil, false)
		l.diags = append(l.diags, diags...)
		if b.Kind.Role != resources.RoleResource || b.Target == "" {
			continue
		}
		if b.Kind.OnePerTarget {
			key := b.Type + "@" + b.Target
			if prev, ok := perTarget[key]; ok {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s for %s", b.Type, b.Target),
					Detail:   fmt.Sprintf("%s already has a %s block, at %s; at most one is allowed per %s.", b.Target, b.Type, prev, b.Kind.TargetType),
					Subject:  b.DeclRange.Ptr(),
				})
			} else {
				perTarget[key] = b.DeclRange
			}
		}
		if b.Kind.Identity != nil && !diags.HasErrors() {
			if id := b.Kind.Identity(v); id != "" {
				key := b.Type + "@" + b.Target + "@" + strings.ToLower(id)
				if prev, ok := identities[key]; ok {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  fmt.Sprintf("Duplicate %s", b.Type),
						Detail:   fmt.Sprintf("The %s %q on %s is already declared at %s.", b.Type, id, b.Target, prev),
						Subject:  b.DeclRange.Ptr(),
					})
				} else {
					identities[key] = b.DeclRange
				}
			}
		}
	}
	l.checkCycles(cfg)
}

// instance is one expansion of a block.
type instance struct {
	key  cty.Value
	each map[string]cty.Value
}

// expand evaluates for_each or count. Their values must be known when the
// configuration is loaded (from variables and locals), as Terraform
// requires; under validate an unknown one yields a single instance whose
// key is unknown.
func (l *loader) expand(b *hcl.Block, meta hcl.Attributes) []instance {
	fe, hasFE := meta["for_each"]
	cnt, hasCount := meta["count"]
	switch {
	case hasFE && hasCount:
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid combination of \"count\" and \"for_each\"",
			Detail:   "A block may have count or for_each, not both.",
			Subject:  cnt.NameRange.Ptr(),
		})
		return nil
	case hasCount:
		v, diags := cnt.Expr.Value(l.ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			return nil
		}
		v, _ = lang.Unmarked(v)
		if !v.IsKnown() {
			return []instance{{key: cty.UnknownVal(cty.Number), each: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.UnknownVal(cty.Number)})}}}
		}
		n, err := convert.Convert(v, cty.Number)
		var count int
		ok := err == nil && !n.IsNull()
		if ok {
			count, ok = lang.WholeNumber(n.AsBigFloat(), 0, 10000)
		}
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid count argument",
				Detail:   "The count argument must be a whole number from 0 to 10000.",
				Subject:  cnt.Expr.Range().Ptr(),
			})
			return nil
		}
		out := make([]instance, count)
		for i := range out {
			idx := cty.NumberIntVal(int64(i))
			out[i] = instance{key: idx, each: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": idx})}}
		}
		return out
	case hasFE:
		v, diags := fe.Expr.Value(l.ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			return nil
		}
		if v.ContainsMarked() {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid for_each argument",
				Detail:   "for_each cannot use a sensitive value: its keys become part of addresses, which are shown everywhere.",
				Subject:  fe.Expr.Range().Ptr(),
			})
			return nil
		}
		if !v.IsWhollyKnown() {
			return []instance{{key: cty.UnknownVal(cty.String), each: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})}}}
		}
		ty := v.Type()
		bad := func(why string) []instance {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid for_each argument",
				Detail:   "The for_each argument must be a map, or a set of strings; " + why + ".",
				Subject:  fe.Expr.Range().Ptr(),
			})
			return nil
		}
		if v.IsNull() {
			return bad("it is null")
		}
		var out []instance
		switch {
		case ty.IsMapType() || ty.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				out = append(out, instance{key: k, each: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": e})}})
			}
		case ty.IsSetType() && ty.ElementType() == cty.String:
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.IsNull() {
					return bad("it holds a null element")
				}
				out = append(out, instance{key: e, each: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": e, "value": e})}})
			}
		case ty.IsListType() || ty.IsTupleType():
			return bad("a list has no keys; use toset(...) for a list of strings")
		default:
			return bad(fmt.Sprintf("it is %s", ty.FriendlyName()))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].key.AsString() < out[j].key.AsString() })
		return out
	}
	return []instance{{key: cty.NilVal}}
}

// refTarget reads a traversal that names a block: TYPE.NAME or
// TYPE.NAME[KEY]. It returns the block name address and, when indexed,
// the instance address.
func refTarget(tr hcl.Traversal) (nameAddr, instAddr string, ok bool) {
	if len(tr) < 2 {
		return "", "", false
	}
	attr, isAttr := tr[1].(hcl.TraverseAttr)
	if !isAttr {
		return "", "", false
	}
	nameAddr = tr.RootName() + "." + attr.Name
	if len(tr) >= 3 {
		if ix, isIx := tr[2].(hcl.TraverseIndex); isIx && ix.Key.IsKnown() && !ix.Key.IsNull() {
			switch ix.Key.Type() {
			case cty.String, cty.Number:
				instAddr = instanceAddr(tr.RootName(), attr.Name, ix.Key)
			}
		}
	}
	return nameAddr, instAddr, true
}

// resolveDeps turns depends_on into block instance addresses.
func (l *loader) resolveDeps(a *hcl.Attribute, byName map[string][]*Block) []string {
	exprs, diags := hcl.ExprList(a.Expr)
	l.diags = append(l.diags, diags...)
	var out []string
	for _, e := range exprs {
		tr, diags := hcl.AbsTraversalForExpr(e)
		nameAddr, instAddr, ok := refTarget(tr)
		if diags.HasErrors() || !ok || len(tr) > 3 || (len(tr) == 3 && instAddr == "") {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid depends_on reference",
				Detail:   "Each element of depends_on is a reference to a block, such as master_key.sql01 or database.sales.",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		insts, ok := l.lookup(tr.RootName(), nameAddr, e.Range(), "depends_on names", byName)
		if !ok {
			continue
		}
		out = append(out, l.pick(insts, instAddr, e.Range())...)
	}
	return dedupe(out)
}

// pick is every instance, or the one named; naming one that does not
// exist is an error (a dependency must not silently disappear).
func (l *loader) pick(insts []*Block, instAddr string, rng hcl.Range) []string {
	var out, keys []string
	for _, b := range insts {
		if instAddr == "" || b.Addr == instAddr {
			out = append(out, b.Addr)
		}
		keys = append(keys, b.Addr)
	}
	if len(out) == 0 && !(len(insts) == 1 && insts[0].Key != cty.NilVal && !insts[0].Key.IsKnown()) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared block",
			Detail:   fmt.Sprintf("There is no %s; the instances are: %s.", instAddr, strings.Join(keys, ", ")),
			Subject:  rng.Ptr(),
		})
	}
	return out
}

// lookup finds a referenced block name, reporting an unknown kind or an
// undeclared block with the closest name.
func (l *loader) lookup(typ, nameAddr string, rng hcl.Range, what string, byName map[string][]*Block) ([]*Block, bool) {
	if l.reg.Kind(typ) == nil {
		hint := ""
		if s := suggest(typ, l.reg.SortedTypes()); s != "" {
			hint = fmt.Sprintf(" Did you mean %q?", s)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   fmt.Sprintf("%q is not a kind of block; a reference can name %s.%s", typ, strings.Join(l.reg.SortedTypes(), ", "), hint),
			Subject:  rng.Ptr(),
		})
		return nil, false
	}
	insts, ok := byName[nameAddr]
	if !ok {
		known := make([]string, 0, len(byName))
		for n := range byName {
			known = append(known, n)
		}
		sort.Strings(known)
		hint := ""
		if s := suggest(nameAddr, known); s != "" {
			hint = fmt.Sprintf(" Did you mean %s?", s)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared block",
			Detail:   fmt.Sprintf("%s %s, which is not declared.%s", what, nameAddr, hint),
			Subject:  rng.Ptr(),
		})
		return nil, false
	}
	return insts, true
}

// references lists the blocks a body's expressions refer to. Roots that
// are not kinds (var, local, each, count, path) are the evaluator's
// business.
func (l *loader) references(body hcl.Body, byName map[string][]*Block) []string {
	var out []string
	for _, tr := range traversals(body) {
		root := tr.RootName()
		if l.reg.Kind(root) == nil {
			continue
		}
		nameAddr, instAddr, ok := refTarget(tr)
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference",
				Detail:   fmt.Sprintf("A reference to a %s block names it: %s.NAME.", root, root),
				Subject:  tr.SourceRange().Ptr(),
			})
			continue
		}
		insts, ok := l.lookup(root, nameAddr, tr.SourceRange(), "This refers to", byName)
		if !ok {
			continue
		}
		out = append(out, l.pick(insts, instAddr, tr.SourceRange())...)
	}
	return dedupe(out)
}

// traversals walks a native-syntax body, nested blocks included.
func traversals(body hcl.Body) []hcl.Traversal {
	var out []hcl.Traversal
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		names := make([]string, 0, len(b.Attributes))
		for n := range b.Attributes {
			if n != "depends_on" && n != "for_each" && n != "count" { // meta-arguments: resolveDeps and expand read them
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, b.Attributes[n].Expr.Variables()...)
		}
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	switch b := body.(type) {
	case *hclsyntax.Body:
		walk(b)
	default:
		// A partial content body hides its syntax tree; its attributes
		// are still reachable.
		if attrs, diags := body.JustAttributes(); !diags.HasErrors() {
			for _, a := range attrs {
				out = append(out, a.Expr.Variables()...)
			}
		}
	}
	return out
}

// targetRef reads a target attribute of the block (the kind's TargetAttr,
// or one of its OtherTargets) as a reference to a block of type typ.
func (l *loader) targetRef(b *Block, attr, typ string, byName map[string][]*Block) string {
	k := &resources.Kind{TargetAttr: attr, TargetType: typ}
	attrs, _ := b.Body.JustAttributes()
	a, ok := attrs[k.TargetAttr]
	if !ok {
		return "" // the kind's schema reports it as required
	}
	example := k.TargetType + ".NAME"
	tr, diags := hcl.AbsTraversalForExpr(a.Expr)
	nameAddr, instAddr, ok := refTarget(tr)
	if diags.HasErrors() || !ok || tr.RootName() != k.TargetType || (len(tr) > 2 && instAddr == "") || len(tr) > 3 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s reference", k.TargetAttr),
			Detail:   fmt.Sprintf("The argument %q must be a reference to a %s block, such as %s.", k.TargetAttr, k.TargetType, example),
			Subject:  a.Expr.Range().Ptr(),
		})
		return ""
	}
	insts, found := byName[nameAddr]
	if !found {
		var names []string
		for n := range byName {
			if strings.HasPrefix(n, k.TargetType+".") {
				names = append(names, strings.TrimPrefix(n, k.TargetType+"."))
			}
		}
		sort.Strings(names)
		hint := ""
		if s := suggest(strings.TrimPrefix(nameAddr, k.TargetType+"."), names); s != "" {
			hint = fmt.Sprintf(" Did you mean %s.%s?", k.TargetType, s)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared " + k.TargetType,
			Detail:   fmt.Sprintf("There is no %s %q in the configuration.%s", k.TargetType, strings.TrimPrefix(nameAddr, k.TargetType+"."), hint),
			Subject:  a.Expr.Range().Ptr(),
		})
		return ""
	}
	if instAddr == "" && len(insts) == 1 && insts[0].Key == cty.NilVal {
		return insts[0].Addr
	}
	for _, t := range insts {
		if t.Addr == instAddr {
			return t.Addr
		}
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s reference", k.TargetAttr),
		Detail:   fmt.Sprintf("%s has several instances; name one, such as %s[\"KEY\"].", nameAddr, nameAddr),
		Subject:  a.Expr.Range().Ptr(),
	})
	return ""
}

// checkCycles reports a cycle through depends_on, references and target
// references.
func (l *loader) checkCycles(cfg *Config) {
	edges := map[string][]string{}
	where := map[string]hcl.Range{}
	for _, b := range cfg.Blocks {
		e := append(append([]string(nil), b.DependsOn...), b.Refs...)
		e = append(e, b.Targets()...)
		edges[b.Addr] = dedupe(e)
		where[b.Addr] = b.DeclRange
	}
	const (
		visiting = 1
		done     = 2
	)
	mark := map[string]int{}
	var visit func(addr string, path []string) bool
	visit = func(addr string, path []string) bool {
		switch mark[addr] {
		case done:
			return false
		case visiting:
			i := indexOf(path, addr)
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Dependency cycle",
				Detail:   fmt.Sprintf("The blocks depend on each other in a cycle: %s → %s.", strings.Join(path[i:], " → "), addr),
				Subject:  ptr(where[addr]),
			})
			return true
		}
		mark[addr] = visiting
		for _, d := range edges[addr] {
			if visit(d, append(path, addr)) {
				return true
			}
		}
		mark[addr] = done
		return false
	}
	for _, a := range sortedKeys(edges) {
		if visit(a, nil) {
			return // one cycle is enough to explain
		}
	}
}

func ptr(r hcl.Range) *hcl.Range {
	if r.Filename == "" {
		return nil
	}
	return &r
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return 0
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// without drops the block's own instances (a self-reference through an
// expanded block's siblings is allowed: each.value, not a dependency).
func without(xs []string, nameAddr string) []string {
	var out []string
	for _, x := range xs {
		if x != nameAddr && !strings.HasPrefix(x, nameAddr+"[") {
			out = append(out, x)
		}
	}
	return out
}

func suggest(given string, candidates []string) string { return lang.Suggest(given, candidates) }
