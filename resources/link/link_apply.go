package link

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
)

// linkPollEvery is how often the wait reads the link (tests shorten it).
var linkPollEvery = 5 * time.Second

// Apply creates the link (or drops and creates it when its databases
// changed), or changes its replication, then waits for wait_for. It
// re-reads the link first, so that a re-run after a crash does only what
// is missing: a link already there is not created twice.
func (linkImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	mi, ok := req.Target.(linkInstance)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: its target is not a managed instance", ch.Address)
	}
	progress := req.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if ch.Action == resources.Delete {
		name, _ := ch.Before["name"].(string)
		if name == "" {
			return resources.Result{}, fmt.Errorf("%s: the state names no link", ch.Address)
		}
		if err := mi.DeleteLink(ctx, name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
		progress(fmt.Sprintf("dropped link %s; %s keeps its copy of %s, read/write", name, mi.Address(), linkListText(ch.Before["databases"])))
		return resources.Result{}, nil
	}
	c, ok := req.Config.(*LinkConfig)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: no configuration", ch.Address)
	}
	endpoint, _ := ch.After["partner_endpoint"].(string)
	spec := c.spec(endpoint)
	l, err := mi.Link(ctx, c.Name)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	switch {
	case l != nil && creationFailed(l) != nil:
		d := creationFailed(l)
		progress(fmt.Sprintf("dropping link %s: %s is in %s (%s); creating it again", c.Name, d.Name, d.ReplicaState, d.MostRecentLinkError))
		if err := mi.DeleteLink(ctx, c.Name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
		l = nil
	case l != nil && !sameDatabases(l.Databases, c.Databases):
		progress(fmt.Sprintf("dropping link %s (databases %s) to create it for %s", c.Name, strings.Join(l.Databases, ", "), strings.Join(c.Databases, ", ")))
		if err := mi.DeleteLink(ctx, c.Name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
		l = nil
	case l != nil && !strings.EqualFold(l.ReplicationMode, c.Replication):
		progress("replication → " + c.Replication)
		if err := mi.SetLinkReplicationMode(ctx, c.Name, c.Replication); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	case l != nil:
		progress("link " + c.Name + " already exists")
	}
	if l == nil {
		progress(fmt.Sprintf("creating link %s (%s)", c.Name, strings.Join(c.Databases, ", ")))
		if l, err = mi.CreateLink(ctx, c.Name, spec); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	attrs := map[string]any{}
	for k, v := range ch.After {
		if k != "status" {
			attrs[k] = v
		}
	}
	if err := waitFor(ctx, mi, c, l, progress); err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	return resources.Result{Attributes: attrs}, nil
}

func linkListText(v any) string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case []string:
		out = x
	}
	return strings.Join(out, ", ")
}

// reached reports whether the link is where wait_for asks, or the error
// that stops the wait.
func reached(waitFor string, l *azure.Link) (bool, error) {
	if l == nil {
		return false, errors.New("the link disappeared while milink waited for it")
	}
	if waitFor == "created" {
		return true, nil
	}
	if len(l.DatabaseStates) == 0 {
		return false, nil
	}
	all := true
	for _, d := range l.DatabaseStates {
		if d.ReplicaState == "LinkInitError" || d.ReplicaState == "LinkCreationError" {
			return false, &StateError{Database: d.Name, State: d.ReplicaState, LinkError: d.MostRecentLinkError}
		}
		switch waitFor {
		case "connected":
			all = all && strings.EqualFold(d.ConnectedState, "CONNECTED")
		case "seeded":
			all = all && d.ReplicaState == "LinkSynchronizing"
		}
	}
	return all, nil
}

// StateError is a link database in an error state, with the step that
// failed and the fix.
type StateError struct {
	Database, State string
	// LinkError is Azure's mostRecentLinkError ("41973: …").
	LinkError string
}

func (e *StateError) Error() string {
	msg := fmt.Sprintf("database %s is in %s", e.Database, e.State)
	if e.LinkError != "" {
		msg += " (" + e.LinkError + ")"
	}
	if h := azure.LinkErrorHint(e.LinkError); h != "" {
		msg += ": " + h
	}
	if e.State == "LinkInitError" {
		msg += "; once fixed, apply again: the link retries by itself"
	}
	return msg
}

// stateText is a link's state in one line, for progress and timeouts.
func stateText(l *azure.Link) string {
	if l == nil {
		return "no link"
	}
	var parts []string
	for _, d := range l.DatabaseStates {
		p := d.Name + " " + linkDash(d.ReplicaState)
		if d.SeedingProgress != "" && d.ReplicaState == "Seeding" {
			p += " " + d.SeedingProgress
		}
		p += " " + linkDash(d.ConnectedState)
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "no database reported yet"
	}
	return strings.Join(parts, "; ")
}

// waitFor polls the link until wait_for is reached, an error state stops
// it, or wait_timeout passesGate (the error then says the state reached).
func waitFor(ctx context.Context, mi linkInstance, c *LinkConfig, l *azure.Link, progress func(string)) error {
	deadline := time.Now().Add(c.WaitTimeout)
	last := ""
	for {
		ok, err := reached(c.WaitFor, l)
		if err != nil {
			return err
		}
		if s := stateText(l); s != last {
			progress(s)
			last = s
		}
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("wait_for = %q not reached within %s: %s (the link exists; apply again to wait longer, or raise wait_timeout)", c.WaitFor, c.WaitTimeout, last)
		}
		t := time.NewTimer(min(linkPollEvery, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %q: %w (reached: %s)", c.WaitFor, ctx.Err(), last)
		case <-t.C:
		}
		if l, err = mi.Link(ctx, c.Name); err != nil {
			return err
		}
	}
}

// PlanDelete drops the link: the ARM DELETE. Loudly: the managed
// instance's copy stays, read/write, and no longer follows SQL Server.
func (linkImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	name, _ := prior.Attributes["name"].(string)
	id := ""
	if mi, ok := target.(linkInstance); ok {
		id = mi.ResourceID()
	}
	return resources.Change{
		Before: prior.Attributes,
		Steps:  []resources.Step{{Kind: "api", On: target.Address(), Text: azure.LinkStep(id, "DELETE", "distributedAvailabilityGroups/"+name, nil)}},
		Reason: fmt.Sprintf("LINK DROPPED: no longer in the configuration. Replication of %s stops; %s KEEPS its copy, which becomes an independent read/write database (not deleted). SQL Server's distributed availability group is dropped by its own block",
			linkListText(prior.Attributes["databases"]), target.Address()),
	}
}

// CheckLinkDelete refuses to drop a link, unless forced, when the two
// sides have not caught up (last hardened LSNs differ), when the managed
// instance is the primary, or after a failover before the managed
// instance's first full backup (its database may be unavailable after a
// restart). It is the kind's resources.DeleteChecker once the core has
// it: CheckDelete(ctx, req) calls it with req.Prior, req.Target,
// req.Force and req.Lookup.
func CheckLinkDelete(ctx context.Context, prior resources.Prior, target resources.Target, force bool, lookup func(addr string) (resources.Target, bool)) (resources.Change, hcl.Diagnostics) {
	ch := linkImpl{}.PlanDelete(prior, target)
	name, _ := prior.Attributes["name"].(string)
	mi, ok := target.(linkInstance)
	if !ok {
		return ch, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot check the link", Detail: target.Address() + " is not a managed instance"}}
	}
	l, err := mi.Link(ctx, name)
	if err != nil {
		return ch, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the link", Detail: err.Error()}}
	}
	if l == nil {
		ch.Steps = nil
		ch.Reason = "the link " + name + " is already gone from " + target.Address()
		return ch, nil
	}
	var problems []string
	miPrimary := strings.EqualFold(l.InstanceLinkRole, "Primary") || strings.EqualFold(l.PartnerLinkRole, "Secondary")
	if miPrimary {
		problems = append(problems, target.Address()+" is the primary of the link: dropping it leaves SQL Server's copy behind")
		for _, d := range l.DatabaseStates {
			if strings.Trim(d.LastBackupLSN, "0 ") == "" {
				problems = append(problems, fmt.Sprintf("%s has no full backup of %s on the managed instance yet: after a failover, drop the link only once the first full backup exists, or the database can be unavailable after a restart", target.Address(), d.Name))
			}
		}
	}
	var side sqlSide
	sqlAddr, _ := prior.Attributes["sql_server"].(string)
	if t, ok := lookup(sqlAddr); ok && lookup != nil {
		if q, ok := t.(linkSQL); ok {
			side = readSQLSide(ctx, q, name)
		} else {
			side.err = fmt.Errorf("%s cannot run queries", sqlAddr)
		}
	} else {
		side.err = fmt.Errorf("%s is not in the configuration", linkDash(sqlAddr))
	}
	if side.err != nil {
		problems = append(problems, "the LSNs cannot be compared: "+side.err.Error())
	} else {
		for _, d := range l.DatabaseStates {
			sd, ok := side.databases[strings.ToLower(d.Name)]
			if !ok {
				continue // SQL Server's DAG already dropped: nothing to compare
			}
			if !SameLSN(d.LastHardenedLSN, sd.endOfLog) {
				problems = append(problems, fmt.Sprintf("%s: the managed instance hardened LSN %s, SQL Server's log ends at %s: data written on SQL Server since is not on the managed instance", d.Name, linkDash(d.LastHardenedLSN), linkDash(sd.endOfLog)))
			}
		}
	}
	if len(problems) == 0 {
		return ch, nil
	}
	if force {
		ch.Reason += ". FORCED despite: " + strings.Join(problems, "; ")
		return ch, nil
	}
	return ch, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Link not dropped",
		Detail: fmt.Sprintf("%s: dropping link %s is refused: %s. Fix it (wait for the sides to catch up, take the backup), or drop it anyway with -force-delete %s.",
			prior.Attributes["managed_instance"], name, strings.Join(problems, "; "), linkAddr(prior))}}
}

// linkAddr is the link's address for -force-delete (the state holds it
// as "address" when the core records it; otherwise its kind and name).
func linkAddr(prior resources.Prior) string {
	if a, ok := prior.Attributes["address"].(string); ok && a != "" {
		return a
	}
	name, _ := prior.Attributes["name"].(string)
	return KindLink + "." + name
}
