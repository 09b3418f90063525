//go:build linux

package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milink/milink/resources/host"
)

// realTool is how the conformance test drives one backend's real tool.
type realTool struct {
	backend string
	// setup prepares the tool's configuration and adds rules milink did
	// not create.
	setup func(t *testing.T)
	// state is everything the tool holds, to see that an Apply with
	// nothing to do changes nothing.
	state func(t *testing.T) string
	// foreign is the rules milink did not create, which no operation may
	// change.
	foreign func(t *testing.T) string
	// drift changes milink's rule r by hand, with the tool; Diff must
	// then say driftDiff.
	drift     func(t *testing.T, r Rule)
	driftDiff string
	// oneRule leaves out the second rule (for a slow tool).
	oneRule bool
}

func mustRule(t *testing.T, s Spec) Rule {
	t.Helper()
	r, err := ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// conformance runs the life of milink's rules with the real tool: create,
// observe, apply again (nothing changes), drift by hand and repair,
// update (addresses, ports, description, then direction), delete; after
// each, the rules milink did not create are unchanged.
func conformance(t *testing.T, tool realTool) {
	ctx := context.Background()
	tool.setup(t)
	b, err := New(ctx, tool.backend, host.Local{})
	if err != nil {
		t.Fatal(err)
	}
	foreign := tool.foreign(t)
	if strings.TrimSpace(foreign) == "" {
		t.Fatal("the test set up no foreign rule")
	}
	checkForeign := func(after string) {
		t.Helper()
		if got := tool.foreign(t); got != foreign {
			t.Fatalf("after %s, rules milink did not create changed:\n--- before\n%s\n--- after\n%s", after, foreign, got)
		}
	}
	read := func(name string) *Rule {
		t.Helper()
		r, err := b.Read(ctx, name)
		if err != nil {
			t.Fatalf("Read %s: %v", name, err)
		}
		return r
	}
	expect := func(after string, want Rule) {
		t.Helper()
		have := read(want.Name)
		if d := Diff(want, have); len(d) > 0 {
			t.Fatalf("after %s, %s differs from what was applied:\n%s\nobserved:\n%s\nstate:\n%s", after, want.Name, strings.Join(d, "\n"), observed(have), tool.state(t))
		}
		if len(have.Observed) == 0 {
			t.Fatalf("after %s, Read of %s observed nothing", after, want.Name)
		}
		checkForeign(after)
	}
	apply := func(what string, r Rule) {
		t.Helper()
		have := read(r.Name)
		t.Logf("%s: %s\nplan:\n%s", what, r, strings.Join(b.Describe(OpApply, r, have), "\n"))
		if err := b.Apply(ctx, r); err != nil {
			t.Fatalf("%s: Apply: %v", what, err)
		}
		expect(what, r)
	}

	in := mustRule(t, LinkSpec("milink-test-in", Inbound, []string{"10.0.0.0/24", "fd00:1::/64"}))
	out := mustRule(t, LinkSpec("milink-test-out", Outbound, []string{"10.0.0.0/24"}))

	if r := read(in.Name); r != nil {
		t.Fatalf("before any Apply, Read found %v", r)
	}
	apply("create", in)
	if !tool.oneRule {
		apply("create a second rule", out)
	}
	t.Logf("observed %s:\n%s", in.Name, observed(read(in.Name)))

	// Apply again: nothing to do, nothing changes.
	before := tool.state(t)
	if steps := b.Describe(OpApply, in, read(in.Name)); len(steps) > 0 {
		t.Fatalf("Describe of an Apply with nothing to do lists commands:\n%s", strings.Join(steps, "\n"))
	}
	if err := b.Apply(ctx, in); err != nil {
		t.Fatal(err)
	}
	if after := tool.state(t); after != before {
		t.Fatalf("a second Apply changed the firewall:\n--- before\n%s\n--- after\n%s", before, after)
	}

	// Drift: milink's rule changed by hand is seen, and put back.
	tool.drift(t, in)
	drifted := read(in.Name)
	d := Diff(in, drifted)
	t.Logf("drift seen:\n%s", strings.Join(d, "\n"))
	if !slices.ContainsFunc(d, func(s string) bool { return strings.Contains(s, tool.driftDiff) }) {
		t.Fatalf("after changing %s by hand, Diff says\n%s\nnot %q; observed:\n%s", in.Name, strings.Join(d, "\n"), tool.driftDiff, observed(drifted))
	}
	checkForeign("drift")
	apply("repair the drift", in)

	// Update: addresses (any), ports, description; then direction.
	in2 := mustRule(t, Spec{Name: in.Name, Direction: "inbound", LocalPorts: []string{"5022", "5023"}, Description: "updated"})
	apply("update addresses, ports and description", in2)
	in3 := mustRule(t, Spec{Name: in.Name, Direction: "outbound", RemotePorts: []string{"11000-11999"}, RemoteAddresses: []string{"fd00:3::/64"}})
	apply("update the direction", in3)
	if !tool.oneRule {
		expect("updating another rule", out)
	}

	// Delete, twice; the other rule stays.
	t.Logf("delete %s:\n%s", in.Name, strings.Join(b.Describe(OpDelete, Rule{Name: in.Name}, read(in.Name)), "\n"))
	for i := 0; i < 2; i++ {
		if err := b.Delete(ctx, in.Name); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		if r := read(in.Name); r != nil {
			t.Fatalf("after Delete, Read found %v:\n%s", r, observed(r))
		}
		checkForeign("delete")
	}
	if !tool.oneRule {
		expect("deleting another rule", out)
		if err := b.Delete(ctx, out.Name); err != nil {
			t.Fatal(err)
		}
		if r := read(out.Name); r != nil {
			t.Fatalf("after Delete, Read found %v", r)
		}
		checkForeign("deleting every rule")
	}
	t.Logf("rules milink did not create, unchanged throughout:\n%s", foreign)
}

func observed(r *Rule) string {
	if r == nil {
		return "(nothing)"
	}
	return strings.Join(append(slices.Clone(r.Observed), r.Unexpected...), "\n")
}

func TestNftables(t *testing.T) {
	t.Parallel()
	if !inNamespace(t) {
		return
	}
	needTools(t, "nft")
	conformance(t, realTool{
		backend: NameNftables,
		setup: func(t *testing.T) {
			// Someone else's table, with a rule carrying milink's rule
			// name as its comment, and a chain of someone's in milink's
			// table.
			sh(t, `add table inet filter
add chain inet filter input { type filter hook input priority 0; policy accept; }
add rule inet filter input ip saddr 10.0.0.0/24 tcp dport 5022 accept comment "milink-test-in"
add table inet milink
add chain inet milink handmade
add rule inet milink handmade tcp dport 22 accept comment "milink-test-in"
`, "nft", "-f", "-")
		},
		state: func(t *testing.T) string { return sh(t, "", "nft", "-a", "list", "ruleset") },
		foreign: func(t *testing.T) string {
			return sh(t, "", "nft", "list", "table", "inet", "filter") + sh(t, "", "nft", "list", "chain", "inet", "milink", "handmade")
		},
		drift: func(t *testing.T, r Rule) {
			sh(t, "", "nft", "add", "rule", "inet", "milink", r.Name, "tcp", "dport", "22", "accept", "comment", fmt.Sprintf("%q", r.comment()))
		},
		driftDiff: "local ports: want 5022, have 22,5022",
	})

	// Someone's chain that drops what it does not accept shadows
	// milink's accepts: Shadowed says so.
	b := &Nftables{t: host.Local{}}
	if got, err := b.Shadowed(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("Shadowed = %q, %v; want nothing", got, err)
	}
	sh(t, "add table ip strict\nadd chain ip strict in { type filter hook input priority 10; policy drop; }\n", "nft", "-f", "-")
	got, err := b.Shadowed(context.Background())
	if err != nil || len(got) != 1 || !strings.Contains(got[0], "table ip strict chain in (hook input)") {
		t.Fatalf("Shadowed = %q, %v", got, err)
	}
}

func TestIptables(t *testing.T) {
	t.Parallel()
	if !inNamespace(t) {
		return
	}
	needTools(t, "iptables", "ip6tables")
	ours := regexp.MustCompile(`^-N MILINK-|^-A (INPUT|OUTPUT) -m comment --comment milink -j MILINK-|^-A MILINK-\S+ .*--comment "?milink-test-(in|out)[:"\s]`)
	conformance(t, realTool{
		backend: NameIptables,
		setup: func(t *testing.T) {
			// Someone's rule with milink's rule name as its comment, in
			// INPUT; someone's rule in milink's chain; an IPv6 rule.
			sh(t, "", "iptables", "-A", "INPUT", "-s", "10.0.0.0/24", "-p", "tcp", "--dport", "5022", "-m", "comment", "--comment", "milink-test-in", "-j", "ACCEPT")
			sh(t, "", "iptables", "-N", "MILINK-INPUT")
			sh(t, "", "iptables", "-A", "MILINK-INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
			sh(t, "", "ip6tables", "-A", "OUTPUT", "-d", "fd00:1::/64", "-p", "tcp", "--dport", "5022", "-j", "DROP")
		},
		state: func(t *testing.T) string {
			return sh(t, "", "iptables", "-S") + sh(t, "", "ip6tables", "-S")
		},
		foreign: func(t *testing.T) string {
			var keep []string
			for _, l := range strings.Split(sh(t, "", "iptables", "-S")+sh(t, "", "ip6tables", "-S"), "\n") {
				if !ours.MatchString(l) {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		},
		drift: func(t *testing.T, r Rule) {
			// Remove the IPv4 rule by hand.
			sh(t, "", "iptables", "-D", "MILINK-INPUT", "-s", "10.0.0.0/24", "-p", "tcp", "-m", "multiport", "--dports", "5022", "-m", "comment", "--comment", r.comment(), "-j", "ACCEPT")
		},
		driftDiff: "remote addresses: want 10.0.0.0/24,fd00:1::/64, have fd00:1::/64",
	})
}

// defaultUfw is Debian's /etc/default/ufw, in which the test's ufw runs.
const defaultUfw = `IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="DROP"
DEFAULT_APPLICATION_POLICY="SKIP"
MANAGE_BUILTINS=no
IPT_SYSCTL=/etc/ufw/sysctl.conf
IPT_MODULES=""
`

// setupUfw puts a pristine ufw configuration in place (the package's
// templates where it ships them) and, when enable is set, enables ufw.
func setupUfw(t *testing.T, enable bool) {
	var dir string
	if _, err := os.Stat("/usr/share/ufw/iptables"); err == nil {
		// Debian's packaging keeps the templates there, readable by
		// all (the copies in /etc/ufw are not, in a user namespace).
		dir = bindCopy(t, "/etc/ufw", "")
		for _, f := range []string{"before.rules", "after.rules", "before6.rules", "after6.rules", "user.rules", "user6.rules"} {
			copyIfExists(t, "/usr/share/ufw/iptables/"+f, filepath.Join(dir, f))
		}
		for _, f := range []string{"ufw.conf", "before.init", "after.init"} {
			copyIfExists(t, "/usr/share/ufw/"+f, filepath.Join(dir, f))
		}
		if err := os.MkdirAll(filepath.Join(dir, "applications.d"), 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		dir = bindCopy(t, "/etc/ufw", "/etc/ufw")
	}
	// No sysctl: the namespace's network settings are left as they are.
	if err := os.WriteFile(filepath.Join(dir, "sysctl.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bindFile(t, "/etc/default/ufw", defaultUfw)
	if enable {
		sh(t, "", "ufw", "--force", "enable")
	}
}

func copyIfExists(t *testing.T, from, to string) {
	data, err := os.ReadFile(from)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ufwTuples is every tuple ufw keeps, with its comment in clear, except
// those of the rules named.
func ufwTuples(t *testing.T, except ...string) string {
	var out []string
	for _, f := range []string{"/etc/ufw/user.rules", "/etc/ufw/user6.rules"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := parseUfwRules(string(data), filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		for _, tu := range ts {
			if slices.ContainsFunc(except, func(n string) bool { _, ok := parseComment(tu.comment, n); return ok }) {
				continue
			}
			out = append(out, tu.observed())
		}
	}
	return strings.Join(out, "\n")
}

func TestUfw(t *testing.T) {
	t.Parallel()
	if !inNamespace(t) {
		return
	}
	needTools(t, "ufw", "iptables")
	ctx := context.Background()
	conformance(t, realTool{
		backend: NameUfw,
		setup: func(t *testing.T) {
			setupUfw(t, true)
			// Someone's rules: one for the link's port from another
			// subnet, one without a comment, and a deny whose comment
			// starts with milink's rule name.
			sh(t, "", "ufw", "allow", "in", "proto", "tcp", "from", "10.9.0.0/16", "to", "any", "port", "5022", "comment", "someone")
			sh(t, "", "ufw", "allow", "22/tcp")
			sh(t, "", "ufw", "deny", "in", "proto", "tcp", "from", "10.8.0.0/16", "to", "any", "port", "5022", "comment", "milink-test-in-other")
		},
		state: func(t *testing.T) string {
			return ufwTuples(t) + "\n" + sh(t, "", "iptables", "-S") + sh(t, "", "ip6tables", "-S")
		},
		foreign: func(t *testing.T) string { return ufwTuples(t, "milink-test-in", "milink-test-out") },
		drift: func(t *testing.T, r Rule) {
			sh(t, "", "ufw", "allow", "in", "proto", "tcp", "from", "10.0.0.0/24", "to", "any", "port", "5023", "comment", r.comment())
		},
		driftDiff: "local ports: want 5022, have 5022-5023",
	})

	// ufw is active and firewalld does not run: Detect chooses ufw.
	b, err := Detect(ctx, host.Local{}, "")
	if err != nil || b.Name() != NameUfw {
		t.Fatalf("Detect with ufw active = %v, %v; want ufw", b, err)
	}

	// A rule of someone else's matching what milink would add: ufw would
	// take it over, so Apply refuses and changes nothing.
	sh(t, "", "ufw", "allow", "in", "proto", "tcp", "from", "10.7.0.0/16", "to", "any", "port", "5022")
	before := ufwTuples(t)
	r := mustRule(t, LinkSpec("milink-test-coll", Inbound, []string{"10.5.0.0/16", "10.7.0.0/16"}))
	err = b.Apply(ctx, r)
	t.Logf("Apply over someone's identical rule: %v", err)
	if err == nil || !strings.Contains(err.Error(), "which milink did not create") || !strings.Contains(err.Error(), "10.7.0.0/16") {
		t.Fatalf("Apply over someone's identical rule: %v, want an error naming it", err)
	}
	if after := ufwTuples(t); after != before {
		t.Fatalf("a refused Apply changed ufw's rules:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// fwdConfig is a minimal firewalld configuration, with someone's rich rule
// (the same as milink's) in the public zone and someone's policy.
func setupFirewalld(t *testing.T) string {
	dir := bindCopy(t, "/etc/firewalld", "")
	files := map[string]string{
		"firewalld.conf": "DefaultZone=public\nFirewallBackend=nftables\nLogDenied=off\n",
		"zones/public.xml": `<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  <rule family="ipv4">
    <source address="10.0.0.0/24"/>
    <port port="5022" protocol="tcp"/>
    <accept/>
  </rule>
</zone>
`,
		"policies/someones.xml": `<?xml version="1.0" encoding="utf-8"?>
<policy target="CONTINUE">
  <short>someone's</short>
  <ingress-zone name="ANY"/>
  <egress-zone name="HOST"/>
  <rule family="ipv4">
    <source address="10.9.0.0/16"/>
    <port port="5022" protocol="tcp"/>
    <accept/>
  </rule>
</policy>
`,
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// firewalldFiles is the configuration's files, except the policies of the
// rules named and firewalld's backups.
func firewalldFiles(t *testing.T, except ...string) string {
	var b strings.Builder
	err := filepath.WalkDir("/etc/firewalld", func(p string, d fs.DirEntry, err error) error {
		// firewall-offline-cmd saves a file it read as <file>.old,
		// unchanged.
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".old") {
			return err
		}
		if slices.ContainsFunc(except, func(n string) bool { return strings.HasPrefix(filepath.Base(p), PolicyName(n)+".xml") }) {
			return nil
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "== %s\n%s\n", p, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFirewalldOffline(t *testing.T) {
	t.Parallel()
	if !inNamespace(t) {
		return
	}
	needTools(t, "firewall-offline-cmd")
	ctx := context.Background()
	conformance(t, realTool{
		backend: NameFirewalld,
		setup:   func(t *testing.T) { setupFirewalld(t) },
		state:   func(t *testing.T) string { return firewalldFiles(t) },
		foreign: func(t *testing.T) string { return firewalldFiles(t, "milink-test-in", "milink-test-out") },
		drift: func(t *testing.T, r Rule) {
			sh(t, "", "firewall-offline-cmd", "--policy="+PolicyName(r.Name), `--add-rich-rule=rule family="ipv4" source address="10.5.0.0/16" port port="5022" protocol="tcp" accept`)
		},
		driftDiff: "remote addresses: want 10.0.0.0/24,fd00:1::/64, have 10.0.0.0/24,10.5.0.0/16,fd00:1::/64",
	})

	// A policy of someone else's where milink's would go: Read and
	// Apply refuse, and it stays.
	p := filepath.Join("/etc/firewalld/policies", PolicyName("milink-test-coll")+".xml")
	data := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n<policy target=\"CONTINUE\"><short>someone's</short></policy>\n")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, NameFirewalld, host.Local{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx, "milink-test-coll"); err == nil || !strings.Contains(err.Error(), "is not milink's rule") {
		t.Fatalf("Read of someone's policy: %v, want a refusal", err)
	}
	err = b.Apply(ctx, mustRule(t, LinkSpec("milink-test-coll", Inbound, nil)))
	t.Logf("Apply over someone's policy: %v", err)
	if err == nil {
		t.Fatal("Apply over someone's policy succeeded")
	}
	if got, _ := os.ReadFile(p); string(got) != string(data) {
		t.Fatalf("someone's policy changed:\n%s", got)
	}
}

const dbusConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
`

// startFirewalld runs a system bus of the test's own and firewalld on it,
// in the namespace, until the test ends.
func startFirewalld(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "dbus.conf")
	if err := os.WriteFile(conf, []byte(dbusConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/dbus", 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	start := func(argv ...string) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	start("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile")
	for i := 0; ; i++ {
		if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("dbus-daemon did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start("firewalld", "--nofork", "--nopid", "--log-target=console")
	for i := 0; ; i++ {
		out, _ := exec.Command("firewall-cmd", "--state").Output()
		if strings.TrimSpace(string(out)) == "running" {
			break
		}
		if i > 60 {
			t.Fatalf("firewalld did not start:\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dbus-daemon and firewalld said:\n%s", logs.String())
		}
	})
}

func TestFirewalldRunning(t *testing.T) {
	t.Parallel()
	if !inNamespace(t) {
		return
	}
	needTools(t, "firewalld", "firewall-cmd", "dbus-daemon")
	ctx := context.Background()
	setupFirewalld(t)
	if _, err := exec.LookPath("ufw"); err == nil {
		setupUfw(t, false) // installed, inactive: Detect sees firewalld only
	}
	startFirewalld(t)
	// Someone's rules in the running firewall, kept permanent too (a
	// running-only change is tested below).
	sh(t, "", "firewall-cmd", "--zone=public", "--add-port=4000/tcp")
	sh(t, "", "firewall-cmd", "--permanent", "--zone=public", "--add-port=4000/tcp")
	running := func(t *testing.T) string {
		return sh(t, "", "firewall-cmd", "--list-all-zones") + sh(t, "", "firewall-cmd", "--info-policy=someones")
	}
	foreignRunning := running(t)
	conformance(t, realTool{
		backend: NameFirewalld,
		setup:   func(t *testing.T) {},
		state: func(t *testing.T) string {
			return firewalldFiles(t) + sh(t, "", "firewall-cmd", "--info-policy="+PolicyName("milink-test-in"))
		},
		// firewall-cmd is slow: the running zones and policies are
		// compared at the end, the files after every step.
		foreign: func(t *testing.T) string { return firewalldFiles(t, "milink-test-in", "milink-test-out") },
		drift: func(t *testing.T, r Rule) {
			// A change to the running policy only.
			sh(t, "", "firewall-cmd", "--policy="+PolicyName(r.Name), `--add-rich-rule=rule family="ipv4" source address="10.5.0.0/16" port port="5022" protocol="tcp" accept`)
		},
		driftDiff: "the running policy milink-test-in differs from the permanent one",
		oneRule:   true,
	})
	if got := running(t); got != foreignRunning {
		t.Fatalf("the running zones or someone's policy changed:\n--- before\n%s\n--- after\n%s", foreignRunning, got)
	}

	// Detect sees firewalld running.
	b, err := Detect(ctx, host.Local{}, "")
	if err != nil || b.Name() != NameFirewalld || !b.(*Firewalld).Running {
		t.Fatalf("Detect with firewalld running = %v, %v", b, err)
	}

	// A change someone made to the running firewall only would be lost
	// by the reload a new policy needs: Apply refuses, changing nothing.
	sh(t, "", "firewall-cmd", "--zone=public", "--add-port=1234/tcp")
	before := firewalldFiles(t) + running(t) + sh(t, "", "firewall-cmd", "--get-policies")
	err = b.Apply(ctx, mustRule(t, LinkSpec("milink-test-new", Inbound, []string{"10.0.0.0/24"})))
	t.Logf("Apply with a running-only change: %v", err)
	if err == nil || !strings.Contains(err.Error(), "--list-all-zones public") {
		t.Fatalf("Apply with a running-only change: %v, want a refusal naming the zone", err)
	}
	if after := firewalldFiles(t) + running(t) + sh(t, "", "firewall-cmd", "--get-policies"); after != before {
		t.Fatalf("a refused Apply changed firewalld:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// lockedBuffer collects the output of programs running at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
