package link

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
)

// LinkSynth is one block a managed_instance_link adds to the
// configuration. It mirrors the core's resources.Synth{Type, Name string;
// Attrs map[string]hcl.Expression; DependsOn []string}: the lead's
// Kind.Expand adapter copies it field by field.
type LinkSynth struct {
	Type, Name string
	Attrs      map[string]hcl.Expression
	DependsOn  []string
}

// Addr is the synthetic block's address.
func (s LinkSynth) Addr() string { return s.Type + "." + s.Name }

// ExpandLink is the managed_instance_link's expansion (the core's
// Kind.Expand, called once per block instance): the blocks the link
// needs, each skipped when the link points at a block of the user's
// instead (the pointer attributes), and the addresses the link itself
// must wait for. name is the block instance's name for the synthetic
// addresses (its label, or label_key for for_each), defaultName the
// link's default name (BlockInfo's Key, or its label: what decodeLink
// takes when name is not written), attrs the link block's attributes
// (body.JustAttributes()), rng its DeclRange.
//
// Synthesised (sql = the sql_server block's name, mi = the
// managed_instance block's name):
//
//	endpoint_certificate.<sql>            { sql_server }
//	mirroring_endpoint.<sql>              { sql_server, adopt_endpoint, certificate* }
//	mi_trust_certificate.<sql>_<mi>       { managed_instance, sql_server, certificate* }
//	partner_certificate.<mi>_<sql>        { sql_server, managed_instance }
//	availability_group.<name>             { sql_server, name, databases, endpoint_url }
//	distributed_availability_group.<name> { sql_server, managed_instance, name, availability_group,
//	                                        instance_availability_group, listener_url, replication }
//
// (* = endpoint_certificate.<x>.name when the link points at one.)
// Every expression is the link's own (errors point at the link block),
// or a literal placed at the link block for a default name. The core
// adds a synthetic block only when no block of its address exists (two
// links on one SQL Server share its endpoint and certificates).
func ExpandLink(name, defaultName string, attrs hcl.Attributes, rng hcl.Range) (synths []LinkSynth, linkDependsOn []string) {
	return expandNamed(name, nil, defaultName, attrs, rng)
}

// expandNamed is ExpandLink with the link's default name given as an
// expression (each.key for a for_each link: every instance has its own
// groups), or nil for the literal defaultName.
func expandNamed(name string, defaultExpr hcl.Expression, defaultName string, attrs hcl.Attributes, rng hcl.Range) (synths []LinkSynth, linkDependsOn []string) {
	sql, sqlOK := refName(attrs["sql_server"], "sql_server")
	mi, miOK := refName(attrs["managed_instance"], "managed_instance")
	if !sqlOK || !miOK {
		return nil, nil // the loader reports the missing or odd target
	}
	lit := func(s string) hcl.Expression {
		return &hclsyntax.LiteralValueExpr{Val: cty.StringVal(s), SrcRange: rng}
	}
	put := func(m map[string]hcl.Expression, attr string) {
		if a := attrs[attr]; a != nil {
			m[attr] = a.Expr
		}
	}
	// use: the pointed-at block's address, or the synthetic one (then added).
	use := func(pointer, typ, synthName string, build func() LinkSynth) string {
		if a := attrs[pointer]; a != nil {
			if addr, ok := pointerAddr(a, typ); ok {
				return addr
			}
		}
		s := build()
		s.Type, s.Name = typ, synthName
		synths = append(synths, s)
		return s.Addr()
	}

	cert := use("endpoint_certificate", "endpoint_certificate", sql, func() LinkSynth {
		m := map[string]hcl.Expression{}
		put(m, "sql_server")
		return LinkSynth{Attrs: m}
	})
	// certName: the pointed-at certificate's name for the blocks that use
	// it; nil leaves their default (the endpoint certificate's default name).
	var certName hcl.Expression
	if a := attrs["endpoint_certificate"]; a != nil {
		if _, ok := pointerAddr(a, "endpoint_certificate"); ok {
			certName = attrOf(a, "name")
		}
	}
	endpoint := use("mirroring_endpoint", "mirroring_endpoint", sql, func() LinkSynth {
		m := map[string]hcl.Expression{}
		put(m, "sql_server")
		if certName != nil {
			m["certificate"] = certName
		}
		put(m, "adopt_endpoint")
		return LinkSynth{Attrs: m, DependsOn: []string{cert}}
	})
	trust := use("trust_certificate", azure.KindTrustCertificate, sql+"_"+mi, func() LinkSynth {
		m := map[string]hcl.Expression{}
		put(m, "managed_instance")
		put(m, "sql_server")
		if certName != nil {
			m["certificate"] = certName
		}
		return LinkSynth{Attrs: m, DependsOn: []string{cert}}
	})
	partner := use("partner_certificate", "partner_certificate", mi+"_"+sql, func() LinkSynth {
		m := map[string]hcl.Expression{}
		put(m, "sql_server")
		put(m, "managed_instance")
		return LinkSynth{Attrs: m}
	})

	// The names, as the link decodes them: its own expressions, or the
	// defaults (AG_<name>, AG_<name>_MI) built from its name.
	linkName := lit(defaultName)
	if defaultExpr != nil {
		linkName = defaultExpr
	}
	if a := attrs["name"]; a != nil {
		linkName = a.Expr
	}
	agName := prefixed("AG_", linkName, "", defaultName, rng)
	var ag string
	if a := attrs["availability_group"]; a != nil {
		if addr, ok := pointerAddr(a, "availability_group"); ok {
			ag = addr
			agName = attrOf(a, "name")
		} else {
			agName = a.Expr
		}
	}
	if ag == "" {
		m := map[string]hcl.Expression{"name": agName}
		put(m, "sql_server")
		put(m, "databases")
		if ip := attrs["initial_primary"]; ip != nil {
			if v, d := ip.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && v.AsString() == "managed_instance" {
				// The managed instance seeds SQL Server: an AG without a database.
				m["databases"] = &hclsyntax.TupleConsExpr{SrcRange: rng, OpenRange: rng}
			}
		}
		if a := attrs["partner_endpoint"]; a != nil {
			m["endpoint_url"] = a.Expr
		}
		s := LinkSynth{Type: "availability_group", Name: name, Attrs: m, DependsOn: []string{endpoint}}
		synths = append(synths, s)
		ag = s.Addr()
	}
	dag := use("distributed_availability_group", "distributed_availability_group", name, func() LinkSynth {
		m := map[string]hcl.Expression{"name": linkName, "availability_group": agName}
		put(m, "sql_server")
		put(m, "managed_instance")
		if a := attrs["instance_availability_group"]; a != nil {
			m["instance_availability_group"] = a.Expr
		} else {
			m["instance_availability_group"] = prefixed("AG_", linkName, "_MI", defaultName, rng)
		}
		if a := attrs["partner_endpoint"]; a != nil {
			m["listener_url"] = a.Expr
		}
		put(m, "replication")
		return LinkSynth{Attrs: m, DependsOn: []string{ag, partner}}
	})
	return synths, []string{cert, endpoint, trust, partner, ag, dag}
}

// refName is the label of the block an attribute refers to
// (sql_server = sql_server.sql01 → sql01).
func refName(a *hcl.Attribute, root string) (string, bool) {
	if a == nil {
		return "", false
	}
	for _, tr := range a.Expr.Variables() {
		if tr.RootName() != root || len(tr) < 2 {
			continue
		}
		if at, ok := tr[1].(hcl.TraverseAttr); ok {
			return at.Name, true
		}
	}
	return "", false
}

// pointerAddr is the address a pointer attribute names (type.name), when
// its expression refers to a block of that type.
func pointerAddr(a *hcl.Attribute, typ string) (string, bool) {
	n, ok := refName(a, typ)
	if !ok {
		return "", false
	}
	return typ + "." + n, true
}

// attrOf is `<the attribute's reference>.<attr>`, or the expression
// itself when it is not a plain reference.
func attrOf(a *hcl.Attribute, attr string) hcl.Expression {
	if st, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr); ok {
		tr := append(hcl.Traversal{}, st.Traversal...)
		tr = append(tr, hcl.TraverseAttr{Name: attr, SrcRange: st.SrcRange})
		return &hclsyntax.ScopeTraversalExpr{Traversal: tr, SrcRange: st.SrcRange}
	}
	return a.Expr
}

// prefixed is "<pre><name><post>" as an expression: a template around
// the link's own name expression, or a literal when it is one.
func prefixed(pre string, name hcl.Expression, post, fallback string, rng hcl.Range) hcl.Expression {
	if lit, ok := name.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
		return &hclsyntax.LiteralValueExpr{Val: cty.StringVal(pre + lit.Val.AsString() + post), SrcRange: rng}
	}
	if e, ok := name.(hclsyntax.Expression); ok {
		parts := []hclsyntax.Expression{&hclsyntax.LiteralValueExpr{Val: cty.StringVal(pre), SrcRange: rng}, e}
		if post != "" {
			parts = append(parts, &hclsyntax.LiteralValueExpr{Val: cty.StringVal(post), SrcRange: rng})
		}
		return &hclsyntax.TemplateExpr{Parts: parts, SrcRange: e.Range()}
	}
	return &hclsyntax.LiteralValueExpr{Val: cty.StringVal(pre + fallback + post), SrcRange: rng}
}

// expandLink is LinkKind.Expand: the core calls it once per written
// block. The availability group and the distributed one are the link's
// own (one per instance of a for_each link); the certificates and the
// endpoint are its SQL Server's, shared by every link on it.
func expandLink(x resources.ExpandInput) []resources.Synth {
	var key hcl.Expression
	if x.ForEach {
		// Each instance's default name is its key, as decodeLink's.
		key = &hclsyntax.ScopeTraversalExpr{SrcRange: x.Range, Traversal: hcl.Traversal{
			hcl.TraverseRoot{Name: "each", SrcRange: x.Range}, hcl.TraverseAttr{Name: "key", SrcRange: x.Range}}}
	}
	synths, _ := expandNamed(x.Name, key, x.Name, x.Attrs, x.Range)
	out := make([]resources.Synth, len(synths))
	for i, s := range synths {
		out[i] = resources.Synth{Type: s.Type, Name: s.Name, Attrs: s.Attrs, DependsOn: s.DependsOn,
			PerInstance: s.Type == "availability_group" || s.Type == "distributed_availability_group"}
	}
	return out
}

// CheckDelete is the link's checked deletion (resources.DeleteChecker).
func (linkImpl) CheckDelete(ctx context.Context, req resources.DeleteRequest) (resources.Change, hcl.Diagnostics) {
	lookup := func(addr string) (resources.Target, bool) {
		if req.Lookup == nil {
			return nil, false
		}
		t, _, ok := req.Lookup(addr)
		return t, ok
	}
	return CheckLinkDelete(ctx, req.Prior, req.Target, req.Force, lookup)
}
