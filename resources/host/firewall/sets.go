package firewall

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortRange is the ports From through To (From <= To).
type PortRange struct{ From, To uint16 }

// String is "5022" or "11000-11999".
func (r PortRange) String() string {
	if r.From == r.To {
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// PortSet is a set of ports. Built by NewPortSet or ParsePorts it is
// canonical: sorted ranges that neither overlap nor touch, so two sets
// holding the same ports are equal slices, however they were written.
type PortSet []PortRange

// NewPortSet is the canonical set of the ports in ranges.
func NewPortSet(ranges ...PortRange) PortSet {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b PortRange) int { return cmp.Compare(a.From, b.From) })
	var out PortSet
	for _, r := range rs {
		if n := len(out); n > 0 && int(r.From) <= int(out[n-1].To)+1 {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// ParsePorts parses ports written "5022" or "11000-11999" (one per item).
func ParsePorts(items []string) (PortSet, error) {
	var rs []PortRange
	for _, it := range items {
		r, err := parsePortRange(it, "-")
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return NewPortSet(rs...), nil
}

// parsePortRange parses "N" or "N<sep>M".
func parsePortRange(s, sep string) (PortRange, error) {
	bad := func(why string) (PortRange, error) {
		return PortRange{}, fmt.Errorf("port %q: %s (a port is 1-65535, a range is written like 11000-11999)", s, why)
	}
	from, to, isRange := strings.Cut(strings.TrimSpace(s), sep)
	a, err := parsePort(from)
	if err != nil {
		return bad(err.Error())
	}
	b := a
	if isRange {
		if b, err = parsePort(to); err != nil {
			return bad(err.Error())
		}
		if b < a {
			return bad("the range ends before it starts")
		}
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || strings.HasPrefix(strings.TrimSpace(s), "+") {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return uint16(n), nil
}

// String is the set written "5022,11000-11999".
func (s PortSet) String() string { return s.join(",", "-") }

// join writes the set with the separators a tool wants.
func (s PortSet) join(sep, rangeSep string) string {
	parts := make([]string, len(s))
	for i, r := range s {
		if r.From == r.To {
			parts[i] = strconv.Itoa(int(r.From))
		} else {
			parts[i] = fmt.Sprintf("%d%s%d", r.From, rangeSep, r.To)
		}
	}
	return strings.Join(parts, sep)
}

// chunks splits the set into pieces that each fit where at most max ports
// may be listed, a range counting as two (the limit of iptables' multiport
// match and of ufw).
func (s PortSet) chunks(max int) []PortSet {
	var out []PortSet
	var cur PortSet
	used := 0
	for _, r := range s {
		cost := 1
		if r.From != r.To {
			cost = 2
		}
		if used+cost > max {
			out = append(out, cur)
			cur, used = nil, 0
		}
		cur = append(cur, r)
		used += cost
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// AddrSet is a set of IP addresses, written as prefixes. Built by
// NewAddrSet or ParseAddrs it is canonical: the fewest prefixes that cover
// exactly the same addresses, IPv4 first, sorted, so two sets holding the
// same addresses are equal slices however they were written (10.0.0.0/25
// and 10.0.0.128/25 are 10.0.0.0/24). The empty set means any address; a
// set covering every IPv4 and every IPv6 address is made empty too.
type AddrSet []netip.Prefix

// String is the set written "10.0.0.0/24,fd00::/64", or "any".
func (s AddrSet) String() string {
	if len(s) == 0 {
		return "any"
	}
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// split splits the set: its IPv4 prefixes and its IPv6 prefixes.
func (s AddrSet) split() (v4, v6 AddrSet) {
	for _, p := range s {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// ParseAddrs parses addresses and prefixes: "10.0.0.5", "10.0.0.0/24",
// "fd00::/64". A prefix with host bits set (10.0.0.5/24) means its network,
// as every firewall tool reads it.
func ParseAddrs(items []string) (AddrSet, error) {
	var ps []netip.Prefix
	for _, it := range items {
		p, err := ParseAddr(it)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return NewAddrSet(ps...), nil
}

// ParseAddr parses one address or prefix.
func ParseAddr(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	bad := func(why string) (netip.Prefix, error) {
		return netip.Prefix{}, fmt.Errorf("address %q is not an IP address or prefix%s (write e.g. 10.0.0.0/24, 10.0.0.5 or fd00::/64)", s, why)
	}
	if t == "" {
		return bad("")
	}
	var p netip.Prefix
	if strings.Contains(t, "/") {
		var err error
		if p, err = netip.ParsePrefix(t); err != nil {
			return bad("")
		}
	} else {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return bad("")
		}
		if a.Zone() != "" {
			return bad(": a zone (%" + a.Zone() + ") cannot be used in a firewall rule")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return bad(": write an IPv4-mapped address as plain IPv4")
	}
	return p.Masked(), nil
}

// NewAddrSet is the canonical set of the addresses the prefixes cover.
func NewAddrSet(prefixes ...netip.Prefix) AddrSet {
	var v4, v6 []ipRange
	for _, p := range prefixes {
		p = p.Masked()
		r := prefixRange(p)
		if p.Addr().Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	out := append(rangesToPrefixes(mergeRanges(v4), true), rangesToPrefixes(mergeRanges(v6), false)...)
	if len(out) == 2 && out[0].Bits() == 0 && out[1].Bits() == 0 {
		return nil // every address: any
	}
	return out
}

// addrRange is the set of the addresses lo through hi (same family).
func addrRange(lo, hi netip.Addr) (AddrSet, error) {
	if lo.Is4() != hi.Is4() || hi.Less(lo) {
		return nil, fmt.Errorf("%s-%s is not an address range", lo, hi)
	}
	return rangesToPrefixes([]ipRange{{toU128(lo), toU128(hi)}}, lo.Is4()), nil
}

// u128 is an address as a number; IPv4 addresses use the low 32 bits.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var x u128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

func (x u128) addr(is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(x.lo >> 24), byte(x.lo >> 16), byte(x.lo >> 8), byte(x.lo)})
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(x.hi >> (56 - 8*i))
		b[8+i] = byte(x.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

func (x u128) cmp(y u128) int {
	if c := cmp.Compare(x.hi, y.hi); c != 0 {
		return c
	}
	return cmp.Compare(x.lo, y.lo)
}

func (x u128) add1() (u128, bool) {
	lo, c := bits.Add64(x.lo, 1, 0)
	hi, c2 := bits.Add64(x.hi, 0, c)
	return u128{hi, lo}, c2 != 0
}

// lowMask is a number whose n low bits are set (0 <= n <= 128).
func lowMask(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{0, 1<<uint(n) - 1}
	case n < 128:
		return u128{1<<uint(n-64) - 1, ^uint64(0)}
	default:
		return u128{^uint64(0), ^uint64(0)}
	}
}

func (x u128) or(y u128) u128 { return u128{x.hi | y.hi, x.lo | y.lo} }

func (x u128) trailingZeros() int {
	if x.lo != 0 {
		return bits.TrailingZeros64(x.lo)
	}
	if x.hi != 0 {
		return 64 + bits.TrailingZeros64(x.hi)
	}
	return 128
}

type ipRange struct{ lo, hi u128 }

func prefixRange(p netip.Prefix) ipRange {
	lo := toU128(p.Addr())
	return ipRange{lo, lo.or(lowMask(p.Addr().BitLen() - p.Bits()))}
}

func mergeRanges(rs []ipRange) []ipRange {
	slices.SortFunc(rs, func(a, b ipRange) int { return a.lo.cmp(b.lo) })
	var out []ipRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			next, overflow := out[n-1].hi.add1()
			if overflow || r.lo.cmp(next) <= 0 {
				if r.hi.cmp(out[n-1].hi) > 0 {
					out[n-1].hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// rangesToPrefixes writes each range as the fewest prefixes.
func rangesToPrefixes(rs []ipRange, is4 bool) AddrSet {
	width := 128
	if is4 {
		width = 32
	}
	var out AddrSet
	for _, r := range rs {
		lo := r.lo
		for {
			// The largest block starting at lo that does not pass hi.
			size := min(lo.trailingZeros(), width)
			for size > 0 && lo.or(lowMask(size)).cmp(r.hi) > 0 {
				size--
			}
			out = append(out, netip.PrefixFrom(lo.addr(is4), width-size))
			end := lo.or(lowMask(size))
			if end.cmp(r.hi) >= 0 {
				break
			}
			lo, _ = end.add1()
		}
	}
	return out
}

// maskPrefix turns an IPv4 address with a dotted mask (10.0.0.0 and
// 255.255.255.0, as Windows writes subnets) into a prefix.
func maskPrefix(addr, mask string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("%s/%s is not an IPv4 subnet", addr, mask)
	}
	n := toU128(m).lo
	ones := bits.OnesCount32(uint32(n))
	if uint32(n) != ^uint32(0)<<(32-ones) {
		return netip.Prefix{}, fmt.Errorf("%s is not a contiguous mask", mask)
	}
	return netip.PrefixFrom(a, ones).Masked(), nil
}
