package firewall

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Ufw adds milink's rules with ufw, each carrying the comment "<name>"
// (or "<name>: <description>"):
//
//	ufw allow in proto tcp from 10.0.0.0/24 to any port 5022 comment 'milink-mi-in'
//
// and reads them back from the files ufw keeps them in (user.rules and
// user6.rules, whose "### tuple ###" lines record each rule). ufw keeps a
// single copy of rules that match the same traffic: adding one that
// matches an existing rule of someone else's would take that rule over
// (ufw just changes its comment), so Apply refuses, saying which rule is in
// the way, and changes nothing.
//
// ufw saves its rules itself, and applies them when it is active; when it
// is not, the rules wait in its files.
type Ufw struct{ t host.Transport }

func (*Ufw) Name() string { return NameUfw }

// ufwDirs are where ufw keeps user.rules: /etc/ufw, or /lib/ufw before
// ufw 0.34.
var ufwDirs = []string{"/etc/ufw", "/lib/ufw"}

// ufwTuple is one "### tuple ###" line: what ufw matches on.
type ufwTuple struct {
	v6                                    bool
	action, proto, dport, dst, sport, src string
	dir                                   string // "in", "out", "in_eth0", "fwd"...
	apps                                  []string
	comment                               string
	file                                  string
}

// ufwState is what ufw's files hold.
type ufwState struct {
	ipv6   bool
	tuples []ufwTuple
}

func (u *Ufw) read(ctx context.Context) (ufwState, error) {
	st := ufwState{ipv6: true}
	if data, err := u.t.ReadFile(ctx, "/etc/default/ufw"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == "IPV6" {
				st.ipv6 = strings.Trim(strings.TrimSpace(v), `"'`) == "yes"
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("reading /etc/default/ufw: %w", err)
	}
	dir := ""
	for _, d := range ufwDirs {
		ok, err := host.Exists(ctx, u.t, path.Join(d, "user.rules"))
		if err != nil {
			return st, fmt.Errorf("looking for ufw's user.rules: %w", err)
		}
		if ok {
			dir = d
			break
		}
	}
	if dir == "" {
		return st, errors.New("ufw keeps no user.rules in /etc/ufw or /lib/ufw: is ufw installed completely?")
	}
	for _, f := range []string{"user.rules", "user6.rules"} {
		p := path.Join(dir, f)
		data, err := u.t.ReadFile(ctx, p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && f == "user6.rules" {
				continue
			}
			return st, fmt.Errorf("reading %s: %w", p, err)
		}
		ts, err := parseUfwRules(string(data), f)
		if err != nil {
			return st, fmt.Errorf("reading %s: %w", p, err)
		}
		st.tuples = append(st.tuples, ts...)
	}
	return st, nil
}

// parseUfwRules reads the tuples of a user.rules file.
func parseUfwRules(data, file string) ([]ufwTuple, error) {
	var out []ufwTuple
	for _, line := range strings.Split(data, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "### tuple ###")
		if !ok {
			continue
		}
		t, err := parseUfwTuple(strings.TrimSpace(rest), file)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// parseUfwTuple reads "allow tcp 5022 0.0.0.0/0 any 10.0.0.0/24 in
// comment=<hex>": action, protocol, destination port and address, source
// port and address, (application names,) direction.
func parseUfwTuple(s, file string) (ufwTuple, error) {
	t := ufwTuple{file: file, v6: file == "user6.rules"}
	f := strings.Fields(s)
	if n := len(f); n > 0 && strings.HasPrefix(f[n-1], "comment=") {
		b, err := hex.DecodeString(strings.TrimPrefix(f[n-1], "comment="))
		if err != nil {
			return t, fmt.Errorf("tuple %q: comment is not hex", s)
		}
		t.comment = string(b)
		f = f[:n-1]
	}
	switch len(f) {
	case 7:
	case 9:
		t.apps = f[6:8]
		f = append(f[:6:6], f[8])
	default:
		return t, fmt.Errorf("tuple %q has %d fields, not 7 or 9", s, len(f))
	}
	t.action, t.proto, t.dport, t.dst, t.sport, t.src, t.dir = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	return t, nil
}

// observed is a tuple as Rule.Observed shows it (and iptHave reads back):
// the file, the tuple, the comment in clear.
func (t ufwTuple) observed() string {
	s := fmt.Sprintf("%s: %s %s %s %s %s %s", t.file, t.action, t.proto, t.dport, t.dst, t.sport, t.src)
	if len(t.apps) > 0 {
		s += " " + strings.Join(t.apps, " ")
	}
	return s + " " + t.dir + " comment='" + t.comment + "'"
}

func parseUfwObserved(s string) (ufwTuple, error) {
	file, rest, _ := strings.Cut(s, ": ")
	body, comment, _ := strings.Cut(rest, " comment='")
	t, err := parseUfwTuple(body, file)
	t.comment = strings.TrimSuffix(comment, "'")
	return t, err
}

// ufwAddr reads an address of a tuple; any is the family's whole prefix.
func ufwAddr(s string, v6 bool) (netip.Prefix, error) {
	if s == "any" {
		return familyAddrs(nil, v6)[0], nil
	}
	return ParseAddr(s)
}

func ufwPorts(s string) (PortSet, error) {
	if s == "any" {
		return nil, nil
	}
	return parseToolPorts(s, ",", ":")
}

// unit reads a tuple of milink's.
func (t ufwTuple) unit() unit {
	u := unit{text: t.observed()}
	dir, iface, _ := strings.Cut(t.dir, "_")
	switch dir {
	case "in":
		u.dir = Inbound
	case "out":
		u.dir = Outbound
	default:
		u.extra = append(u.extra, "direction "+t.dir)
	}
	if iface != "" {
		u.extra = append(u.extra, "only on interface "+iface)
	}
	if t.action != "allow" {
		u.extra = append(u.extra, "action "+t.action)
	}
	if t.proto != "tcp" {
		u.extra = append(u.extra, "protocol "+t.proto)
	}
	if len(t.apps) > 0 {
		u.extra = append(u.extra, "application profiles "+strings.Join(t.apps, " "))
	}
	remote, local := t.src, t.dst
	localPort, remotePort := t.dport, t.sport
	if u.dir == Outbound {
		remote, local = t.dst, t.src
		localPort, remotePort = t.sport, t.dport
	}
	if p, err := ufwAddr(remote, t.v6); err != nil {
		u.extra = append(u.extra, err.Error())
	} else {
		u.addrs = AddrSet{p}
	}
	if p, err := ufwAddr(local, t.v6); err != nil || p.Bits() != 0 {
		u.extra = append(u.extra, "only to this host's address "+local)
	}
	lp, err1 := ufwPorts(localPort)
	rp, err2 := ufwPorts(remotePort)
	switch {
	case err1 != nil || err2 != nil:
		u.extra = append(u.extra, errors.Join(err1, err2).Error())
	case lp != nil && rp != nil:
		u.extra = append(u.extra, "matches on both local and remote ports")
	case lp != nil:
		u.local, u.ports = true, lp
	default:
		u.ports = rp
	}
	return u
}

// match is what ufw compares to decide that two rules are one: all but
// the action and the comment.
func (t ufwTuple) match() string {
	norm := func(addr string) string {
		if p, err := ufwAddr(addr, t.v6); err == nil {
			return p.String()
		}
		return addr
	}
	ports := func(s string) string {
		if ps, err := ufwPorts(s); err == nil && ps != nil {
			return ps.String()
		}
		return s
	}
	return strings.Join([]string{t.proto, ports(t.dport), norm(t.dst), ports(t.sport), norm(t.src), strings.Join(t.apps, ","), t.dir}, " ")
}

// ufwSplit is one unit per address (per family, for any address, IPv4
// only when ufw's IPv6 is off) and per 15 ports, ufw's limit.
func ufwSplit(ipv6 bool) func(Rule) []unit {
	return func(r Rule) []unit {
		ports, local := r.ports()
		v4, v6 := families(r)
		if !ipv6 && len(r.Remote) == 0 {
			v6 = nil
		}
		var us []unit
		for _, p := range append(v4, v6...) {
			for _, c := range ports.chunks(15) {
				us = append(us, unit{dir: r.Direction, local: local, ports: c, addrs: AddrSet{p}, desc: r.Description})
			}
		}
		return us
	}
}

// tuple is the tuple ufw records for a unit milink adds.
func ufwUnitTuple(u unit, comment string) ufwTuple {
	v6 := u.addrs[0].Addr().Is6()
	anyAddr := familyAddrs(nil, v6)[0].String()
	t := ufwTuple{v6: v6, action: "allow", proto: "tcp", dport: "any", sport: "any", comment: comment, dir: "in", dst: anyAddr, src: u.addrs[0].String()}
	ports := u.ports.join(",", ":")
	if u.dir == Outbound {
		t.dir, t.src, t.dst = "out", anyAddr, u.addrs[0].String()
	}
	if u.local == (u.dir == Inbound) {
		t.dport = ports
	} else {
		t.sport = ports
	}
	return t
}

// addArgv is the ufw command that adds a unit.
func ufwAddArgv(u unit, comment string) []string {
	t := ufwUnitTuple(u, comment)
	argv := []string{"ufw", "allow", t.dir, "proto", "tcp", "from", ufwArg(t.src, u.dir == Outbound)}
	if t.sport != "any" {
		argv = append(argv, "port", t.sport)
	}
	argv = append(argv, "to", ufwArg(t.dst, u.dir == Inbound))
	if t.dport != "any" {
		argv = append(argv, "port", t.dport)
	}
	return append(argv, "comment", comment)
}

// ufwArg writes this host's side as "any" (the family follows from the
// other side, which is always written out).
func ufwArg(addr string, thisHost bool) string {
	if thisHost {
		return "any"
	}
	return addr
}

// deleteArgv is the ufw command that deletes the rule a tuple records.
func ufwDeleteArgv(t ufwTuple) ([]string, error) {
	if len(t.apps) > 0 {
		return nil, fmt.Errorf("ufw rule %q names application profiles; milink cannot delete it by its parts: delete it with ufw delete", t.observed())
	}
	action, logType, _ := strings.Cut(t.action, "_")
	argv := []string{"ufw", "delete", action}
	dir, iface, _ := strings.Cut(t.dir, "_")
	argv = append(argv, dir)
	if iface != "" {
		argv = append(argv, "on", iface)
	}
	if logType != "" {
		argv = append(argv, logType)
	}
	argv = append(argv, "proto", t.proto, "from", t.src)
	if t.sport != "any" {
		argv = append(argv, "port", t.sport)
	}
	argv = append(argv, "to", t.dst)
	if t.dport != "any" {
		argv = append(argv, "port", t.dport)
	}
	return argv, nil
}

// Read reads ufw's rule files.
func (u *Ufw) Read(ctx context.Context, name string) (*Rule, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	st, err := u.read(ctx)
	if err != nil {
		return nil, err
	}
	return ufwRule(name, st), nil
}

func ufwOurs(name string, tuples []ufwTuple) (ours []ufwTuple) {
	for _, t := range tuples {
		if _, ok := parseComment(t.comment, name); ok {
			ours = append(ours, t)
		}
	}
	return ours
}

func ufwRule(name string, st ufwState) *Rule {
	var units []unit
	for _, t := range ufwOurs(name, st.tuples) {
		u := t.unit()
		u.desc, _ = parseComment(t.comment, name)
		units = append(units, u)
	}
	r := assemble(name, units, ufwSplit(st.ipv6))
	if r != nil && !st.ipv6 && len(r.Remote) == 1 && r.Remote[0] == anyV4 {
		r.Remote = nil // IPv6 is off: any IPv4 address is any address
	}
	return r
}

// steps is what Apply or Delete runs, given the rule's tuples; adds are
// the units it adds.
func (u *Ufw) steps(op Op, r Rule, ours []ufwTuple, ipv6 bool) (steps []step, adds []unit, err error) {
	name := r.Name
	var have []unit
	for _, t := range ours {
		h := t.unit()
		h.desc, _ = parseComment(t.comment, name)
		have = append(have, h)
	}
	if op == OpDelete && len(ours) == 0 {
		return nil, nil, nil
	}
	var want []unit
	if op == OpApply {
		if hr := assemble(name, have, ufwSplit(ipv6)); hr != nil && len(Diff(r, ufwFix(hr, ipv6))) == 0 {
			return nil, nil, nil
		}
		want = ufwSplit(ipv6)(r)
	}
	adds, dels := reconcile(have, want)
	for _, a := range adds {
		steps = append(steps, step{argv: ufwAddArgv(a, Rule{Name: name, Description: a.desc}.comment())})
	}
	for i, h := range have {
		if !slices.ContainsFunc(dels, func(d unit) bool { return d.text == h.text }) {
			continue
		}
		// A rule that matches what an add adds is updated by it (ufw
		// changes its action and comment): deleting it would delete the
		// new one.
		if slices.ContainsFunc(adds, func(a unit) bool { return ufwUnitTuple(a, "").match() == ours[i].match() }) {
			continue
		}
		argv, err := ufwDeleteArgv(ours[i])
		if err != nil {
			return nil, nil, err
		}
		steps = append(steps, step{argv: argv})
	}
	return steps, adds, nil
}

func ufwFix(r *Rule, ipv6 bool) *Rule {
	if !ipv6 && len(r.Remote) == 1 && r.Remote[0] == anyV4 {
		r.Remote = nil
	}
	return r
}

// Describe lists the ufw commands Apply or Delete runs.
func (u *Ufw) Describe(op Op, r Rule, have *Rule) []string {
	if nothingToDo(op, r, have) {
		return nil
	}
	var ours []ufwTuple
	if have != nil {
		for _, o := range have.Observed {
			if t, err := parseUfwObserved(o); err == nil {
				ours = append(ours, t)
			}
		}
	}
	if op == OpDelete {
		r = Rule{Name: r.Name}
	}
	steps, _, err := u.steps(op, r, ours, true)
	if err != nil {
		return []string{"# " + err.Error()}
	}
	return texts(steps)
}

// Apply adds the rules missing and deletes those no longer wanted. It
// first checks that none it adds matches a rule of someone else's, which
// ufw would take over.
func (u *Ufw) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	st, err := u.read(ctx)
	if err != nil {
		return err
	}
	if !st.ipv6 {
		if _, v6 := r.Remote.split(); len(v6) > 0 {
			return fmt.Errorf("firewall rule %s names IPv6 addresses (%s), but ufw's IPv6 is off (IPV6=no in /etc/default/ufw): turn it on, or name IPv4 addresses only", r.Name, v6)
		}
	}
	steps, adds, err := u.steps(OpApply, r, ufwOurs(r.Name, st.tuples), st.ipv6)
	if err != nil {
		return err
	}
	for _, a := range adds {
		add := ufwUnitTuple(a, "")
		for _, t := range st.tuples {
			if _, mine := parseComment(t.comment, r.Name); mine || t.match() != add.match() {
				continue
			}
			who := "no comment"
			if t.comment != "" {
				who = fmt.Sprintf("comment %q", t.comment)
			}
			return fmt.Errorf("ufw already has a rule matching what milink would add for %s (%s: %s %s %s %s %s %s %s, %s), which milink did not create; ufw keeps one rule per match, so adding milink's would take that one over: delete that rule (ufw delete) to let milink manage it, or change this rule so they differ",
				r.Name, t.file, t.action, t.proto, t.dport, t.dst, t.sport, t.src, t.dir, who)
		}
	}
	return runSteps(ctx, u.t, steps)
}

// Delete deletes the rule's ufw rules, by what they match.
func (u *Ufw) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	st, err := u.read(ctx)
	if err != nil {
		return err
	}
	steps, _, err := u.steps(OpDelete, Rule{Name: name}, ufwOurs(name, st.tuples), st.ipv6)
	if err != nil {
		return err
	}
	return runSteps(ctx, u.t, steps)
}
