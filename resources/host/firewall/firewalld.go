package firewall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Firewalld keeps each milink rule as a firewalld policy of its own (the
// policy objects of firewalld 0.9 and later): inbound rules in a policy
// from every zone to the host (ingress ANY, egress HOST), outbound rules
// from the host to every zone (ingress HOST, egress ANY). The policy's
// short description is the rule's name and its rich rules the rule:
//
//	rule family="ipv4" source address="10.0.0.0/24" port port="5022" protocol="tcp" accept
//
// The policy is named after the rule (a rule name too long for firewalld
// is shortened, with a hash of it). A policy whose short description is not
// the rule's name is someone else's: Read and Apply refuse to touch it.
//
// When the daemon does not run, firewall-offline-cmd edits the permanent
// configuration (the daemon loads it when it starts). When it runs,
// firewall-cmd changes both the permanent configuration and the running
// firewall. firewalld can only create a policy in its permanent
// configuration and load it with a reload, which drops every change made
// to the running firewall alone: so before creating a policy, Apply checks
// that the running zones, policies and direct rules match the permanent
// ones (its own policy aside), and stops with an error when they do not,
// rather than lose someone's change. Changing or deleting an existing
// policy needs no reload.
type Firewalld struct {
	t host.Transport
	// Running is whether the firewalld daemon runs (New asks).
	Running bool
}

func (*Firewalld) Name() string { return NameFirewalld }

const fwdPolicyDir = "/etc/firewalld/policies"

// fwdVendorPolicyDir holds the policies firewalld ships.
const fwdVendorPolicyDir = "/usr/lib/firewalld/policies"

// fwdMaxName is the longest policy name every firewalld with policies
// takes (the iptables backend's chain names limit it).
const fwdMaxName = 17

// PolicyName is the firewalld policy that holds milink's rule called name.
func PolicyName(name string) string {
	clean := strings.ReplaceAll(name, ".", "_")
	if len(clean) <= fwdMaxName && clean == name {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return clean[:10] + "-" + hex.EncodeToString(sum[:])[:6]
}

func (f *Firewalld) tool() []string {
	if f.Running {
		return []string{"firewall-cmd", "--permanent"}
	}
	return []string{"firewall-offline-cmd"}
}

// fwdPolicy is a policy's XML file.
type fwdPolicy struct {
	XMLName     xml.Name   `xml:"policy"`
	Target      string     `xml:"target,attr"`
	Priority    string     `xml:"priority,attr"`
	Short       string     `xml:"short"`
	Description string     `xml:"description"`
	Ingress     []fwdZone  `xml:"ingress-zone"`
	Egress      []fwdZone  `xml:"egress-zone"`
	Rules       []fwdRich  `xml:"rule"`
	Other       []xmlOther `xml:",any"`
}

type fwdZone struct {
	Name string `xml:"name,attr"`
}

type xmlOther struct {
	XMLName xml.Name
}

// fwdRich is a rich rule, read from XML or from firewall-cmd's text.
type fwdRich struct {
	Family      string     `xml:"family,attr"`
	Priority    string     `xml:"priority,attr"`
	Source      *fwdAddr   `xml:"source"`
	Destination *fwdAddr   `xml:"destination"`
	Port        *fwdPort   `xml:"port"`
	SourcePort  *fwdPort   `xml:"source-port"`
	Accept      *struct{}  `xml:"accept"`
	Other       []xmlOther `xml:",any"`
	text        string     // as firewall-cmd printed it, for --remove-rich-rule
}

type fwdAddr struct {
	Address string `xml:"address,attr"`
	Invert  string `xml:"invert,attr"`
	Ipset   string `xml:"ipset,attr"`
	Mac     string `xml:"mac,attr"`
}

type fwdPort struct {
	Port     string `xml:"port,attr"`
	Protocol string `xml:"protocol,attr"`
}

// String is the rich rule in firewalld's language, as firewall-cmd printed
// it, or as it prints it.
func (r fwdRich) String() string {
	if r.text != "" {
		return r.text
	}
	return r.key()
}

// key is the rich rule as milink reads it (the attributes of elements it
// does not write left out), to compare rules read from XML with rules read
// from firewall-cmd.
func (r fwdRich) key() string {
	var b strings.Builder
	b.WriteString("rule")
	if r.Family != "" {
		fmt.Fprintf(&b, ` family="%s"`, r.Family)
	}
	if r.Priority != "" && r.Priority != "0" {
		fmt.Fprintf(&b, ` priority="%s"`, r.Priority)
	}
	addr := func(kind string, a *fwdAddr) {
		if a == nil {
			return
		}
		fmt.Fprintf(&b, " %s", kind)
		if a.Invert == "true" || a.Invert == "True" {
			b.WriteString(" NOT")
		}
		switch {
		case a.Address != "":
			fmt.Fprintf(&b, ` address="%s"`, a.Address)
		case a.Ipset != "":
			fmt.Fprintf(&b, ` ipset="%s"`, a.Ipset)
		case a.Mac != "":
			fmt.Fprintf(&b, ` mac="%s"`, a.Mac)
		}
	}
	addr("source", r.Source)
	addr("destination", r.Destination)
	port := func(kind string, p *fwdPort) {
		if p != nil {
			fmt.Fprintf(&b, ` %s port="%s" protocol="%s"`, kind, p.Port, p.Protocol)
		}
	}
	port("port", r.Port)
	port("source-port", r.SourcePort)
	for _, o := range r.Other {
		b.WriteString(" " + o.XMLName.Local)
	}
	if r.Accept != nil {
		b.WriteString(" accept")
	}
	return b.String()
}

// parseRich reads a rich rule as firewall-cmd prints it.
func parseRich(s string) (fwdRich, error) {
	r := fwdRich{text: s}
	toks, err := richTokens(s)
	if err != nil {
		return r, err
	}
	if len(toks) == 0 || toks[0] != "rule" {
		return r, fmt.Errorf("rich rule %q does not start with rule", s)
	}
	elem := "rule"
	var cur *fwdAddr
	var curPort *fwdPort
	for _, tok := range toks[1:] {
		k, v, isAttr := strings.Cut(tok, "=")
		v = strings.Trim(v, `"`)
		if !isAttr {
			elem, cur, curPort = tok, nil, nil
			switch tok {
			case "source":
				r.Source = &fwdAddr{}
				cur = r.Source
			case "destination":
				r.Destination = &fwdAddr{}
				cur = r.Destination
			case "port":
				r.Port = &fwdPort{}
				curPort = r.Port
			case "source-port":
				r.SourcePort = &fwdPort{}
				curPort = r.SourcePort
			case "accept":
				r.Accept = &struct{}{}
			case "NOT", "not":
				elem = "not"
			default:
				r.Other = append(r.Other, xmlOther{XMLName: xml.Name{Local: tok}})
			}
			if tok == "NOT" || tok == "not" {
				if r.Destination != nil && r.Destination.Address == "" && r.Destination.Ipset == "" {
					r.Destination.Invert, cur = "true", r.Destination
				} else if r.Source != nil {
					r.Source.Invert, cur = "true", r.Source
				}
			}
			continue
		}
		switch {
		case elem == "rule" && k == "family":
			r.Family = v
		case elem == "rule" && k == "priority":
			r.Priority = v
		case cur != nil && k == "address":
			cur.Address = v
		case cur != nil && k == "ipset":
			cur.Ipset = v
		case cur != nil && k == "mac":
			cur.Mac = v
		case curPort != nil && k == "port":
			curPort.Port = v
		case curPort != nil && k == "protocol":
			curPort.Protocol = v
		}
	}
	return r, nil
}

// richTokens splits a rich rule into words, keeping quoted values whole.
func richTokens(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	quoted := false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
			cur.WriteRune(c)
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				toks = append(toks, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if quoted {
		return nil, fmt.Errorf("rich rule %q: unterminated quote", s)
	}
	if cur.Len() > 0 {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// richUnit reads a rich rule of milink's policy.
func richUnit(r fwdRich, dir Direction) unit {
	u := unit{dir: dir, text: r.String()}
	if r.Accept == nil {
		u.extra = append(u.extra, "rich rule does not accept: "+r.String())
	}
	if len(r.Other) > 0 || r.Priority != "" && r.Priority != "0" {
		u.extra = append(u.extra, "rich rule holds what milink does not write: "+r.String())
	}
	remote, local := r.Source, r.Destination
	if dir == Outbound {
		remote, local = r.Destination, r.Source
	}
	if local != nil {
		u.extra = append(u.extra, "rich rule matches this host's address: "+r.String())
	}
	switch {
	case remote == nil && r.Family == "":
		u.addrs = AddrSet{anyV4, anyV6}
	case remote == nil:
		u.addrs = familyAddrs(nil, r.Family == "ipv6")
	case remote.Invert != "" || remote.Address == "":
		u.extra = append(u.extra, "rich rule matches addresses milink does not write: "+r.String())
	default:
		p, err := ParseAddr(remote.Address)
		if err != nil {
			u.extra = append(u.extra, err.Error())
		} else {
			u.addrs = AddrSet{p}
		}
	}
	localPort, remotePort := r.Port, r.SourcePort
	if dir == Outbound {
		localPort, remotePort = r.SourcePort, r.Port
	}
	p := remotePort
	if localPort != nil {
		u.local, p = true, localPort
		if remotePort != nil {
			u.extra = append(u.extra, "rich rule matches both local and remote ports: "+r.String())
		}
	}
	if p != nil {
		if p.Protocol != "tcp" {
			u.extra = append(u.extra, "rich rule protocol "+p.Protocol)
		}
		ports, err := parseToolPorts(p.Port, ",", "-")
		if err != nil {
			u.extra = append(u.extra, err.Error())
		}
		u.ports = ports
	}
	return u
}

// fwdSplit is one rich rule per address (none, for any address) and per
// port or range: a rich rule has one of each.
func fwdSplit(r Rule) []unit {
	ports, local := r.ports()
	addrs := []AddrSet{{anyV4, anyV6}}
	if len(r.Remote) > 0 {
		addrs = nil
		for _, p := range r.Remote {
			addrs = append(addrs, AddrSet{p})
		}
	}
	var us []unit
	for _, a := range addrs {
		for _, p := range ports {
			us = append(us, unit{dir: r.Direction, local: local, ports: PortSet{p}, addrs: a, desc: r.Description})
		}
	}
	return us
}

// richOf is the rich rule milink writes for a unit.
func richOf(u unit) fwdRich {
	var r fwdRich
	if !(len(u.addrs) == 2 && u.addrs[0] == anyV4 && u.addrs[1] == anyV6) {
		p := u.addrs[0]
		r.Family = "ipv4"
		if p.Addr().Is6() {
			r.Family = "ipv6"
		}
		a := &fwdAddr{Address: p.String()}
		if u.dir == Inbound {
			r.Source = a
		} else {
			r.Destination = a
		}
	}
	port := &fwdPort{Port: u.ports.join(",", "-"), Protocol: "tcp"}
	if u.local == (u.dir == Inbound) {
		r.Port = port
	} else {
		r.SourcePort = port
	}
	r.Accept = &struct{}{}
	return r
}

func fwdZones(d Direction) (ingress, egress string) {
	if d == Outbound {
		return "HOST", "ANY"
	}
	return "ANY", "HOST"
}

// policyXML is the policy file milink writes for r.
func policyXML(r Rule) []byte {
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<policy target=\"CONTINUE\">\n")
	fmt.Fprintf(&b, "  <short>%s</short>\n", esc(r.Name))
	if r.Description != "" {
		fmt.Fprintf(&b, "  <description>%s</description>\n", esc(r.Description))
	}
	in, eg := fwdZones(r.Direction)
	fmt.Fprintf(&b, "  <ingress-zone name=\"%s\"/>\n  <egress-zone name=\"%s\"/>\n", in, eg)
	for _, u := range fwdSplit(r) {
		rr := richOf(u)
		if rr.Family != "" {
			fmt.Fprintf(&b, "  <rule family=\"%s\">\n", rr.Family)
		} else {
			b.WriteString("  <rule>\n")
		}
		if rr.Source != nil {
			fmt.Fprintf(&b, "    <source address=\"%s\"/>\n", rr.Source.Address)
		}
		if rr.Destination != nil {
			fmt.Fprintf(&b, "    <destination address=\"%s\"/>\n", rr.Destination.Address)
		}
		if rr.Port != nil {
			fmt.Fprintf(&b, "    <port port=\"%s\" protocol=\"tcp\"/>\n", rr.Port.Port)
		}
		if rr.SourcePort != nil {
			fmt.Fprintf(&b, "    <source-port port=\"%s\" protocol=\"tcp\"/>\n", rr.SourcePort.Port)
		}
		b.WriteString("    <accept/>\n  </rule>\n")
	}
	b.WriteString("</policy>\n")
	return []byte(b.String())
}

// fwdInfo is a policy as firewall-cmd --info-policy prints it.
type fwdInfo struct {
	fields map[string]string // "target", "ingress-zones", ...
	rich   []string
}

func parseFwdInfo(s string) fwdInfo {
	info := fwdInfo{fields: map[string]string{}}
	inRich := false
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			continue // the policy's name
		}
		t := strings.TrimSpace(line)
		if inRich && strings.HasPrefix(t, "rule") {
			info.rich = append(info.rich, t)
			continue
		}
		k, v, _ := strings.Cut(t, ":")
		info.fields[k] = strings.TrimSpace(v)
		inRich = k == "rich rules"
	}
	return info
}

// fwdState is what firewalld holds of one milink rule.
type fwdState struct {
	policy  string
	perm    *fwdPolicy // /etc/firewalld/policies/<policy>.xml
	runtime *fwdInfo   // firewall-cmd --info-policy, when the daemon runs
	vendor  bool       // firewalld ships a policy of that name
}

func (f *Firewalld) read(ctx context.Context, name string) (fwdState, error) {
	st := fwdState{policy: PolicyName(name)}
	file := fwdPolicyDir + "/" + st.policy + ".xml"
	data, err := f.t.ReadFile(ctx, file)
	switch {
	case err == nil:
		var p fwdPolicy
		if err := xml.Unmarshal(data, &p); err != nil {
			return st, fmt.Errorf("reading %s: %w", file, err)
		}
		if p.Short != name {
			return st, fmt.Errorf("firewalld policy %s (%s) is not milink's rule %s (its short description is %q): milink will not touch it; rename that policy, or give milink's rule another name", st.policy, file, name, p.Short)
		}
		st.perm = &p
	case !errors.Is(err, fs.ErrNotExist):
		return st, fmt.Errorf("reading %s: %w", file, err)
	}
	if st.vendor, err = host.Exists(ctx, f.t, fwdVendorPolicyDir+"/"+st.policy+".xml"); err != nil {
		return st, err
	}
	if st.vendor && st.perm == nil {
		return st, fmt.Errorf("firewalld ships a policy called %s (%s/%s.xml), which is not milink's: give milink's rule %s another name", st.policy, fwdVendorPolicyDir, st.policy, name)
	}
	if f.Running {
		argv := []string{"firewall-cmd", "--info-policy=" + st.policy}
		out, err := f.t.Exec(ctx, host.Command{Argv: argv})
		switch {
		case err == nil:
			info := parseFwdInfo(string(out.Stdout))
			st.runtime = &info
		case strings.Contains(string(out.Stdout)+string(out.Stderr), "INVALID_POLICY"):
		default:
			return st, cmdError(argv, out, err)
		}
	}
	return st, nil
}

// rule is the milink rule the state holds: the running policy's when the
// daemon runs (with the permanent one's description), else the permanent
// policy's.
func (st fwdState) rule(name string, running bool) *Rule {
	var dir Direction
	var extra []string
	zones := func(in, eg string) {
		switch {
		case in == "ANY" && eg == "HOST":
			dir = Inbound
		case in == "HOST" && eg == "ANY":
			dir = Outbound
		default:
			dir = Inbound
			extra = append(extra, fmt.Sprintf("policy %s goes from %q to %q, not from ANY to HOST or from HOST to ANY", st.policy, in, eg))
		}
	}
	var units []unit
	desc := ""
	var permUnits []string
	if st.perm != nil {
		p := st.perm
		desc = p.Description
		names := func(zs []fwdZone) string {
			var n []string
			for _, z := range zs {
				n = append(n, z.Name)
			}
			return strings.Join(n, " ")
		}
		zones(names(p.Ingress), names(p.Egress))
		if p.Target != "CONTINUE" && p.Target != "" || p.Priority != "" && p.Priority != "-1" {
			extra = append(extra, fmt.Sprintf("policy %s has target %q priority %q, not CONTINUE -1", st.policy, p.Target, p.Priority))
		}
		for _, o := range p.Other {
			extra = append(extra, fmt.Sprintf("policy %s holds <%s>", st.policy, o.XMLName.Local))
		}
		for _, rr := range p.Rules {
			u := richUnit(rr, dir)
			u.desc = desc
			units = append(units, u)
			permUnits = append(permUnits, rr.key())
		}
	}
	if running {
		if st.runtime == nil || len(st.runtime.rich) == 0 {
			if st.perm == nil {
				return nil
			}
			extra = append(extra, "policy "+st.policy+" is not loaded in the running firewalld (firewall-cmd --reload loads it)")
		} else {
			rt := st.runtime
			zones(rt.fields["ingress-zones"], rt.fields["egress-zones"])
			if st.perm == nil {
				extra = append(extra, "policy "+st.policy+" runs, but is not in the permanent configuration")
			}
			for _, k := range []string{"services", "ports", "protocols", "forward-ports", "source-ports", "icmp-blocks"} {
				if rt.fields[k] != "" {
					extra = append(extra, fmt.Sprintf("running policy %s has %s: %s", st.policy, k, rt.fields[k]))
				}
			}
			units = nil
			var runUnits []string
			for _, text := range rt.rich {
				rr, err := parseRich(text)
				if err != nil {
					extra = append(extra, err.Error())
					continue
				}
				u := richUnit(rr, dir)
				u.desc = desc
				units = append(units, u)
				runUnits = append(runUnits, rr.key())
			}
			slices.Sort(permUnits)
			slices.Sort(runUnits)
			if st.perm != nil && !slices.Equal(permUnits, runUnits) {
				extra = append(extra, fmt.Sprintf("the running policy %s differs from the permanent one (running: %s; permanent: %s)", st.policy, strings.Join(runUnits, "; "), strings.Join(permUnits, "; ")))
			}
		}
	}
	if st.perm == nil && !running {
		return nil
	}
	r := assemble(name, units, fwdSplit)
	if r == nil {
		r = &Rule{Name: name, Direction: dir, Protocol: "tcp", Description: desc, Unexpected: []string{"policy " + st.policy + " holds no rich rule"}}
	}
	r.Observed = append([]string{fmt.Sprintf("policy %s", st.policy)}, r.Observed...)
	r.Unexpected = append(r.Unexpected, extra...)
	return r
}

// Read reads the policy's file, and the running policy when the daemon
// runs.
func (f *Firewalld) Read(ctx context.Context, name string) (*Rule, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	st, err := f.read(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.rule(name, f.Running), nil
}

const fwdTmp = "$TMP" // Describe's name for the temporary directory

// steps is what Apply or Delete runs. tmp is the temporary directory the
// policy file is written to; reload reports whether the change needs a
// reload of the running daemon (only when it runs).
func (f *Firewalld) steps(op Op, r Rule, st fwdState, tmp string) (steps []step, file []byte, reload bool) {
	name := r.Name
	have := st.rule(name, f.Running)
	if op == OpDelete && st.perm == nil && (have == nil || !f.Running) || op == OpApply && have != nil && len(Diff(r, have)) == 0 {
		return nil, nil, false
	}
	tool := f.tool()
	arg := func(a ...string) []string { return append(slices.Clone(tool), a...) }
	if st.perm != nil {
		steps = append(steps, step{argv: arg("--delete-policy=" + st.policy)})
	}
	var running []string
	if st.runtime != nil {
		running = st.runtime.rich
	}
	if op == OpApply {
		file = policyXML(r)
		steps = append(steps, step{argv: arg("--new-policy-from-file="+tmp+"/"+st.policy+".xml", "--name="+st.policy)})
		if f.Running {
			in, eg := fwdZones(r.Direction)
			rt := st.runtime
			if rt == nil || rt.fields["ingress-zones"] != in || rt.fields["egress-zones"] != eg || rt.fields["target"] != "CONTINUE" {
				return append(steps, step{argv: []string{"firewall-cmd", "--reload"}, note: "after checking that the running firewalld holds no change of someone else's that its permanent configuration lacks (a reload would lose it)"}), file, true
			}
			var want []string
			for _, u := range fwdSplit(r) {
				want = append(want, richOf(u).String())
			}
			var add, del []string
			for _, w := range want {
				if !slices.Contains(running, w) {
					add = append(add, "--add-rich-rule="+w)
				}
			}
			for _, h := range running {
				if !slices.Contains(want, h) {
					del = append(del, "--remove-rich-rule="+h)
				}
			}
			if len(add) > 0 {
				steps = append(steps, step{argv: append([]string{"firewall-cmd", "--policy=" + st.policy}, add...)})
			}
			if len(del) > 0 {
				steps = append(steps, step{argv: append([]string{"firewall-cmd", "--policy=" + st.policy}, del...)})
			}
		}
		return steps, file, false
	}
	if f.Running && len(running) > 0 {
		del := []string{"firewall-cmd", "--policy=" + st.policy}
		for _, h := range running {
			del = append(del, "--remove-rich-rule="+h)
		}
		steps = append(steps, step{argv: del})
	}
	return steps, nil, false
}

// Describe lists the commands Apply or Delete runs, the policy file they
// read written to a temporary directory as a shell would.
func (f *Firewalld) Describe(op Op, r Rule, have *Rule) []string {
	st := fwdState{policy: PolicyName(r.Name)}
	if have != nil {
		// The permanent policy exists; the running one holds the rich
		// rules observed.
		st.perm = &fwdPolicy{Short: r.Name}
		if f.Running {
			in, eg := fwdZones(have.Direction)
			st.runtime = &fwdInfo{fields: map[string]string{"ingress-zones": in, "egress-zones": eg, "target": "CONTINUE"}}
			for _, o := range have.Observed {
				if strings.HasPrefix(o, "rule") {
					st.runtime.rich = append(st.runtime.rich, o)
				}
			}
		}
	}
	if op == OpDelete {
		r = Rule{Name: r.Name}
	}
	if nothingToDo(op, r, have) {
		return nil
	}
	steps, file, _ := f.steps(op, r, st, fwdTmp)
	out := texts(steps)
	if file == nil {
		return out
	}
	arg := "--new-policy-from-file=" + fwdTmp + "/" + st.policy + ".xml"
	for i := range out {
		out[i] = strings.Replace(out[i], host.CommandText([]string{arg}), `--new-policy-from-file="`+fwdTmp+"/"+st.policy+`.xml"`, 1)
	}
	pre := []string{
		"TMP=$(mktemp -d /tmp/milink-firewalld.XXXXXXXX)",
		fmt.Sprintf("cat > \"$TMP/%s.xml\" <<'EOF'\n%sEOF", st.policy, file),
	}
	return append(append(pre, out...), `rm -rf -- "$TMP"`)
}

// Apply writes the policy (replacing milink's policy of that name, if
// any); when the daemon runs, it changes the running policy's rich rules
// too, or (for a new policy) reloads firewalld once it has checked that
// nothing would be lost.
func (f *Firewalld) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	st, err := f.read(ctx, r.Name)
	if err != nil {
		return err
	}
	return f.run(ctx, OpApply, r, st)
}

// Delete deletes the policy; when the daemon runs, it removes the running
// policy's rich rules (the empty policy goes at the next reload).
func (f *Firewalld) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	st, err := f.read(ctx, name)
	if err != nil {
		return err
	}
	return f.run(ctx, OpDelete, Rule{Name: name}, st)
}

func (f *Firewalld) run(ctx context.Context, op Op, r Rule, st fwdState) error {
	steps, file, reload := f.steps(op, r, st, fwdTmp)
	if len(steps) == 0 {
		return nil
	}
	if reload {
		if err := f.checkNoRuntimeOnly(ctx, st.policy); err != nil {
			return err
		}
	}
	if file != nil {
		out, err := run(ctx, f.t, []string{"mktemp", "-d", "/tmp/milink-firewalld.XXXXXXXX"}, nil)
		if err != nil {
			return err
		}
		tmp := strings.TrimSpace(string(out.Stdout))
		if !strings.HasPrefix(tmp, "/tmp/milink-firewalld.") || strings.ContainsAny(tmp, " \n") {
			return fmt.Errorf("mktemp -d printed %q, not a directory under /tmp", tmp)
		}
		defer func() { _, _ = run(context.WithoutCancel(ctx), f.t, []string{"rm", "-rf", "--", tmp}, nil) }()
		if err := f.t.WriteFile(ctx, tmp+"/"+st.policy+".xml", file, 0o600); err != nil {
			return err
		}
		for i := range steps {
			for j, a := range steps[i].argv {
				steps[i].argv[j] = strings.Replace(a, fwdTmp+"/", tmp+"/", 1)
			}
		}
	}
	for _, s := range steps {
		if _, err := run(ctx, f.t, s.argv, s.stdin); err != nil {
			if strings.Contains(err.Error(), "unrecognized arguments") {
				return fmt.Errorf("%w (firewalld has policies from version 0.9: on an older one, choose the iptables backend with firewalld's direct rules, or upgrade)", err)
			}
			return err
		}
	}
	return nil
}

// checkNoRuntimeOnly compares the running zones, policies and direct rules
// with the permanent ones (ignoring the interfaces a network manager puts
// in zones at run time, and milink's policies, which a reload puts back as
// they are kept).
func (f *Firewalld) checkNoRuntimeOnly(ctx context.Context, policy string) error {
	var diffs []string
	for _, what := range [][]string{{"--list-all-zones"}, {"--list-all-policies"}, {"--direct", "--get-all-rules"}} {
		var outs [2]map[string]string
		for i, perm := range []bool{false, true} {
			argv := []string{"firewall-cmd"}
			if perm {
				argv = append(argv, "--permanent")
			}
			argv = append(argv, what...)
			out, err := run(ctx, f.t, argv, nil)
			if err != nil {
				return err
			}
			outs[i] = fwdBlocks(string(out.Stdout))
		}
		for k, v := range outs[0] {
			if outs[1][k] != v {
				diffs = append(diffs, fmt.Sprintf("%s %s", strings.Join(what, " "), k))
			}
		}
		for k := range outs[1] {
			if _, ok := outs[0][k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s %s (not running)", strings.Join(what, " "), k))
			}
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return fmt.Errorf("firewalld: creating policy %s needs a reload (firewall-cmd --reload), which would drop changes made to the running firewall only: %s. Make them permanent (firewall-cmd --runtime-to-permanent) or drop them (firewall-cmd --reload), then apply again", policy, strings.Join(diffs, ", "))
	}
	return nil
}

// fwdBlocks splits firewall-cmd's listing into its zones or policies (or,
// for direct rules, one block), leaving out interfaces and milink's
// policies.
func fwdBlocks(s string) map[string]string {
	blocks := map[string]string{}
	name := "rules"
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "ipv") && !strings.HasPrefix(line, "eb") {
			name = strings.Fields(line)[0]
			blocks[name] += ""
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "interfaces:") {
			continue
		}
		blocks[name] += strings.TrimSpace(line) + "\n"
	}
	// milink's own policies: a reload loads them as they are kept.
	for name := range blocks {
		if strings.HasPrefix(name, NamePrefix) {
			delete(blocks, name)
		}
	}
	return blocks
}
