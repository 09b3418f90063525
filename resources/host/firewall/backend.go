package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Backend manages milink's rules in one firewall tool on one host.
type Backend interface {
	// Name is the backend's name, as Detect's override takes it:
	// "nftables", "iptables", "ufw", "firewalld", "windows".
	Name() string
	// Read returns milink's rule called name as the tool holds it, nil
	// when there is none. It never reports a rule milink did not create.
	Read(ctx context.Context, name string) (*Rule, error)
	// Apply creates r, or makes milink's rule called r.Name what r says.
	// When it already is (Diff is empty), Apply changes nothing. It never
	// changes another rule: where it would have to (see ufw), it fails
	// before changing anything.
	Apply(ctx context.Context, r Rule) error
	// Delete removes milink's rule called name; nothing when there is none.
	Delete(ctx context.Context, name string) error
	// Describe lists the commands Apply (op OpApply, r the rule wanted) or
	// Delete (op OpDelete, r naming the rule) runs when Read returned
	// have, one command (with any input it reads) per item, for plans and
	// review. A command run only when something is missing says so.
	Describe(op Op, r Rule, have *Rule) []string
}

// Op is what Describe describes.
type Op string

const (
	OpApply  Op = "apply"
	OpDelete Op = "delete"
)

// The backends' names.
const (
	NameNftables  = "nftables"
	NameIptables  = "iptables"
	NameUfw       = "ufw"
	NameFirewalld = "firewalld"
	NameWindows   = "windows"
)

// Names lists the backends, as Detect's override takes them.
var Names = []string{NameNftables, NameIptables, NameUfw, NameFirewalld, NameWindows}

// Detect chooses the backend for the host t reaches. override, when not
// empty or "auto", names the backend to use (one of Names); its tool must
// be there. Otherwise: Windows on Windows; on Linux firewalld when it is
// running, ufw when it is active (both is an error: choose with the
// override), else nftables when nft is installed, else iptables.
func Detect(ctx context.Context, t host.Transport, override string) (Backend, error) {
	override = strings.ToLower(strings.TrimSpace(override))
	if override != "" && override != "auto" {
		return New(ctx, override, t)
	}
	if t.OS() == "windows" {
		return New(ctx, NameWindows, t)
	}
	if t.OS() != "linux" {
		return nil, fmt.Errorf("host firewall: milink manages the firewall of Linux and Windows hosts, not %s", t.OS())
	}
	fwd, err := firewalldRunning(ctx, t)
	if err != nil {
		return nil, err
	}
	ufw, err := ufwActive(ctx, t)
	if err != nil {
		return nil, err
	}
	switch {
	case fwd && ufw:
		return nil, fmt.Errorf("host firewall: both firewalld (running) and ufw (active) manage this host's firewall; they overwrite each other's rules, so milink will not guess: disable one of them, or choose the one milink should use with the backend setting (%q or %q)", NameFirewalld, NameUfw)
	case fwd:
		return New(ctx, NameFirewalld, t)
	case ufw:
		return New(ctx, NameUfw, t)
	}
	if ok, err := findTool(ctx, t, "nft"); err != nil {
		return nil, err
	} else if ok != "" {
		return New(ctx, NameNftables, t)
	}
	if ok, err := findTool(ctx, t, "iptables"); err != nil {
		return nil, err
	} else if ok != "" {
		return New(ctx, NameIptables, t)
	}
	return nil, errors.New("host firewall: none of firewalld, ufw, nft or iptables is installed on this host: install the one its firewall uses (nftables on most distributions), or set the backend")
}

// New is the backend called name, for the host t reaches. Its tool must be
// installed there.
func New(ctx context.Context, name string, t host.Transport) (Backend, error) {
	if name == NameWindows {
		if t.OS() != "windows" {
			return nil, fmt.Errorf("host firewall: backend %q manages Windows hosts; this one runs %s", name, t.OS())
		}
		return &Windows{t: t}, nil
	}
	if !slices.Contains(Names, name) {
		return nil, fmt.Errorf("host firewall: unknown backend %q (choose one of %s)", name, strings.Join(Names, ", "))
	}
	if t.OS() != "linux" {
		return nil, fmt.Errorf("host firewall: backend %q manages Linux hosts; this one runs %s", name, t.OS())
	}
	tool := map[string]string{NameNftables: "nft", NameIptables: "iptables", NameUfw: "ufw", NameFirewalld: "firewall-offline-cmd"}[name]
	if p, err := findTool(ctx, t, tool); err != nil {
		return nil, err
	} else if p == "" {
		return nil, fmt.Errorf("host firewall: backend %q needs %s, which is not installed on this host (install the %s package, or choose another backend)", name, tool, map[string]string{"nft": "nftables", "iptables": "iptables", "ufw": "ufw", "firewall-offline-cmd": "firewalld"}[tool])
	}
	switch name {
	case NameNftables:
		return &Nftables{t: t}, nil
	case NameIptables:
		return &Iptables{t: t}, nil
	case NameUfw:
		return &Ufw{t: t}, nil
	default:
		running, err := firewalldRunning(ctx, t)
		if err != nil {
			return nil, err
		}
		return &Firewalld{t: t, Running: running}, nil
	}
}

// toolDirs are where Linux distributions install the tools.
var toolDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}

// findTool is the path of the program on the host, "" when it is not there.
func findTool(ctx context.Context, t host.Transport, name string) (string, error) {
	for _, d := range toolDirs {
		p := path.Join(d, name)
		fi, err := t.Stat(ctx, p)
		switch {
		case err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0:
			return p, nil
		case err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		default:
			return "", fmt.Errorf("host firewall: looking for %s: %w", name, err)
		}
	}
	return "", nil
}

// firewalldRunning reports whether the firewalld daemon runs
// (firewall-cmd --state prints "running" and exits 0; it exits 252 when
// not running, and otherwise when it cannot reach D-Bus).
func firewalldRunning(ctx context.Context, t host.Transport) (bool, error) {
	if p, err := findTool(ctx, t, "firewall-cmd"); err != nil || p == "" {
		return false, err
	}
	out, err := t.Exec(ctx, host.Command{Argv: []string{"firewall-cmd", "--state"}})
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return err == nil && strings.TrimSpace(string(out.Stdout)) == "running", nil
}

// ufwActive reports whether ufw is enabled and loaded (ufw status prints
// "Status: active"; it needs root).
func ufwActive(ctx context.Context, t host.Transport) (bool, error) {
	if p, err := findTool(ctx, t, "ufw"); err != nil || p == "" {
		return false, err
	}
	out, err := t.Exec(ctx, host.Command{Argv: []string{"ufw", "status"}})
	if err != nil {
		return false, cmdError([]string{"ufw", "status"}, out, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out.Stdout)), "\n")
	return strings.TrimSpace(first) == "Status: active", nil
}

// step is one command a backend runs.
type step struct {
	argv    []string
	stdin   []byte
	note    string // when it runs, if not always
	display string // how Describe shows it, when not as the command (a script)
}

// text is the step as Describe shows it: the command as it could be typed
// into a shell, its input as a here-document.
func (s step) text() string {
	if s.display != "" {
		return strings.TrimSuffix(s.display, "\n")
	}
	t := host.CommandText(s.argv)
	if s.stdin != nil {
		t += " <<'EOF'\n" + strings.TrimSuffix(string(s.stdin), "\n") + "\nEOF"
	}
	if s.note != "" {
		t = "# " + s.note + "\n" + t
	}
	return t
}

func texts(steps []step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.text()
	}
	return out
}

// run runs the command; the error names it and ends with what the tool
// printed on stderr, where the reason is.
func run(ctx context.Context, t host.Transport, argv []string, stdin []byte) (host.Output, error) {
	out, err := t.Exec(ctx, host.Command{Argv: argv, Stdin: stdin})
	if err != nil {
		return out, cmdError(argv, out, err)
	}
	return out, nil
}

func runSteps(ctx context.Context, t host.Transport, steps []step) error {
	for _, s := range steps {
		if _, err := run(ctx, t, s.argv, s.stdin); err != nil {
			return err
		}
	}
	return nil
}

func cmdError(argv []string, out host.Output, err error) error {
	msg := strings.TrimSpace(string(out.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(out.Stdout))
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	if msg != "" {
		return fmt.Errorf("%s: %w: %s", host.CommandText(argv), err, msg)
	}
	return fmt.Errorf("%s: %w", host.CommandText(argv), err)
}

// unit is one rule of a tool's that belongs to a milink rule. Tools split a
// milink rule into several (one per address family, per address, per
// handful of ports); each backend parses what it finds into units, and
// assemble puts them together again.
type unit struct {
	dir   Direction
	local bool    // ports are local ports
	ports PortSet // nil: any port
	// addrs is the unit's addresses; a unit for any address of one
	// family holds that family's whole prefix (0.0.0.0/0 or ::/0), a unit
	// for any address of both families holds both.
	addrs AddrSet
	desc  string
	text  string   // the unit as the tool shows it
	extra []string // what it holds that milink does not write
}

var (
	anyV4 = netip.MustParsePrefix("0.0.0.0/0")
	anyV6 = netip.MustParsePrefix("::/0")
)

// assemble is the milink rule made of units (nil when there are none):
// directions and descriptions must agree; ports and addresses are their
// union. split is how the backend splits a rule into units: when the
// units found are not exactly those of the rule they make up (one was
// removed by hand, say), the rule gets an Unexpected line, so it is
// rewritten.
func assemble(name string, units []unit, split func(Rule) []unit) *Rule {
	if len(units) == 0 {
		return nil
	}
	r := &Rule{Name: name, Direction: units[0].dir, Protocol: "tcp", Description: units[0].desc}
	var ports []PortRange
	var addrs []netip.Prefix
	local := units[0].local
	for _, u := range units {
		r.Observed = append(r.Observed, u.text)
		r.Unexpected = append(r.Unexpected, u.extra...)
		if u.dir != r.Direction {
			r.Unexpected = append(r.Unexpected, fmt.Sprintf("rules for both directions (%s)", u.text))
		}
		if u.desc != r.Description {
			r.Unexpected = append(r.Unexpected, fmt.Sprintf("descriptions differ (%q and %q)", r.Description, u.desc))
		}
		if u.local != local {
			r.Unexpected = append(r.Unexpected, "rules on local ports and on remote ports ("+u.text+")")
		}
		if u.ports == nil {
			r.Unexpected = append(r.Unexpected, "a rule for any port ("+u.text+")")
		}
		ports = append(ports, u.ports...)
		addrs = append(addrs, u.addrs...)
	}
	if local {
		r.LocalPorts = NewPortSet(ports...)
	} else {
		r.RemotePorts = NewPortSet(ports...)
	}
	r.Remote = NewAddrSet(addrs...)
	r.Unexpected = dedupe(r.Unexpected)
	if len(r.Unexpected) == 0 {
		if want, have := unitKeys(split(*r)), unitKeys(units); !slices.Equal(want, have) {
			r.Unexpected = append(r.Unexpected, fmt.Sprintf("the tool holds %s where milink writes %s", strings.Join(have, "; "), strings.Join(want, "; ")))
		}
	}
	return r
}

// unitKeys identifies units by what they match, sorted.
func unitKeys(us []unit) []string {
	keys := make([]string, len(us))
	for i, u := range us {
		side := "remote"
		if u.local {
			side = "local"
		}
		keys[i] = fmt.Sprintf("%s %s port %s addr %s", u.dir, side, u.ports, u.addrs)
	}
	slices.Sort(keys)
	return keys
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// familyAddrs is, for a unit of one family, its addresses: the family's
// whole prefix when the rule allows any address.
func familyAddrs(set AddrSet, v6 bool) AddrSet {
	if len(set) > 0 {
		return set
	}
	if v6 {
		return AddrSet{anyV6}
	}
	return AddrSet{anyV4}
}

// families splits a rule's addresses by family: for a rule allowing any
// address, both families' whole prefixes.
func families(r Rule) (v4, v6 AddrSet) {
	if len(r.Remote) == 0 {
		return AddrSet{anyV4}, AddrSet{anyV6}
	}
	return r.Remote.split()
}

// reconcile pairs the units a tool holds with those wanted: adds are the
// wanted ones it lacks, dels those it holds that are not wanted (or hold
// something milink does not write, or a duplicate).
func reconcile(have, want []unit) (adds, dels []unit) {
	claimed := make([]bool, len(want))
	for _, h := range have {
		i := -1
		if len(h.extra) == 0 {
			i = slices.IndexFunc(want, func(u unit) bool { return sameUnit(h, u) && h.desc == u.desc })
			for i >= 0 && claimed[i] {
				i = nextMatch(want, i+1, h)
			}
		}
		if i < 0 {
			dels = append(dels, h)
			continue
		}
		claimed[i] = true
	}
	for i, u := range want {
		if !claimed[i] {
			adds = append(adds, u)
		}
	}
	return adds, dels
}

// sameUnit reports whether two units match the same packets.
func sameUnit(a, b unit) bool {
	return a.dir == b.dir && a.local == b.local && slices.Equal(a.ports, b.ports) && slices.Equal(a.addrs, b.addrs)
}

func nextMatch(want []unit, from int, h unit) int {
	for i := from; i < len(want); i++ {
		if sameUnit(h, want[i]) && h.desc == want[i].desc {
			return i
		}
	}
	return -1
}

// nothingToDo reports whether Apply or Delete has nothing to do when Read
// returned have.
func nothingToDo(op Op, r Rule, have *Rule) bool {
	if op == OpDelete {
		return have == nil
	}
	return have != nil && len(Diff(r, have)) == 0
}
