package checks

import "fmt"

// Presence is what milink knows of something the path needs.
type Presence int

// Unknown: milink does not manage it, so the hint stays as the procedure
// words it. Present: configured and applied, so the hint is dropped.
// Absent: nothing configured for it, so the hint says so.
const (
	Unknown Presence = iota
	Present
	Absent
)

// Knowledge is what milink knows of the path from the rest of the
// configuration and the run, to narrow the procedure's troubleshooting
// list.
type Knowledge struct {
	// NotApplied are changes the path depends on that are not in effect:
	// planned but not yet applied, failed, or skipped ("nsg_rule.mi_inbound").
	NotApplied []string
	// HostFirewall: a firewall_rule on SQL Server's host for the port.
	HostFirewall Presence
	// NSG: an nsg_rule for the port on the managed instance's subnet.
	NSG Presence
	// AzureVM: SQL Server runs on an Azure VM, whose own NSG then matters.
	AzureVM Presence
}

// hints is the troubleshooting list of a failed direction. SQL Server
// being down, the procedure's last item, is never in it: the check
// reached SQL Server to run at all.
func (c *Check) hints(d Direction, port int) []string {
	k := c.Known
	var out []string
	for _, a := range k.NotApplied {
		out = append(out, a+" is not applied yet")
	}
	switch k.HostFirewall {
	case Absent:
		if d == ToManagedInstance {
			out = append(out, fmt.Sprintf("no host firewall rule for %d: SQL Server's host must allow outbound TCP %d to the managed instance's subnet (a firewall_rule block)", port, port))
		} else {
			out = append(out, fmt.Sprintf("no host firewall rule for %d: SQL Server's host must allow inbound TCP %d from the managed instance's subnet (a firewall_rule block)", port, port))
		}
	case Unknown:
		out = append(out, fmt.Sprintf("the firewall of SQL Server's host (Windows or Linux) must allow TCP %d to and from the managed instance's whole subnet range", port))
	}
	if d == ToManagedInstance {
		out = append(out, fmt.Sprintf("a network firewall between SQL Server and Azure must allow TCP %d to the managed instance's whole subnet range", port))
	}
	switch k.NSG {
	case Absent:
		out = append(out, fmt.Sprintf("no nsg_rule allows TCP %d on the managed instance's subnet", port))
	case Unknown:
		out = append(out, fmt.Sprintf("an NSG rule on the managed instance's virtual network must allow TCP %d", port))
	}
	if d == ToSQLServer {
		switch k.AzureVM {
		case Present:
			out = append(out, fmt.Sprintf("the NSG of SQL Server's virtual machine must allow inbound TCP %d", port))
		case Unknown:
			out = append(out, fmt.Sprintf("if SQL Server is on an Azure VM, an NSG rule must allow TCP %d on the VM's virtual network", port))
		}
		out = append(out, fmt.Sprintf("the managed instance dialed %s: it must resolve and route there (the address argument)", c.Address))
	}
	return out
}
