package firewall

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseRule(t *testing.T) {
	r, err := ParseRule(Spec{Name: "milink-sql01-in", Direction: "Inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"10.0.0.128/25", "10.0.0.5/25", "fd00:1::7/64", "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Direction != Inbound || r.Protocol != "tcp" || r.LocalPorts.String() != "5022" || r.RemotePorts != nil {
		t.Errorf("ParseRule = %+v", r)
	}
	// 10.0.0.5/25 is 10.0.0.0/25; with 10.0.0.128/25, 10.0.0.0/24.
	if got := r.Remote.String(); got != "10.0.0.0/24,10.1.2.3/32,fd00:1::/64" {
		t.Errorf("Remote = %s", got)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}

	bad := []struct {
		spec Spec
		want []string
	}{
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"10.0.0.0/24", "10.0.0.300"}},
			[]string{`address "10.0.0.300" is not an IP address or prefix`}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"mi-subnet"}},
			[]string{`address "mi-subnet" is not an IP address or prefix (write e.g. 10.0.0.0/24`}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"10.0.0.0/33"}},
			[]string{`"10.0.0.0/33" is not an IP address or prefix`}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"fe80::1%eth0"}},
			[]string{"zone (%eth0)"}},
		{Spec{Name: "sql01", Direction: "sideways", Protocol: "udp", LocalPorts: []string{"0", "7-3"}},
			[]string{`must start with "milink-"`, `direction "sideways"`, `protocol "udp"`, `port "0"`}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"99999"}}, []string{`99999 is out of range`}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"11999-11000"}}, []string{`ends before it starts`}},
		{Spec{Name: "milink-x", Direction: "inbound"}, []string{"no ports"}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"1"}, RemotePorts: []string{"2"}}, []string{"both local and remote ports"}},
		{Spec{Name: "milink-x y", Direction: "inbound", LocalPorts: []string{"1"}}, []string{"may hold only letters"}},
		{Spec{Name: "milink-" + strings.Repeat("x", 50), Direction: "inbound", LocalPorts: []string{"1"}}, []string{"longer than 48"}},
		{Spec{Name: "milink-x", Direction: "inbound", LocalPorts: []string{"1"}, Description: `say "hi"`}, []string{"description"}},
	}
	for _, c := range bad {
		_, err := ParseRule(c.spec)
		if err == nil {
			t.Errorf("ParseRule(%+v) succeeded", c.spec)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseRule(%+v) = %v\nwant it to say %q", c.spec, err, w)
			}
		}
	}
}

func TestLinkSpec(t *testing.T) {
	in := mustParse(t, LinkSpec("milink-a", Inbound, []string{"10.0.0.0/24"}))
	out := mustParse(t, LinkSpec("milink-b", Outbound, []string{"10.0.0.0/24"}))
	if in.String() != "milink-a: inbound tcp local port 5022 from 10.0.0.0/24" {
		t.Errorf("inbound: %s", in)
	}
	if out.String() != "milink-b: outbound tcp remote port 5022,11000-11999 to 10.0.0.0/24" {
		t.Errorf("outbound: %s", out)
	}
}

func mustParse(t *testing.T, s Spec) Rule {
	t.Helper()
	r, err := ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetsCompareAsSets(t *testing.T) {
	a := mustParse(t, Spec{Name: "milink-a", Direction: "outbound", RemotePorts: []string{"11000-11999", "5022", "11500"}, RemoteAddresses: []string{"fd00::/64", "10.0.0.0/25", "10.0.0.128/25"}})
	b := mustParse(t, Spec{Name: "milink-a", Direction: "outbound", RemotePorts: []string{"5022", "11000-11499", "11500-11999"}, RemoteAddresses: []string{"10.0.0.0/24", "fd00::/64", "10.0.0.7"}})
	if !a.Equal(b) {
		t.Errorf("rules naming the same ports and addresses differ: %v", Diff(a, &b))
	}
	c := b
	c.Remote = NewAddrSet(netip.MustParsePrefix("10.0.0.0/24"))
	if d := Diff(a, &c); len(d) != 1 || !strings.Contains(d[0], "remote addresses: want 10.0.0.0/24,fd00::/64, have 10.0.0.0/24") {
		t.Errorf("Diff = %q", d)
	}
	c = b
	c.Unexpected = []string{"something"}
	if a.Equal(c) {
		t.Error("a rule with Unexpected lines equals one without")
	}
	if d := Diff(a, nil); !slices.Equal(d, []string{"absent"}) {
		t.Errorf("Diff with nothing = %q", d)
	}
}

func TestAddrSet(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		in   []string
		want string
	}{
		{[]string{"10.0.0.0/25", "10.0.0.128/25"}, "10.0.0.0/24"},
		{[]string{"10.0.0.0/24", "10.0.0.0/16"}, "10.0.0.0/16"},
		{[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, "10.0.0.1/32,10.0.0.2/31"},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, "0.0.0.0/0"},
		{[]string{"0.0.0.0/0", "::/0"}, "any"},
		{[]string{"::/1", "8000::/1", "0.0.0.0/0"}, "any"},
		{[]string{"fd00::/65", "fd00:0:0:0:8000::/65", "fd00::1"}, "fd00::/64"},
		{[]string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
		{[]string{"255.255.255.255", "255.255.255.254/31"}, "255.255.255.254/31"},
		{nil, "any"},
	}
	for _, c := range cases {
		var ps []netip.Prefix
		for _, s := range c.in {
			q, err := ParseAddr(s)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, q)
		}
		if got := NewAddrSet(ps...).String(); got != c.want {
			t.Errorf("NewAddrSet(%v) = %s, want %s", c.in, got, c.want)
		}
	}
	got, err := addrRange(netip.MustParseAddr("10.5.0.1"), netip.MustParseAddr("10.5.0.6"))
	if err != nil || got.String() != "10.5.0.1/32,10.5.0.2/31,10.5.0.4/31,10.5.0.6/32" {
		t.Errorf("addrRange = %s, %v", got, err)
	}
	if _, err := addrRange(netip.MustParseAddr("10.5.0.6"), netip.MustParseAddr("10.5.0.1")); err == nil {
		t.Error("a backwards range parsed")
	}
	if q, err := maskPrefix("10.0.0.0", "255.255.240.0"); err != nil || q != p("10.0.0.0/20") {
		t.Errorf("maskPrefix = %v, %v", q, err)
	}
	if _, err := maskPrefix("10.0.0.0", "255.0.255.0"); err == nil {
		t.Error("a mask with a hole parsed")
	}
}

func TestPortSet(t *testing.T) {
	s, err := ParsePorts([]string{"5023", "5022", "11000-11999", "12000", "1-2", " 3 "})
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "1-3,5022-5023,11000-12000" {
		t.Errorf("ParsePorts = %s", s)
	}
	var many []PortRange
	for i := uint16(1); i <= 20; i++ {
		many = append(many, PortRange{i * 10, i * 10})
	}
	many = append(many, PortRange{1000, 1100})
	chunks := NewPortSet(many...).chunks(15)
	if len(chunks) != 2 || len(chunks[0]) != 15 || len(chunks[1]) != 6 {
		t.Errorf("chunks = %v", chunks)
	}
	for _, bad := range []string{"", "x", "+5", "5-", "0", "65536"} {
		if _, err := ParsePorts([]string{bad}); err == nil {
			t.Errorf("port %q parsed", bad)
		}
	}
}

// FuzzAddrSet: a set is canonical (building it again changes nothing) and
// covers exactly the addresses it was built from.
func FuzzAddrSet(f *testing.F) {
	f.Add("10.0.0.0/25", "10.0.0.128/25", "10.0.0.7")
	f.Add("fd00::/64", "::/0", "10.0.0.0/8")
	f.Add("255.255.255.255", "0.0.0.0/1", "ffff::/16")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var ps []netip.Prefix
		for _, s := range []string{a, b, c} {
			if p, err := ParseAddr(s); err == nil {
				ps = append(ps, p)
			}
		}
		set := NewAddrSet(ps...)
		if again := NewAddrSet(set...); !slices.Equal(again, set) {
			t.Fatalf("NewAddrSet(%v) = %v, again %v", ps, set, again)
		}
		covers := func(s AddrSet, addr netip.Addr) bool {
			if len(s) == 0 {
				return true
			}
			return slices.ContainsFunc(s, func(p netip.Prefix) bool { return p.Contains(addr) })
		}
		for _, p := range ps {
			for _, addr := range []netip.Addr{p.Addr(), lastAddr(p)} {
				if !covers(set, addr) {
					t.Fatalf("%v does not cover %s of %s", set, addr, p)
				}
			}
		}
		for _, q := range set {
			for _, addr := range []netip.Addr{q.Addr(), lastAddr(q)} {
				if len(ps) > 0 && !slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(addr) }) {
					t.Fatalf("%v covers %s, which none of %v does", set, addr, ps)
				}
			}
		}
	})
}

func lastAddr(p netip.Prefix) netip.Addr {
	return prefixRange(p).hi.addr(p.Addr().Is4())
}

// psUnquote reads a PowerShell single-quoted string literal as PowerShell
// does: it starts and ends with any of the single quotes, and a quote
// inside is written twice; ok is false if the literal ends early.
func psUnquote(lit string) (string, bool) {
	isQuote := func(r rune) bool { return strings.ContainsRune("'\u2018\u2019\u201a\u201b", r) }
	rs := []rune(lit)
	if len(rs) < 2 || !isQuote(rs[0]) || !isQuote(rs[len(rs)-1]) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(rs)-1; i++ {
		if isQuote(rs[i]) {
			if i+1 >= len(rs)-1 || !isQuote(rs[i+1]) {
				return "", false // the literal would end here
			}
			i++
		}
		b.WriteRune(rs[i])
	}
	return b.String(), true
}

func FuzzPSQuote(f *testing.F) {
	for _, s := range []string{"", "milink-a", "it's", "‘x’", "a''b", "$(rm -r C:\\)", "`n", "\u201b\u201a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("PowerShell scripts are Unicode text")
		}
		q := psQuote(s)
		got, ok := psUnquote(q)
		if !ok || got != s {
			t.Fatalf("psQuote(%q) = %s, which PowerShell reads as %q (ok %v)", s, q, got, ok)
		}
	})
}
