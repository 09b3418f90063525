package azure

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// canonPorts reads port ranges ("5022", "11000-11999", "*") into their
// canonical, sorted, deduplicated form, so that rules compare as sets.
func canonPorts(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range in {
		p = strings.TrimSpace(p)
		if p == "*" {
			return []string{"*"}, nil
		}
		lo, hi, isRange := strings.Cut(p, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b > 65535 || a > b {
			return nil, fmt.Errorf("%q is not a port or a port range (such as 5022 or 11000-11999)", p)
		}
		c := strconv.Itoa(a)
		if b != a {
			c += "-" + strconv.Itoa(b)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return portStart(out[i]) < portStart(out[j]) || portStart(out[i]) == portStart(out[j]) && out[i] < out[j]
	})
	return out, nil
}

func portStart(p string) int {
	lo, _, _ := strings.Cut(p, "-")
	n, _ := strconv.Atoi(lo)
	return n
}

// canonAddresses reads address prefixes (an address, a CIDR prefix, "*"
// or a service tag such as VirtualNetwork) into a sorted set: prefixes
// masked, an address with its full mask written as the bare address
// (Azure keeps "10.0.0.4" and "10.0.0.4/32" apart in text, not in
// meaning).
func canonAddresses(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, a := range in {
		a = strings.TrimSpace(a)
		c, err := canonAddress(a)
		if err != nil {
			return nil, err
		}
		if !seen[strings.ToLower(c)] {
			seen[strings.ToLower(c)] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

func canonAddress(a string) (string, error) {
	if a == "" {
		return "", fmt.Errorf("an address prefix cannot be empty")
	}
	if a == "*" {
		return a, nil
	}
	if p, err := netip.ParsePrefix(a); err == nil {
		p = p.Masked()
		if p.Bits() == p.Addr().BitLen() {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		return ip.String(), nil
	}
	// A service tag: letters, digits, dots and dashes (Sql.WestEurope).
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return "", fmt.Errorf("%q is not an address, a prefix (10.0.0.0/24) or a service tag", a)
		}
	}
	return a, nil
}

// sameSet compares two canonical sets.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
