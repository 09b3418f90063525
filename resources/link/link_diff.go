package link

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
)

type linkImpl struct{}

// spec is the link Azure is asked for.
func (c *LinkConfig) spec(endpoint string) azure.LinkSpec {
	role := "Secondary"
	if c.InitialPrimary == "managed_instance" {
		role = "Primary"
	}
	return azure.LinkSpec{
		PartnerAvailabilityGroup: c.AvailabilityGroup, PartnerEndpoint: endpoint,
		InstanceAvailabilityGroup: c.InstanceAvailabilityGroup, InstanceLinkRole: role,
		FailoverMode: c.FailoverMode, SeedingMode: "Automatic", ReplicationMode: c.Replication,
		Databases: append([]string(nil), c.Databases...),
	}
}

func linkList(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// linkAttrs are the link's attributes for the plan and the state.
func linkAttrs(c *LinkConfig, r linkRead) map[string]any {
	return map[string]any{
		"name": c.Name, "databases": linkList(c.Databases), "partner_endpoint": r.endpoint,
		"replication": strings.ToLower(c.Replication), "failover_mode": strings.ToLower(c.FailoverMode),
		"availability_group": c.AvailabilityGroup, "instance_availability_group": c.InstanceAvailabilityGroup,
		"initial_primary": c.InitialPrimary, "multi_database": c.MultiDatabase, "wait_for": c.WaitFor,
		"sql_server": r.sqlAddr, "managed_instance": r.mi,
	}
}

// liveAttrs are the link as Azure holds it.
func liveAttrs(l *azure.Link, r linkRead) map[string]any {
	return map[string]any{
		"name": l.Name, "databases": linkList(l.Databases), "partner_endpoint": l.PartnerEndpoint,
		"replication": strings.ToLower(l.ReplicationMode), "failover_mode": strings.ToLower(l.FailoverMode),
		"availability_group": l.PartnerAvailabilityGroup, "instance_availability_group": l.InstanceAvailabilityGroup,
		"sql_server": r.sqlAddr, "managed_instance": r.mi,
	}
}

// certWarning is how close to its expiry the partner certificate is warned of.
const certWarning = 30 * 24 * time.Hour

// linkNow is the clock of the expiry warning (tests set it).
var linkNow = time.Now

// linkStatus is the live status per database, for the plan's Reason and
// -json (After["status"]), with warnings for what needs a person.
func linkStatus(c *LinkConfig, l *azure.Link, s sqlSide) ([]any, []string, hcl.Diagnostics) {
	var out []any
	var lines []string
	var diags hcl.Diagnostics
	for _, d := range l.DatabaseStates {
		st := map[string]any{
			"database": d.Name, "replica_state": d.ReplicaState, "seeding_progress": d.SeedingProgress,
			"connected_state": d.ConnectedState, "synchronization_health": d.SynchronizationHealth,
			"mi_last_hardened_lsn": d.LastHardenedLSN, "send_lag_seconds": d.SendLagSeconds, "redo_lag_seconds": d.RedoLagSeconds,
		}
		line := fmt.Sprintf("%s: %s", d.Name, d.ReplicaState)
		if d.ReplicaState == "Seeding" || d.SeedingProgress != "" && d.SeedingProgress != "100%" {
			line += " " + d.SeedingProgress
		}
		line += fmt.Sprintf(", %s, %s", linkDash(d.ConnectedState), linkDash(d.SynchronizationHealth))
		hardened := "hardened " + linkDash(d.LastHardenedLSN) + " (managed instance)"
		if sd, ok := s.databases[strings.ToLower(d.Name)]; ok {
			st["sql_last_hardened_lsn"], st["sql_end_of_log_lsn"], st["sql_synchronization_state"] = sd.lastHardened, sd.endOfLog, sd.syncState
			hardened += " / " + linkDash(sd.endOfLog) + " (SQL Server end of log)"
		}
		line += ", " + hardened + fmt.Sprintf(", lag %d s", d.SendLagSeconds+d.RedoLagSeconds)
		if d.PartnerCertExpiry != "" {
			st["partner_certificate"], st["partner_certificate_expiry"] = d.PartnerCertName, d.PartnerCertExpiry
			if t, ok := parseLinkExpiry(d.PartnerCertExpiry); ok {
				left := t.Sub(linkNow())
				line += ", certificate " + d.PartnerCertName + " expires " + t.UTC().Format("2006-01-02")
				if left < certWarning {
					when := fmt.Sprintf("expires in %d days", int(left.Hours()/24))
					if left <= 0 {
						when = "has expired"
					}
					diags = append(diags, linkDiag(c, hcl.DiagWarning, "Link certificate close to its expiry",
						fmt.Sprintf("certificate %s, which authenticates %s's link, %s (%s): rotate it before it breaks the link.", d.PartnerCertName, d.Name, when, t.UTC().Format("2006-01-02"))))
				}
			}
		}
		if d.MostRecentLinkError != "" {
			st["most_recent_link_error"] = d.MostRecentLinkError
			line += "; last error " + d.MostRecentLinkError
		}
		if strings.HasSuffix(d.ReplicaState, "Error") {
			detail := fmt.Sprintf("database %s is in %s", d.Name, d.ReplicaState)
			if d.MostRecentLinkError != "" {
				detail += " (" + d.MostRecentLinkError + ")"
			}
			if h := azure.LinkErrorHint(d.MostRecentLinkError); h != "" {
				detail += ": " + h
			}
			diags = append(diags, linkDiag(c, hcl.DiagWarning, "Link in error", detail+"."))
		}
		out = append(out, st)
		lines = append(lines, line)
	}
	if s.err != nil {
		lines = append(lines, "SQL Server's side not read: "+s.err.Error())
	} else if s.found && s.remoteConnected != "" {
		lines = append(lines, fmt.Sprintf("SQL Server sees the managed instance %s, %s", s.remoteConnected, linkDash(s.remoteHealth)))
	}
	return out, lines, diags
}

// parseLinkExpiry reads an expiry date as Azure may write it.
func parseLinkExpiry(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func linkDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sameDatabases(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	for i := range x {
		x[i] = strings.ToLower(x[i])
	}
	for i := range y {
		y[i] = strings.ToLower(y[i])
	}
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// fixedDifferences are what differs that Azure cannot change on a link
// (only replicationMode is PATCHed).
func fixedDifferences(want azure.LinkSpec, l *azure.Link) []string {
	var out []string
	str := func(name, w, h string) {
		if !strings.EqualFold(w, h) && h != "" {
			out = append(out, fmt.Sprintf("%s %s → %s", name, h, w))
		}
	}
	str("availability_group", want.PartnerAvailabilityGroup, l.PartnerAvailabilityGroup)
	str("instance_availability_group", want.InstanceAvailabilityGroup, l.InstanceAvailabilityGroup)
	str("partner_endpoint", want.PartnerEndpoint, l.PartnerEndpoint)
	str("failover_mode", want.FailoverMode, l.FailoverMode)
	return out
}

// Diff: no link is a create (the PUT, then the wait); another replication
// an update (PATCH); other databases in single mode a new link (the old
// one dropped, its copy left read/write on the managed instance);
// otherwise nothing, with the live status shown.
func (linkImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*LinkConfig)
	r, ok := req.Read.(linkRead)
	if !ok {
		return resources.Change{}, hcl.Diagnostics{linkDiag(c, hcl.DiagError, "Not read", "the link was not read")}
	}
	diags := append(hcl.Diagnostics(nil), r.gates...)
	if diags.HasErrors() {
		return resources.Change{}, diags
	}
	spec := c.spec(r.endpoint)
	put := resources.Step{Kind: "api", On: r.mi, Text: azure.LinkStep(r.miID, "PUT", "distributedAvailabilityGroups/"+c.Name, azure.LinkBody(spec))}
	wait := resources.Step{Kind: "wait", On: r.mi, Text: waitText(c)}
	ch := resources.Change{Action: resources.NoOp, After: linkAttrs(c, r)}
	l := r.azure
	if l == nil {
		ch.Action = resources.Create
		ch.Reason = fmt.Sprintf("%s has no link %s: it joins %s's distributed availability group %s and seeds %s",
			r.mi, c.Name, r.sqlAddr, c.Name, strings.Join(c.Databases, ", "))
		ch.Steps = []resources.Step{put, wait}
		return ch, diags
	}
	ch.Before = liveAttrs(l, r)
	status, lines, sd := linkStatus(c, l, r.sql)
	diags = append(diags, sd...)
	ch.After["status"] = status
	if fixed := fixedDifferences(spec, l); len(fixed) > 0 {
		return resources.Change{}, append(diags, linkDiag(c, hcl.DiagError, "Link cannot be changed in place",
			fmt.Sprintf("the link %s differs in what Azure cannot change on a link (%s). Drop it (remove the block; the managed instance's copy stays read/write) and create it again, which needs that copy dropped first.", c.Name, strings.Join(fixed, "; "))))
	}
	switch {
	case !sameDatabases(c.Databases, l.Databases):
		// A link's databases are not edited: the old link goes, the new
		// one is created.
		ch.Action = resources.Update
		ch.Reason = fmt.Sprintf("replace: databases [%s] → [%s]. In single-database mode a link is one database: the link is dropped (the managed instance keeps its copy of %s, read/write and no longer replicated) and created again",
			strings.Join(l.Databases, ", "), strings.Join(c.Databases, ", "), strings.Join(l.Databases, ", "))
		ch.Steps = []resources.Step{
			{Kind: "api", On: r.mi, Text: azure.LinkStep(r.miID, "DELETE", "distributedAvailabilityGroups/"+c.Name, nil)},
			put, wait}
	case !strings.EqualFold(c.Replication, l.ReplicationMode):
		ch.Action = resources.Update
		ch.Reason = fmt.Sprintf("replication %s → %s (SQL Server's side: distributed_availability_group)", strings.ToLower(l.ReplicationMode), strings.ToLower(c.Replication))
		ch.Steps = []resources.Step{{Kind: "api", On: r.mi, Text: azure.LinkStep(r.miID, "PATCH", "distributedAvailabilityGroups/"+c.Name, azure.ReplicationModeBody(c.Replication))}}
	case creationFailed(l) != nil:
		// Seeding failed for good (1412, 1408, 41977): the link is made again.
		d := creationFailed(l)
		ch.Action = resources.Update
		ch.Reason = fmt.Sprintf("recreate: %s; the link is dropped and created again, seeding from the start", (&StateError{Database: d.Name, State: d.ReplicaState, LinkError: d.MostRecentLinkError}).Error())
		ch.Steps = []resources.Step{
			{Kind: "api", On: r.mi, Text: azure.LinkStep(r.miID, "DELETE", "distributedAvailabilityGroups/"+c.Name, nil)},
			put, wait}
	default:
		if done, _ := reached(c.WaitFor, l); !done {
			// A link made by an apply that timed out or stopped at an
			// error state: this apply goes on waiting from there.
			ch.Action = resources.Update
			ch.Reason = fmt.Sprintf("the link exists but has not reached wait_for = %q: %s; apply waits for it", c.WaitFor, strings.Join(lines, "; "))
			ch.Steps = []resources.Step{wait}
			return ch, diags
		}
		ch.Notable = true
		ch.Reason = "live: " + strings.Join(lines, "; ")
	}
	return ch, diags
}

// creationFailed is the first database whose link creation failed (it
// does not recover by itself, unlike LinkInitError), or nil.
func creationFailed(l *azure.Link) *azure.LinkDatabase {
	for i, d := range l.DatabaseStates {
		if d.ReplicaState == "LinkCreationError" {
			return &l.DatabaseStates[i]
		}
	}
	return nil
}

func waitText(c *LinkConfig) string {
	what := map[string]string{
		"created":   "the PUT's operation has ended",
		"connected": "every database's connectedState is CONNECTED",
		"seeded":    "every database's replicaState is LinkSynchronizing (seeding done)",
	}[c.WaitFor]
	return fmt.Sprintf("wait_for = %q: until %s, at most %s", c.WaitFor, what, c.WaitTimeout)
}
