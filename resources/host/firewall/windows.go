package firewall

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/milink/milink/resources/host"
)

// Windows keeps each milink rule as a Windows Defender Firewall rule whose
// Name and DisplayName are the rule's name, in the group "milink",
// through the NetSecurity module's cmdlets (New-NetFirewallRule,
// Get-NetFirewallRule and its filters, Remove-NetFirewallRule), run as
// PowerShell scripts. A rule of that name outside the group is someone
// else's: Read and Apply refuse to touch it.
//
// No Windows machine exists where milink is built: the scripts are kept as
// golden files, and the parsing of their output is tested on fixtures
// shaped as Windows prints the values (testdata/windows/README.md).
type Windows struct{ t host.Transport }

// WindowsGroup is the group of every Windows Firewall rule milink creates.
const WindowsGroup = "milink"

func (*Windows) Name() string { return NameWindows }

// psQuote is host.PSQuote: the same quoting as every other script milink sends.
func psQuote(s string) string { return host.PSQuote(s) }

func psArray(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = psQuote(s)
	}
	return "@(" + strings.Join(q, ", ") + ")"
}

// ReadScript prints, as JSON, the rules named name with what milink
// compares of them.
func (w *Windows) ReadScript(name string) string {
	return fmt.Sprintf(`$ErrorActionPreference = 'Stop'
$name = %s
$out = @()
foreach ($r in @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)) {
    $p = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $r
    $a = Get-NetFirewallAddressFilter -AssociatedNetFirewallRule $r
    $app = Get-NetFirewallApplicationFilter -AssociatedNetFirewallRule $r
    $svc = Get-NetFirewallServiceFilter -AssociatedNetFirewallRule $r
    $itf = Get-NetFirewallInterfaceTypeFilter -AssociatedNetFirewallRule $r
    $out += [pscustomobject]@{
        Name          = [string]$r.Name
        DisplayName   = [string]$r.DisplayName
        Group         = [string]$r.Group
        Description   = [string]$r.Description
        Enabled       = [string]$r.Enabled
        Direction     = [string]$r.Direction
        Action        = [string]$r.Action
        Profile       = [string]$r.Profile
        Protocol      = [string]$p.Protocol
        LocalPort     = @($p.LocalPort | ForEach-Object { [string]$_ })
        RemotePort    = @($p.RemotePort | ForEach-Object { [string]$_ })
        LocalAddress  = @($a.LocalAddress | ForEach-Object { [string]$_ })
        RemoteAddress = @($a.RemoteAddress | ForEach-Object { [string]$_ })
        Program       = [string]$app.Program
        Service       = [string]$svc.Service
        InterfaceType = [string]$itf.InterfaceType
    }
}
ConvertTo-Json -InputObject @($out) -Depth 3 -Compress
`, psQuote(name))
}

// ApplyScript replaces milink's rule named r.Name with r; a rule of that
// name outside milink's group stops it before it changes anything.
func (w *Windows) ApplyScript(r Rule) string {
	dir := "Inbound"
	if r.Direction == Outbound {
		dir = "Outbound"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `$ErrorActionPreference = 'Stop'
$name = %s
$existing = @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)
foreach ($r in $existing) {
    if ([string]$r.Group -cne %s) { throw "Windows Firewall already has a rule named $name in the group '$($r.Group)', which milink did not create: rename it, or give milink's rule another name" }
}
$existing | Remove-NetFirewallRule
New-NetFirewallRule -Name $name -DisplayName $name -Group %s`, psQuote(r.Name), psQuote(WindowsGroup), psQuote(WindowsGroup))
	if r.Description != "" {
		fmt.Fprintf(&b, " -Description %s", psQuote(r.Description))
	}
	fmt.Fprintf(&b, " -Direction %s -Action Allow -Enabled True -Profile Any -Protocol TCP", dir)
	if len(r.LocalPorts) > 0 {
		fmt.Fprintf(&b, " -LocalPort %s", psArray(portItems(r.LocalPorts)))
	}
	if len(r.RemotePorts) > 0 {
		fmt.Fprintf(&b, " -RemotePort %s", psArray(portItems(r.RemotePorts)))
	}
	if len(r.Remote) > 0 {
		items := make([]string, len(r.Remote))
		for i, p := range r.Remote {
			items[i] = p.String()
		}
		fmt.Fprintf(&b, " -RemoteAddress %s", psArray(items))
	}
	b.WriteString(" | Out-Null\n")
	return b.String()
}

func portItems(s PortSet) []string {
	out := make([]string, len(s))
	for i, r := range s {
		out[i] = r.String()
	}
	return out
}

// DeleteScript removes milink's rule named name (only in milink's group).
func (w *Windows) DeleteScript(name string) string {
	return fmt.Sprintf(`$ErrorActionPreference = 'Stop'
$name = %s
foreach ($r in @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)) {
    if ([string]$r.Group -ceq %s) { Remove-NetFirewallRule -InputObject $r }
}
`, psQuote(name), psQuote(WindowsGroup))
}

func (w *Windows) steps(op Op, r Rule, have *Rule) []step {
	switch {
	case nothingToDo(op, r, have):
		return nil
	case op == OpDelete:
		s := w.DeleteScript(r.Name)
		return []step{{argv: host.PowerShellArgv(s), display: s}}
	}
	s := w.ApplyScript(r)
	return []step{{argv: host.PowerShellArgv(s), display: s}}
}

// Describe lists the PowerShell script Apply or Delete runs.
func (w *Windows) Describe(op Op, r Rule, have *Rule) []string { return texts(w.steps(op, r, have)) }

// Read runs ReadScript and parses what it prints.
func (w *Windows) Read(ctx context.Context, name string) (*Rule, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	argv := host.PowerShellArgv(w.ReadScript(name))
	out, err := w.t.Exec(ctx, host.Command{Argv: argv})
	if err != nil {
		return nil, cmdError([]string{"powershell.exe (reading firewall rule " + name + ")"}, out, err)
	}
	return parseWindowsRules(out.Stdout, name)
}

// Apply replaces the rule when it differs.
func (w *Windows) Apply(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	have, err := w.Read(ctx, r.Name)
	if err != nil {
		return err
	}
	return w.run(ctx, "creating firewall rule "+r.Name, w.steps(OpApply, r, have))
}

// Delete removes the rule.
func (w *Windows) Delete(ctx context.Context, name string) error {
	have, err := w.Read(ctx, name)
	if err != nil {
		return err
	}
	return w.run(ctx, "deleting firewall rule "+name, w.steps(OpDelete, Rule{Name: name}, have))
}

func (w *Windows) run(ctx context.Context, what string, steps []step) error {
	for _, s := range steps {
		out, err := w.t.Exec(ctx, host.Command{Argv: s.argv})
		if err != nil {
			return cmdError([]string{"powershell.exe (" + what + ")"}, out, err)
		}
	}
	return nil
}

// winRule is one rule as ReadScript prints it.
type winRule struct {
	Name, DisplayName, Group, Description string
	Enabled, Direction, Action, Profile   string
	Protocol                              string
	LocalPort, RemotePort                 []string
	LocalAddress, RemoteAddress           []string
	Program, Service, InterfaceType       string
}

// parseWindowsRules reads ReadScript's output: a JSON array (or, from a
// PowerShell that unwraps one-element arrays, one object; or nothing).
func parseWindowsRules(data []byte, name string) (*Rule, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(data) == 0 {
		return nil, nil
	}
	var rules []winRule
	if data[0] == '{' {
		var one winRule
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("reading the firewall rules PowerShell printed: %w", err)
		}
		rules = []winRule{one}
	} else if err := json.Unmarshal(data, &rules); err != nil {
		return nil, fmt.Errorf("reading the firewall rules PowerShell printed: %w", err)
	}
	var units []unit
	for _, wr := range rules {
		if wr.Name != name {
			continue
		}
		if wr.Group != WindowsGroup {
			return nil, fmt.Errorf("Windows Firewall has a rule named %s in the group %q, which milink did not create (milink's are in the group %q): milink will not touch it; rename it, or give milink's rule another name", name, wr.Group, WindowsGroup)
		}
		units = append(units, wr.unit())
	}
	return assemble(name, units, winSplit), nil
}

// winSplit: one Windows rule holds all of a milink rule.
func winSplit(r Rule) []unit {
	ports, local := r.ports()
	addrs := r.Remote
	if len(addrs) == 0 {
		addrs = AddrSet{anyV4, anyV6}
	}
	return []unit{{dir: r.Direction, local: local, ports: ports, addrs: addrs, desc: r.Description}}
}

func isAny(items []string) bool {
	return len(items) == 0 || len(items) == 1 && strings.EqualFold(items[0], "Any")
}

func (wr winRule) unit() unit {
	u := unit{desc: wr.Description}
	u.text = fmt.Sprintf("%s (group %s): %s %s %s protocol %s local port %s remote port %s remote address %s local address %s enabled %s profile %s",
		wr.Name, wr.Group, wr.Direction, wr.Action, wr.DisplayName, wr.Protocol, strings.Join(wr.LocalPort, ","), strings.Join(wr.RemotePort, ","), strings.Join(wr.RemoteAddress, ","), strings.Join(wr.LocalAddress, ","), wr.Enabled, wr.Profile)
	switch wr.Direction {
	case "Inbound":
		u.dir = Inbound
	case "Outbound":
		u.dir = Outbound
	default:
		u.extra = append(u.extra, "direction "+wr.Direction)
	}
	check := func(what, got, want string) {
		if !strings.EqualFold(got, want) {
			u.extra = append(u.extra, fmt.Sprintf("%s is %q, not %q", what, got, want))
		}
	}
	check("Action", wr.Action, "Allow")
	check("Enabled", wr.Enabled, "True")
	check("Profile", wr.Profile, "Any")
	check("DisplayName", wr.DisplayName, wr.Name)
	if wr.Protocol != "6" {
		check("Protocol", wr.Protocol, "TCP")
	}
	for _, f := range [][2]string{{"Program", wr.Program}, {"Service", wr.Service}, {"InterfaceType", wr.InterfaceType}} {
		if f[1] != "" {
			check(f[0], f[1], "Any")
		}
	}
	if !isAny(wr.LocalAddress) {
		u.extra = append(u.extra, "LocalAddress is "+strings.Join(wr.LocalAddress, ","))
	}
	lp, err1 := winPorts(wr.LocalPort)
	rp, err2 := winPorts(wr.RemotePort)
	for _, err := range []error{err1, err2} {
		if err != nil {
			u.extra = append(u.extra, err.Error())
		}
	}
	switch {
	case lp != nil && rp != nil:
		u.extra = append(u.extra, "matches on both local and remote ports")
	case lp != nil:
		u.local, u.ports = true, lp
	default:
		u.ports = rp
	}
	if isAny(wr.RemoteAddress) {
		u.addrs = AddrSet{anyV4, anyV6}
	} else {
		var ps []netip.Prefix
		for _, a := range wr.RemoteAddress {
			set, err := winAddr(a)
			if err != nil {
				u.extra = append(u.extra, err.Error())
				continue
			}
			ps = append(ps, set...)
		}
		u.addrs = NewAddrSet(ps...)
	}
	return u
}

// winPorts reads LocalPort or RemotePort: "Any", or port numbers and
// ranges ("5022", "11000-11999"); keywords (RPC, RPCEPMap, IPHTTPS, ...)
// are not milink's.
func winPorts(items []string) (PortSet, error) {
	if isAny(items) {
		return nil, nil
	}
	var rs []PortRange
	for _, it := range items {
		r, err := parsePortRange(it, "-")
		if err != nil {
			return nil, fmt.Errorf("port %q milink does not write", it)
		}
		rs = append(rs, r)
	}
	return NewPortSet(rs...), nil
}

// winAddr reads a RemoteAddress item. Windows shows an IPv4 subnet with a
// mask ("10.0.0.0/255.255.255.0") whatever it was given, a single address
// bare, an IPv6 subnet with its prefix length, and ranges as
// "first-last"; keywords (LocalSubnet, DNS, ...) are not milink's.
func winAddr(s string) (AddrSet, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 == nil && err2 == nil {
			return addrRange(a, b)
		}
	}
	if addr, mask, ok := strings.Cut(s, "/"); ok && strings.Contains(mask, ".") {
		p, err := maskPrefix(addr, mask)
		if err != nil {
			return nil, err
		}
		return AddrSet{p}, nil
	}
	p, err := ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("remote address %q milink does not write", s)
	}
	return AddrSet{p}, nil
}
