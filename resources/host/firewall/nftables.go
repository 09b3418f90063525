package firewall

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Nftables keeps each milink rule as a base chain of its own, named after
// the rule, in the table "inet milink", which nothing else writes to:
//
//	table inet milink {
//		chain milink-mi-in {
//			type filter hook input priority 0; policy accept;
//			ip saddr { 10.0.0.0/24 } tcp dport { 5022 } accept comment "milink-mi-in: ..."
//		}
//	}
//
// A chain per rule lets Apply replace a rule in one atomic transaction
// (nft -f) without knowing rule handles, and Delete remove it, leaving
// every other table, chain and rule alone.
//
// An accept in one table does not override a drop in another: on a host
// whose own nftables ruleset drops what it does not allow, that ruleset
// must allow the link's ports too (or use firewalld or ufw, which milink
// drives directly).
type Nftables struct{ t host.Transport }

const nftTable = "milink"

func (*Nftables) Name() string { return NameNftables }

func nftHook(d Direction) string {
	if d == Outbound {
		return "output"
	}
	return "input"
}

// script is what nft -f runs to make the rule r (or, del, to remove the
// chain called r.Name): "add" then "delete" makes the delete succeed
// whether or not the chain exists.
func (n *Nftables) script(r Rule, del bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\n", nftTable)
	fmt.Fprintf(&b, "add chain inet %s %s\n", nftTable, r.Name)
	fmt.Fprintf(&b, "delete chain inet %s %s\n", nftTable, r.Name)
	if !del {
		fmt.Fprintf(&b, "add chain inet %s %s { type filter hook %s priority 0; policy accept; }\n", nftTable, r.Name, nftHook(r.Direction))
		for _, u := range nftSplit(r) {
			fmt.Fprintf(&b, "add rule inet %s %s %s\n", nftTable, r.Name, nftRuleText(u, r.comment()))
		}
	}
	return []byte(b.String())
}

// nftSplit is one unit per address family the rule names, or one for both
// when it allows any address.
func nftSplit(r Rule) []unit {
	ports, local := r.ports()
	mk := func(addrs AddrSet) unit {
		return unit{dir: r.Direction, local: local, ports: ports, addrs: addrs, desc: r.Description}
	}
	if len(r.Remote) == 0 {
		return []unit{mk(AddrSet{anyV4, anyV6})}
	}
	var us []unit
	v4, v6 := r.Remote.split()
	if len(v4) > 0 {
		us = append(us, mk(v4))
	}
	if len(v6) > 0 {
		us = append(us, mk(v6))
	}
	return us
}

// nftRuleText is a unit in nft's syntax.
func nftRuleText(u unit, comment string) string {
	var parts []string
	if !(len(u.addrs) == 2 && u.addrs[0] == anyV4 && u.addrs[1] == anyV6) {
		proto := "ip"
		if !u.addrs[0].Addr().Is4() {
			proto = "ip6"
		}
		field := "saddr"
		if u.dir == Outbound {
			field = "daddr"
		}
		items := make([]string, len(u.addrs))
		for i, p := range u.addrs {
			items[i] = p.String()
		}
		parts = append(parts, fmt.Sprintf("%s %s { %s }", proto, field, strings.Join(items, ", ")))
	}
	// Inbound, the local port is the destination; outbound, the source.
	field := "dport"
	if u.local == (u.dir == Outbound) {
		field = "sport"
	}
	parts = append(parts, fmt.Sprintf("tcp %s { %s }", field, u.ports.join(", ", "-")))
	parts = append(parts, "accept", fmt.Sprintf("comment %q", comment))
	return strings.Join(parts, " ")
}

func (n *Nftables) steps(op Op, r Rule, have *Rule) []step {
	switch {
	case nothingToDo(op, r, have):
		return nil
	}
	return []step{{argv: []string{"nft", "-f", "-"}, stdin: n.script(r, op == OpDelete)}}
}

// Describe lists the nft transaction Apply or Delete runs.
func (n *Nftables) Describe(op Op, r Rule, have *Rule) []string { return texts(n.steps(op, r, have)) }

// Apply replaces the rule's chain in one transaction.
func (n *Nftables) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	have, err := n.Read(ctx, r.Name)
	if err != nil {
		return err
	}
	return runSteps(ctx, n.t, n.steps(OpApply, r, have))
}

// Delete removes the rule's chain.
func (n *Nftables) Delete(ctx context.Context, name string) error {
	have, err := n.Read(ctx, name)
	if err != nil {
		return err
	}
	return runSteps(ctx, n.t, n.steps(OpDelete, Rule{Name: name}, have))
}

// nftJSON is what nft -j list prints: a list of objects, one key each.
type nftJSON struct {
	Nftables []map[string]json.RawMessage `json:"nftables"`
}

type nftChain struct {
	Family, Table, Name, Type, Hook, Policy string
	Prio                                    json.RawMessage
}

type nftRule struct {
	Family, Table, Chain, Comment string
	Handle                        int
	Expr                          []map[string]json.RawMessage
}

// Read lists the table and reads the chain called name.
func (n *Nftables) Read(ctx context.Context, name string) (*Rule, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	argv := []string{"nft", "-j", "list", "table", "inet", nftTable}
	out, err := n.t.Exec(ctx, host.Command{Argv: argv})
	if err != nil {
		if strings.Contains(string(out.Stderr), "No such file or directory") {
			return nil, nil // no table: milink has no rule here
		}
		return nil, cmdError(argv, out, err)
	}
	return parseNft(out.Stdout, name)
}

// parseNft finds the rule called name in nft -j list table inet milink.
func parseNft(data []byte, name string) (*Rule, error) {
	var doc nftJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading nft -j list table inet %s: %w", nftTable, err)
	}
	var chain *nftChain
	var units []unit
	for _, obj := range doc.Nftables {
		if raw, ok := obj["chain"]; ok {
			var c nftChain
			if err := json.Unmarshal(raw, &c); err != nil {
				return nil, fmt.Errorf("reading nft -j output: %w", err)
			}
			if c.Family == "inet" && c.Table == nftTable && c.Name == name {
				chain = &c
			}
		}
	}
	if chain == nil {
		return nil, nil
	}
	dir := Inbound
	var chainExtra []string
	switch chain.Hook {
	case "input":
	case "output":
		dir = Outbound
	default:
		chainExtra = append(chainExtra, fmt.Sprintf("chain %s hooks %q, not input or output", name, chain.Hook))
	}
	if chain.Type != "filter" || chain.Policy != "accept" || strings.TrimSpace(string(chain.Prio)) != "0" {
		chainExtra = append(chainExtra, fmt.Sprintf("chain %s is type %q priority %s policy %q, not filter priority 0 policy accept", name, chain.Type, chain.Prio, chain.Policy))
	}
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r nftRule
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("reading nft -j output: %w", err)
		}
		if r.Family != "inet" || r.Table != nftTable || r.Chain != name {
			continue
		}
		units = append(units, nftUnit(r, dir, name))
	}
	if len(units) == 0 {
		return &Rule{Name: name, Direction: dir, Protocol: "tcp", Unexpected: append(chainExtra, fmt.Sprintf("chain inet %s %s holds no rule", nftTable, name))}, nil
	}
	units[0].extra = append(units[0].extra, chainExtra...)
	return assemble(name, units, nftSplit), nil
}

// nftUnit reads one rule of milink's chain.
func nftUnit(r nftRule, dir Direction, name string) unit {
	u := unit{dir: dir}
	var text []string
	desc, ok := parseComment(r.Comment, name)
	if !ok {
		u.extra = append(u.extra, fmt.Sprintf("rule handle %d has comment %q, not milink's", r.Handle, r.Comment))
	}
	u.desc = desc
	accepted := false
	var addrs []netip.Prefix
	sawAddr := false
	for _, e := range r.Expr {
		if len(e) != 1 {
			u.extra = append(u.extra, "an expression nft did not print as one statement")
			continue
		}
		for kind, raw := range e {
			switch kind {
			case "accept":
				accepted = true
				text = append(text, "accept")
			case "match":
				t, err := nftMatch(raw, &u, &addrs, &sawAddr)
				if err != "" {
					u.extra = append(u.extra, fmt.Sprintf("rule handle %d: %s", r.Handle, err))
				}
				text = append(text, t)
			default:
				u.extra = append(u.extra, fmt.Sprintf("rule handle %d: %s %s", r.Handle, kind, compactJSON(raw)))
				text = append(text, kind)
			}
		}
	}
	if !accepted {
		u.extra = append(u.extra, fmt.Sprintf("rule handle %d does not accept", r.Handle))
	}
	if sawAddr {
		u.addrs = NewAddrSet(addrs...)
	} else {
		u.addrs = AddrSet{anyV4, anyV6}
	}
	u.text = fmt.Sprintf("chain %s: %s comment %q # handle %d", name, strings.Join(text, " "), r.Comment, r.Handle)
	return u
}

type nftMatchJSON struct {
	Op    string          `json:"op"`
	Left  json.RawMessage `json:"left"`
	Right json.RawMessage `json:"right"`
}

// nftMatch reads one match into u; it returns the match as text and what
// milink does not write in it.
func nftMatch(raw json.RawMessage, u *unit, addrs *[]netip.Prefix, sawAddr *bool) (string, string) {
	var m nftMatchJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return compactJSON(raw), "unreadable match"
	}
	var left struct {
		Payload *struct{ Protocol, Field string } `json:"payload"`
		Meta    *struct{ Key string }             `json:"meta"`
	}
	_ = json.Unmarshal(m.Left, &left)
	text := compactJSON(m.Left) + " " + m.Op + " " + compactJSON(m.Right)
	if m.Op != "==" && m.Op != "in" {
		return text, "a match with " + m.Op
	}
	switch {
	case left.Meta != nil && left.Meta.Key == "l4proto":
		var v string
		if json.Unmarshal(m.Right, &v) == nil && v == "tcp" {
			return "meta l4proto tcp", ""
		}
		return text, "a protocol other than tcp"
	case left.Payload != nil && (left.Payload.Protocol == "ip" || left.Payload.Protocol == "ip6"):
		want := "saddr"
		if u.dir == Outbound {
			want = "daddr"
		}
		ps, err := nftAddrs(m.Right)
		text = fmt.Sprintf("%s %s %s", left.Payload.Protocol, left.Payload.Field, AddrSet(ps))
		if err != nil {
			return text, err.Error()
		}
		if left.Payload.Field != want {
			return text, "a match on " + left.Payload.Field
		}
		for _, p := range ps {
			if p.Addr().Is4() != (left.Payload.Protocol == "ip") {
				return text, "an address of the other family"
			}
		}
		*sawAddr = true
		*addrs = append(*addrs, ps...)
		return text, ""
	case left.Payload != nil && left.Payload.Protocol == "tcp" && (left.Payload.Field == "dport" || left.Payload.Field == "sport"):
		ports, err := nftPorts(m.Right)
		text = fmt.Sprintf("tcp %s %s", left.Payload.Field, ports)
		if err != nil {
			return text, err.Error()
		}
		local := (left.Payload.Field == "dport") == (u.dir == Inbound)
		if u.ports != nil && local != u.local {
			return text, "matches on both local and remote ports"
		}
		u.local = local
		u.ports = NewPortSet(append(u.ports, ports...)...)
		return text, ""
	}
	return text, "a match milink does not write"
}

// nftValues flattens nft's right-hand side: a value, a prefix, a range,
// or a set of them.
func nftValues(raw json.RawMessage) []json.RawMessage {
	var set struct {
		Set []json.RawMessage `json:"set"`
	}
	if json.Unmarshal(raw, &set) == nil && set.Set != nil {
		return set.Set
	}
	return []json.RawMessage{raw}
}

func nftAddrs(raw json.RawMessage) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range nftValues(raw) {
		var s string
		var pfx struct {
			Prefix *struct {
				Addr string
				Len  int
			}
			Range []string
		}
		switch {
		case json.Unmarshal(v, &s) == nil:
			p, err := ParseAddr(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		case json.Unmarshal(v, &pfx) == nil && pfx.Prefix != nil:
			p, err := ParseAddr(fmt.Sprintf("%s/%d", pfx.Prefix.Addr, pfx.Prefix.Len))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		case len(pfx.Range) == 2:
			lo, err1 := netip.ParseAddr(pfx.Range[0])
			hi, err2 := netip.ParseAddr(pfx.Range[1])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("address range %s", compactJSON(v))
			}
			set, err := addrRange(lo, hi)
			if err != nil {
				return nil, err
			}
			out = append(out, set...)
		default:
			return nil, fmt.Errorf("an address milink does not read: %s", compactJSON(v))
		}
	}
	return out, nil
}

func nftPorts(raw json.RawMessage) (PortSet, error) {
	var rs []PortRange
	for _, v := range nftValues(raw) {
		var n int
		var rng struct{ Range []int }
		switch {
		case json.Unmarshal(v, &n) == nil && n >= 1 && n <= 65535:
			rs = append(rs, PortRange{uint16(n), uint16(n)})
		case json.Unmarshal(v, &rng) == nil && len(rng.Range) == 2 && rng.Range[0] >= 1 && rng.Range[0] <= rng.Range[1] && rng.Range[1] <= 65535:
			rs = append(rs, PortRange{uint16(rng.Range[0]), uint16(rng.Range[1])})
		default:
			return nil, fmt.Errorf("a port milink does not read: %s", compactJSON(v))
		}
	}
	return NewPortSet(rs...), nil
}

func compactJSON(raw json.RawMessage) string {
	return strings.TrimSpace(string(raw))
}

// Shadowed lists the base chains of other tables that drop, by policy,
// what they do not accept on the hooks milink's chains use: an accept in
// milink's table does not override them, so the link's ports stay closed
// until those tables allow them too. Callers show it as a warning.
func (n *Nftables) Shadowed(ctx context.Context) ([]string, error) {
	argv := []string{"nft", "-j", "list", "chains"}
	out, err := run(ctx, n.t, argv, nil)
	if err != nil {
		return nil, err
	}
	return parseShadowed(out.Stdout)
}

func parseShadowed(data []byte) ([]string, error) {
	var doc nftJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading nft -j list chains: %w", err)
	}
	var out []string
	for _, obj := range doc.Nftables {
		raw, ok := obj["chain"]
		if !ok {
			continue
		}
		var c nftChain
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("reading nft -j list chains: %w", err)
		}
		if c.Family == "inet" && c.Table == nftTable || c.Policy != "drop" || c.Hook != "input" && c.Hook != "output" {
			continue
		}
		if c.Family != "inet" && c.Family != "ip" && c.Family != "ip6" {
			continue
		}
		out = append(out, fmt.Sprintf("table %s %s chain %s (hook %s) drops what it does not accept: allow the link's ports there too", c.Family, c.Table, c.Name, c.Hook))
	}
	return out, nil
}
