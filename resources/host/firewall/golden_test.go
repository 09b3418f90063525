package firewall

import (
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/milink/milink/internal/golden"
)

// golden compares got with testdata/golden/name (go test -update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), []byte(got))
}

// TestDescribeGolden keeps, for each backend, the commands it runs to
// create the link's two rules, to put back the inbound one as the fixtures
// hold it (changed by hand), and to delete it.
func TestDescribeGolden(t *testing.T) {
	in, out := mustParse(t, fixIn), mustParse(t, fixOut)

	nftHave, err := parseNft([]byte(fixture(t, "nft-list-table.json")), in.Name)
	if err != nil {
		t.Fatal(err)
	}
	var fams []iptFamily
	for _, f := range []string{"iptables-S.txt", "ip6tables-S.txt"} {
		fam, err := parseIptablesS(fixture(t, f), f == "ip6tables-S.txt", in.Name)
		if err != nil {
			t.Fatal(err)
		}
		fams = append(fams, fam)
	}
	st := ufwState{ipv6: true}
	for _, f := range []string{"user.rules", "user6.rules"} {
		ts, err := parseUfwRules(fixture(t, "ufw-"+f), f)
		if err != nil {
			t.Fatal(err)
		}
		st.tuples = append(st.tuples, ts...)
	}
	var p fwdPolicy
	if err := xml.Unmarshal([]byte(fixture(t, "firewalld-policy.xml")), &p); err != nil {
		t.Fatal(err)
	}
	info := parseFwdInfo(fixture(t, "firewalld-info-policy.txt"))
	winHave, err := parseWindowsRules([]byte(fixture(t, "../windows/get-rule-drifted.json")), in.Name)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		b    Backend
		have *Rule
	}{
		{"nftables", &Nftables{}, nftHave},
		{"iptables", &Iptables{}, iptRule(in.Name, fams)},
		{"ufw", &Ufw{}, ufwRule(in.Name, st)},
		{"firewalld-offline", &Firewalld{}, fwdState{policy: in.Name, perm: &p}.rule(in.Name, false)},
		{"firewalld-running", &Firewalld{Running: true}, fwdState{policy: in.Name, perm: &p, runtime: &info}.rule(in.Name, true)},
		{"windows", &Windows{}, winHave},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			section := func(title string, lines []string) {
				fmt.Fprintf(&b, "## %s\n%s\n\n", title, strings.Join(lines, "\n"))
			}
			section("apply "+in.String()+", absent", c.b.Describe(OpApply, in, nil))
			section("apply "+out.String()+", absent", c.b.Describe(OpApply, out, nil))
			section("observed "+in.Name+" (testdata/fixtures)", append(append([]string{}, c.have.Observed...), c.have.Unexpected...))
			section("apply "+in.String()+", as observed", c.b.Describe(OpApply, in, c.have))
			section("delete "+in.Name+", as observed", c.b.Describe(OpDelete, Rule{Name: in.Name}, c.have))
			golden(t, c.name+".txt", b.String())

			same := in
			if steps := c.b.Describe(OpApply, in, &same); len(steps) > 0 {
				t.Errorf("Describe of an Apply with nothing to do: %q", steps)
			}
			if steps := c.b.Describe(OpDelete, Rule{Name: in.Name}, nil); len(steps) > 0 {
				t.Errorf("Describe of a Delete of nothing: %q", steps)
			}
		})
	}
	w := &Windows{}
	golden(t, "windows-read.ps1", w.ReadScript(in.Name))
	golden(t, "windows-apply.ps1", w.ApplyScript(in))
	golden(t, "windows-apply-out.ps1", w.ApplyScript(out))
	golden(t, "windows-delete.ps1", w.DeleteScript(in.Name))
}
