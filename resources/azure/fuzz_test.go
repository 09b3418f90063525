package azure

import (
	"strings"
	"testing"
)

// FuzzCanonPorts: whatever is written, the canonical form is stable (a
// second pass changes nothing) and never panics.
func FuzzCanonPorts(f *testing.F) {
	for _, s := range []string{"5022", "11000-11999", "*", "1-65535", "5022,5022", "-1", "9-8", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := canonPorts(strings.Split(s, ","))
		if err != nil {
			return
		}
		again, err := canonPorts(got)
		if err != nil || !sameSet(got, again) {
			t.Fatalf("%q → %v → %v (%v)", s, got, again, err)
		}
	})
}

// FuzzCanonAddresses: the same for address prefixes and service tags.
func FuzzCanonAddresses(f *testing.F) {
	for _, s := range []string{"10.0.0.4", "10.0.0.4/32", "10.0.1.7/24", "*", "VirtualNetwork", "fd00::1/64", "Sql.WestEurope", "1.2.3.4/40"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := canonAddresses(strings.Split(s, ","))
		if err != nil {
			return
		}
		again, err := canonAddresses(got)
		if err != nil || !sameSet(got, again) {
			t.Fatalf("%q → %v → %v (%v)", s, got, again, err)
		}
	})
}
