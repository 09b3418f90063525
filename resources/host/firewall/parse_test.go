package firewall

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures under testdata/fixtures are what the real tools printed
// (Debian 12: nftables 1.0.6, iptables 1.8.9 (nf_tables), ufw 0.36.2,
// firewalld 1.3.3) for milink's rules sql01-in and sql01-out, the first
// changed by hand, and rules of someone else's.

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

var (
	fixIn  = Spec{Name: "milink-sql01-in", Direction: "inbound", LocalPorts: []string{"5022"}, RemoteAddresses: []string{"10.0.0.0/24", "fd00:1::/64"}, Description: "Managed Instance link: from the managed instance"}
	fixOut = Spec{Name: "milink-sql01-out", Direction: "outbound", RemotePorts: []string{"5022", "11000-11999"}, RemoteAddresses: []string{"10.0.0.0/24"}}
)

// checkParsed compares what was read with the rule wanted: diff lists
// (substrings of) the differences expected, none when it is the rule.
func checkParsed(t *testing.T, what string, got *Rule, want Spec, diff ...string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nothing read", what)
	}
	d := Diff(mustParse(t, want), got)
	for _, w := range diff {
		if !slices.ContainsFunc(d, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("%s: Diff lacks %q:\n%s", what, w, strings.Join(d, "\n"))
		}
	}
	if len(diff) == 0 && len(d) > 0 {
		t.Errorf("%s differs from the rule:\n%s", what, strings.Join(d, "\n"))
	}
	if len(got.Observed) == 0 {
		t.Errorf("%s: nothing observed", what)
	}
}

func TestParseNftFixture(t *testing.T) {
	data := []byte(fixture(t, "nft-list-table.json"))
	in, err := parseNft(data, fixIn.Name)
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, "drifted inbound", in, fixIn,
		"remote addresses: want 10.0.0.0/24,fd00:1::/64, have 10.0.0.0/24,10.5.0.1/32,10.5.0.2/31,10.5.0.4/31,10.5.0.6/32,fd00:1::/64",
		"counter", "does not accept")
	out, err := parseNft(data, fixOut.Name)
	if err != nil {
		t.Fatal(err)
	}
	// nft merged 10.0.0.0/25 and 10.0.0.128/25 into 10.0.0.0/24.
	checkParsed(t, "outbound", out, fixOut)
	if r, err := parseNft(data, "milink-handmade"); r != nil || err != nil {
		t.Errorf("a chain of someone's: %v, %v", r, err)
	}
}

func TestParseIptablesFixture(t *testing.T) {
	var fams []iptFamily
	for _, f := range []struct {
		file string
		v6   bool
	}{{"iptables-S.txt", false}, {"ip6tables-S.txt", true}} {
		fam, err := parseIptablesS(fixture(t, f.file), f.v6, fixIn.Name)
		if err != nil {
			t.Fatal(err)
		}
		fams = append(fams, fam)
	}
	checkParsed(t, "drifted inbound", iptRule(fixIn.Name, fams), fixIn,
		"have 10.0.0.0/24,10.5.0.0/16,fd00:1::/64", "target DROP")
	if !fams[0].chains["MILINK-INPUT"] || len(fams[0].jumps["INPUT"]) != 1 || fams[0].others["MILINK-INPUT"] != 1 {
		t.Errorf("IPv4 chains %v, jumps %v, others %v", fams[0].chains, fams[0].jumps, fams[0].others)
	}
}

func TestParseUfwFixture(t *testing.T) {
	var st ufwState
	st.ipv6 = true
	for _, f := range []string{"user.rules", "user6.rules"} {
		ts, err := parseUfwRules(fixture(t, "ufw-"+f), f)
		if err != nil {
			t.Fatal(err)
		}
		st.tuples = append(st.tuples, ts...)
	}
	checkParsed(t, "drifted inbound", ufwRule(fixIn.Name, st), fixIn,
		"local ports: want 5022, have 5022-5023", "only on interface eth0")
	checkParsed(t, "outbound", ufwRule(fixOut.Name, st), fixOut)
	if r := ufwRule("milink-none", st); r != nil {
		t.Errorf("a rule that is not there: %v", r)
	}
}

func TestParseFirewalldFixture(t *testing.T) {
	var p fwdPolicy
	if err := xml.Unmarshal([]byte(fixture(t, "firewalld-policy.xml")), &p); err != nil {
		t.Fatal(err)
	}
	info := parseFwdInfo(fixture(t, "firewalld-info-policy.txt"))
	if info.fields["ingress-zones"] != "ANY" || info.fields["egress-zones"] != "HOST" || len(info.rich) != 3 {
		t.Fatalf("info-policy read as %+v", info)
	}
	for _, running := range []bool{false, true} {
		st := fwdState{policy: fixIn.Name, perm: &p}
		if running {
			st.runtime = &info
		}
		checkParsed(t, map[bool]string{false: "permanent", true: "running"}[running], st.rule(fixIn.Name, running), fixIn,
			"have 10.0.0.0/24,10.5.0.0/16,fd00:1::/64", "rich rule holds what milink does not write")
	}
	// The running policy, changed by hand, differs from the permanent one.
	changed := info
	changed.rich = changed.rich[:2]
	st := fwdState{policy: fixIn.Name, perm: &p, runtime: &changed}
	checkParsed(t, "running, changed", st.rule(fixIn.Name, true), fixIn, "differs from the permanent one")
	// Loaded as written by milink: the same rule.
	var mine fwdPolicy
	if err := xml.Unmarshal(policyXML(mustParse(t, fixIn)), &mine); err != nil {
		t.Fatal(err)
	}
	checkParsed(t, "as written", fwdState{policy: fixIn.Name, perm: &mine}.rule(fixIn.Name, false), fixIn)

	for _, s := range info.rich {
		r, err := parseRich(s)
		if err != nil {
			t.Fatal(err)
		}
		if r.String() != s {
			t.Errorf("rich rule %q read back as %q", s, r.String())
		}
	}
	r, err := parseRich(`rule family="ipv4" source NOT address="10.0.0.0/8" port port="5022" protocol="tcp" accept`)
	if err != nil || r.Source == nil || r.Source.Invert != "true" || r.Source.Address != "10.0.0.0/8" {
		t.Errorf("NOT: %+v %v", r.Source, err)
	}
	if u := richUnit(r, Inbound); len(u.extra) == 0 {
		t.Error("an inverted source is milink's")
	}
}

func TestPolicyName(t *testing.T) {
	for name, want := range map[string]string{
		"milink-sql01-in":              "milink-sql01-in",
		"milink-sql01.in":              "milink-sql-d34d93",
		"milink-a-very-long-rule-name": "milink-a-v-99cb69",
	} {
		got := PolicyName(name)
		if len(got) > fwdMaxName || strings.ContainsAny(got, ".") {
			t.Errorf("PolicyName(%q) = %q, not a firewalld policy name", name, got)
		}
		if got != want {
			t.Errorf("PolicyName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseWindowsFixtures(t *testing.T) {
	read := func(file, name string) (*Rule, error) {
		data, err := os.ReadFile(filepath.Join("testdata", "windows", file))
		if err != nil {
			t.Fatal(err)
		}
		return parseWindowsRules(data, name)
	}
	r, err := read("get-rule-created.json", fixIn.Name)
	if err != nil {
		t.Fatal(err)
	}
	// 10.0.0.0/255.255.255.0 is 10.0.0.0/24.
	checkParsed(t, "created", r, fixIn)

	out := fixOut
	out.Description = "Managed Instance link: to the managed instance"
	r, err = read("get-rule-outbound.json", fixOut.Name)
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, "outbound, one object", r, out)

	r, err = read("get-rule-drifted.json", fixIn.Name)
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, "drifted", r, fixIn,
		"local ports: want 5022, have 5022-5023",
		`Enabled is "False"`, `Profile is "Domain, Private"`, `Program is`,
		`remote address "LocalSubnet" milink does not write`,
		"10.5.0.1/32,10.5.0.2/31,10.5.0.4/31,10.5.0.6/32")

	if _, err := read("get-rule-foreign.json", fixIn.Name); err == nil || !strings.Contains(err.Error(), `in the group "SQL Server", which milink did not create`) {
		t.Errorf("someone's rule: %v", err)
	}
	if r, err := read("get-rule-none.json", fixIn.Name); r != nil || err != nil {
		t.Errorf("no rule: %v, %v", r, err)
	}
	if r, err := parseWindowsRules([]byte("\r\n"), fixIn.Name); r != nil || err != nil {
		t.Errorf("no output: %v, %v", r, err)
	}
	if _, err := parseWindowsRules([]byte("WARNING: something\r\n[]"), fixIn.Name); err == nil {
		t.Error("output that is not JSON parsed")
	}
}

func TestSplitIptables(t *testing.T) {
	got, err := splitIptables(`-A X -m comment --comment "a \"quoted\" \\ x" -j ACCEPT`)
	if err != nil || !slices.Equal(got, []string{"-A", "X", "-m", "comment", "--comment", `a "quoted" \ x`, "-j", "ACCEPT"}) {
		t.Errorf("splitIptables = %q, %v", got, err)
	}
	if _, err := splitIptables(`-A X --comment "open`); err == nil {
		t.Error("an unterminated quote split")
	}
}

func TestShadowed(t *testing.T) {
	got, err := parseShadowed([]byte(`{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
{"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
{"chain": {"family": "inet", "table": "filter", "name": "output", "handle": 3, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}},
{"chain": {"family": "inet", "table": "milink", "name": "milink-a", "handle": 4, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}]}`))
	if err != nil || len(got) != 1 || !strings.Contains(got[0], "table inet filter chain input (hook input) drops") {
		t.Errorf("parseShadowed = %q, %v", got, err)
	}
}
