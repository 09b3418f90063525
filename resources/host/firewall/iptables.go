package firewall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Iptables keeps milink's rules in chains of its own, MILINK-INPUT and
// MILINK-OUTPUT of the filter table (with iptables for IPv4, ip6tables for
// IPv6), each jumped to from the top of INPUT or OUTPUT by a rule with the
// comment "milink". Each of a milink rule's iptables rules carries its
// name in a comment:
//
//	-A MILINK-INPUT -s 10.0.0.0/24 -p tcp -m multiport --dports 5022 -m comment --comment milink-mi-in -j ACCEPT
//
// Rules in those chains without milink's comment for a rule are left
// alone, and a chain is removed only once it holds nothing.
//
// iptables rules live until the host restarts unless they are saved
// (netfilter-persistent save, service iptables save): milink does not
// save them, as it cannot know which of those the host uses.
type Iptables struct{ t host.Transport }

func (*Iptables) Name() string { return NameIptables }

const iptJumpComment = "milink"

func iptChain(d Direction) (own, builtin string) {
	if d == Outbound {
		return "MILINK-OUTPUT", "OUTPUT"
	}
	return "MILINK-INPUT", "INPUT"
}

func iptTool(v6 bool) string {
	if v6 {
		return "ip6tables"
	}
	return "iptables"
}

// iptSplit is one unit per address (or per family, for any address) and
// per 15 ports, multiport's limit.
func iptSplit(r Rule) []unit {
	ports, local := r.ports()
	v4, v6 := families(r)
	var us []unit
	for _, p := range append(v4, v6...) {
		for _, c := range ports.chunks(15) {
			us = append(us, unit{dir: r.Direction, local: local, ports: c, addrs: AddrSet{p}, desc: r.Description})
		}
	}
	return us
}

// iptSpec is the rule specification of a unit (after -A/-D and the chain).
func iptSpec(u unit, comment string) []string {
	var spec []string
	addrFlag := "-s"
	if u.dir == Outbound {
		addrFlag = "-d"
	}
	if p := u.addrs[0]; p.Bits() > 0 {
		spec = append(spec, addrFlag, p.String())
	}
	portFlag := "--dports"
	if u.local == (u.dir == Outbound) {
		portFlag = "--sports"
	}
	spec = append(spec, "-p", "tcp", "-m", "multiport", portFlag, u.ports.join(",", ":"), "-m", "comment", "--comment", comment, "-j", "ACCEPT")
	return spec
}

// iptFamily is what iptables -S shows of milink's chains in one family.
type iptFamily struct {
	v6     bool
	chains map[string]bool     // milink's chains that exist
	jumps  map[string][]string // builtin chain -> rules jumping to milink's chain (-S lines)
	others map[string]int      // milink's chain -> rules in it that are not the rule's
	units  []unit              // the rule's units; text is the -S line
}

// observed is how a unit of a family is shown in Rule.Observed: the tool,
// then its -S line.
func iptObserved(v6 bool, line string) string { return iptTool(v6) + " " + line }

func parseIptablesS(out string, v6 bool, name string) (iptFamily, error) {
	f := iptFamily{v6: v6, chains: map[string]bool{}, jumps: map[string][]string{}, others: map[string]int{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		args, err := splitIptables(line)
		if err != nil {
			return f, fmt.Errorf("reading %s -S: %w in %q", iptTool(v6), err, line)
		}
		switch {
		case len(args) == 2 && args[0] == "-N" && (args[1] == "MILINK-INPUT" || args[1] == "MILINK-OUTPUT"):
			f.chains[args[1]] = true
		case len(args) >= 2 && args[0] == "-A" && (args[1] == "INPUT" || args[1] == "OUTPUT"):
			own, _ := iptChain(map[string]Direction{"INPUT": Inbound, "OUTPUT": Outbound}[args[1]])
			if i := slices.Index(args, "-j"); i >= 0 && i+1 < len(args) && args[i+1] == own {
				f.jumps[args[1]] = append(f.jumps[args[1]], line)
			}
		case len(args) >= 2 && args[0] == "-A" && (args[1] == "MILINK-INPUT" || args[1] == "MILINK-OUTPUT"):
			u, ours := iptUnit(args, v6, name)
			if !ours {
				f.others[args[1]]++
				continue
			}
			u.text = iptObserved(v6, line)
			f.units = append(f.units, u)
		}
	}
	return f, nil
}

// iptUnit reads one rule of milink's chain; ours is false when its comment
// is not milink's for name.
func iptUnit(args []string, v6 bool, name string) (u unit, ours bool) {
	u.dir = Inbound
	if args[1] == "MILINK-OUTPUT" {
		u.dir = Outbound
	}
	var addrs AddrSet
	jumped := false
	for i := 2; i < len(args); i++ {
		a := args[i]
		val := ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		switch a {
		case "-s", "-d":
			i++
			p, err := ParseAddr(val)
			if err != nil {
				u.extra = append(u.extra, err.Error())
				continue
			}
			if (a == "-s") != (u.dir == Inbound) {
				u.extra = append(u.extra, fmt.Sprintf("a match on %s %s", a, val))
				continue
			}
			addrs = append(addrs, p)
		case "-p":
			i++
			if val != "tcp" {
				u.extra = append(u.extra, "protocol "+val)
			}
		case "-m":
			i++
			if val != "tcp" && val != "multiport" && val != "comment" {
				u.extra = append(u.extra, "match "+val)
			}
		case "--comment":
			i++
			desc, ok := parseComment(val, name)
			if !ok {
				return u, false
			}
			ours = true
			u.desc = desc
		case "--dport", "--dports", "--sport", "--sports", "--destination-port", "--destination-ports", "--source-port", "--source-ports":
			i++
			ports, err := parseToolPorts(val, ",", ":")
			if err != nil {
				u.extra = append(u.extra, err.Error())
				continue
			}
			local := strings.HasPrefix(a, "--d") == (u.dir == Inbound)
			if u.ports != nil && local != u.local {
				u.extra = append(u.extra, "matches on both local and remote ports")
			}
			u.local = local
			u.ports = NewPortSet(append(u.ports, ports...)...)
		case "-j":
			i++
			jumped = true
			if val != "ACCEPT" {
				u.extra = append(u.extra, "target "+val)
			}
		default:
			u.extra = append(u.extra, "option "+a)
		}
	}
	if !jumped {
		u.extra = append(u.extra, "no target")
	}
	switch {
	case len(addrs) > 1:
		u.extra = append(u.extra, "more than one address")
		u.addrs = NewAddrSet(addrs...)
	case len(addrs) == 1:
		u.addrs = AddrSet{addrs[0]}
	default:
		u.addrs = familyAddrs(nil, v6)
	}
	return u, ours
}

// parseToolPorts reads ports as a tool lists them ("5022,11000:11999").
func parseToolPorts(s, sep, rangeSep string) (PortSet, error) {
	var rs []PortRange
	for _, item := range strings.Split(s, sep) {
		r, err := parsePortRange(item, rangeSep)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return NewPortSet(rs...), nil
}

// splitIptables splits a line of iptables -S, which double-quotes
// arguments holding spaces and escapes " and \ inside them.
func splitIptables(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case quoted && c == '"':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '"':
			quoted, inArg = true, true
		case c == ' ' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// read lists the filter table of both families.
func (ip *Iptables) read(ctx context.Context, name string) ([]iptFamily, error) {
	var fams []iptFamily
	for _, v6 := range []bool{false, true} {
		argv := []string{iptTool(v6), "-w", "-t", "filter", "-S"}
		out, err := run(ctx, ip.t, argv, nil)
		if err != nil {
			return nil, err
		}
		f, err := parseIptablesS(string(out.Stdout), v6, name)
		if err != nil {
			return nil, err
		}
		fams = append(fams, f)
	}
	return fams, nil
}

// Read lists both families' filter tables (iptables -S, ip6tables -S).
func (ip *Iptables) Read(ctx context.Context, name string) (*Rule, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	fams, err := ip.read(ctx, name)
	if err != nil {
		return nil, err
	}
	return iptRule(name, fams), nil
}

func iptRule(name string, fams []iptFamily) *Rule {
	var units []unit
	for _, f := range fams {
		units = append(units, f.units...)
	}
	return assemble(name, units, iptSplit)
}

// iptHave is a rule's units from Rule.Observed, for Describe, which has no
// tables to look at.
func iptHave(have *Rule) []iptFamily {
	fams := []iptFamily{{v6: false}, {v6: true}}
	if have == nil {
		return fams
	}
	for _, o := range have.Observed {
		tool, line, _ := strings.Cut(o, " ")
		v6 := tool == "ip6tables"
		args, err := splitIptables(line)
		if err != nil || len(args) < 2 {
			continue
		}
		u, _ := iptUnit(args, v6, have.Name)
		u.text = o
		i := 0
		if v6 {
			i = 1
		}
		fams[i].units = append(fams[i].units, u)
	}
	return fams
}

// steps is what Apply (or Delete) runs. With known false (Describe), the
// chains and jumps are not known, and the steps that create or remove
// them say when they run.
func (ip *Iptables) steps(op Op, r Rule, fams []iptFamily, known bool) []step {
	name := r.Name
	have := iptRule(name, fams)
	if op == OpApply && have != nil && len(Diff(r, have)) == 0 || op == OpDelete && have == nil {
		return nil
	}
	var want []unit
	if op == OpApply {
		want = iptSplit(r)
	}
	var steps []step
	for _, f := range fams {
		tool := iptTool(f.v6)
		var fwant []unit
		for _, u := range want {
			if u.addrs[0].Addr().Is6() == f.v6 {
				fwant = append(fwant, u)
			}
		}
		adds, dels := reconcile(f.units, fwant)
		if len(adds) > 0 {
			own, builtin := iptChain(r.Direction)
			if !known || !f.chains[own] {
				steps = append(steps, step{argv: []string{tool, "-w", "-N", own}, note: when(known, "when "+own+" does not exist yet")})
			}
			if !known || len(f.jumps[builtin]) == 0 {
				steps = append(steps, step{argv: []string{tool, "-w", "-I", builtin, "1", "-m", "comment", "--comment", iptJumpComment, "-j", own}, note: when(known, "when "+builtin+" does not jump to "+own+" yet")})
			}
			for _, u := range adds {
				steps = append(steps, step{argv: append([]string{tool, "-w", "-A", own}, iptSpec(u, Rule{Name: name, Description: u.desc}.comment())...)})
			}
		}
		left := map[string]int{}
		for _, h := range f.units {
			own, _ := iptChain(h.dir)
			left[own]++
		}
		for _, h := range dels {
			_, line, _ := strings.Cut(h.text, " ")
			args, _ := splitIptables(line)
			args[0] = "-D"
			steps = append(steps, step{argv: append([]string{tool, "-w"}, args...)})
			left[args[1]]--
		}
		// A chain of milink's that is left empty goes, with its jump.
		for _, d := range []Direction{Inbound, Outbound} {
			own, builtin := iptChain(d)
			if !slices.ContainsFunc(dels, func(h unit) bool { return h.dir == d }) || left[own] > 0 || f.others[own] > 0 {
				continue
			}
			if len(adds) > 0 && d == r.Direction {
				continue
			}
			if !known {
				steps = append(steps, step{argv: []string{tool, "-w", "-D", builtin, "-m", "comment", "--comment", iptJumpComment, "-j", own}, note: "when " + own + " holds no other rule"},
					step{argv: []string{tool, "-w", "-X", own}, note: "when " + own + " holds no other rule"})
				continue
			}
			for _, j := range f.jumps[builtin] {
				args, _ := splitIptables(j)
				args[0] = "-D"
				steps = append(steps, step{argv: append([]string{tool, "-w"}, args...)})
			}
			steps = append(steps, step{argv: []string{tool, "-w", "-X", own}})
		}
	}
	return steps
}

// when is note unless the state is known (then the step runs because it
// has to).
func when(known bool, note string) string {
	if known {
		return ""
	}
	return note
}

// Describe lists the iptables commands Apply or Delete runs.
func (ip *Iptables) Describe(op Op, r Rule, have *Rule) []string {
	if nothingToDo(op, r, have) {
		return nil
	}
	if op == OpDelete {
		r = Rule{Name: r.Name}
	}
	return texts(ip.steps(op, r, iptHave(have), false))
}

// Apply adds the rules missing, then deletes those no longer wanted, so
// the ports never close in between.
func (ip *Iptables) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	fams, err := ip.read(ctx, r.Name)
	if err != nil {
		return err
	}
	return runSteps(ctx, ip.t, ip.steps(OpApply, r, fams, true))
}

// Delete deletes the rule's iptables rules, and milink's chains once empty.
func (ip *Iptables) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	fams, err := ip.read(ctx, name)
	if err != nil {
		return err
	}
	return runSteps(ctx, ip.t, ip.steps(OpDelete, Rule{Name: name}, fams, true))
}
