package checks

import (
	"github.com/milink/milink/resources"
)

// Block is what KnownPaths needs of a configuration block (config.Block;
// config's own tests load every kind, so this package cannot import it).
type Block struct {
	Addr, Type string
	// Target is the primary target's address; Others the other targets',
	// by attribute.
	Target string
	Others map[string]string
}

// The kinds whose blocks open the path, as the configuration names them
// (resources/sqlserver's firewall_rule, resources/azure's nsg_rule).
const (
	firewallRuleType = "firewall_rule"
	nsgRuleType      = "nsg_rule"
)

// KnownPaths is what milink knows of each check's path (by the check's
// address) from the configuration and a plan: whether a firewall_rule on
// the SQL Server's host and an nsg_rule on the managed instance are
// configured, and, when pending, which changes on the check's targets the
// plan has that are not applied yet (`milink check` runs before them;
// apply runs checks after them, so it passes pending = false).
func KnownPaths(blocks []Block, changes []resources.Change, pending bool) map[string]Knowledge {
	out := map[string]Knowledge{}
	for _, b := range blocks {
		if b.Type != KindConnectivityCheck {
			continue
		}
		mi := b.Others["managed_instance"]
		k := Knowledge{HostFirewall: Absent, NSG: Absent}
		for _, o := range blocks {
			switch {
			case o.Type == firewallRuleType && o.Target == b.Target:
				k.HostFirewall = Present
			case o.Type == nsgRuleType && o.Target == mi:
				k.NSG = Present
			}
		}
		if pending {
			targets := map[string]bool{b.Target: true, mi: true}
			for _, ch := range changes {
				if ch.Action != resources.NoOp && ch.Action != resources.Check && targets[ch.Target] {
					k.NotApplied = append(k.NotApplied, ch.Address)
				}
			}
		}
		out[b.Addr] = k
	}
	return out
}
