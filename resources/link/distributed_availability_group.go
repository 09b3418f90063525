package link

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// DAG is a distributed_availability_group block: on SQL Server, the
// distributed availability group joining the SQL Server availability
// group and the managed instance's, which the link (Azure's
// distributedAvailabilityGroups PUT) then joins from the managed
// instance's side.
type DAG struct {
	Address   string
	DeclRange hcl.Range
	// Name is the group's name on both sides; the block's label by
	// default (the link's name).
	Name string
	// AvailabilityGroup is the SQL Server availability group
	// (AG_<label>), InstanceAG the managed instance's (AG_<label>_MI).
	AvailabilityGroup, InstanceAG string
	// ListenerURL is SQL Server's side; "" for TCP://<sql_server
	// address>:<the endpoint's port>.
	ListenerURL string
	// Sync: replication "sync" (synchronous commit on both sides).
	Sync bool
	// Link is the address of the managed_instance_link of the same name,
	// whose delete (Azure's) comes before this group's drop.
	Link string
}

var dagKind = &resources.Kind{
	Type: KindDAG,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: AttrSQLServer, Required: true}, {Name: AttrManagedInstance, Required: true},
		{Name: "name"}, {Name: "availability_group"}, {Name: "instance_availability_group"},
		{Name: "listener_url"}, {Name: "replication"},
	}},
	Decode:       decodeDAG,
	TargetAttr:   AttrSQLServer,
	TargetType:   sqlserver.KindServer,
	OtherTargets: []resources.TargetRef{{Attr: AttrManagedInstance, Type: "managed_instance"}},
	Identity: func(cfg any) string {
		if c, ok := cfg.(*DAG); ok {
			return c.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Phase:   resources.PhaseAfterRestart,
	Impl:    dagImpl{},
}

func decodeDAG(b *lang.Body, blk resources.BlockInfo) any {
	label := blk.Name
	if blk.Key != "" {
		label = blk.Key
	}
	c := &DAG{Address: blk.Address, DeclRange: b.Range,
		Link: linkKindType + "." + strings.TrimPrefix(blk.Address, KindDAG+".")}
	check := func(what string) func(string) string {
		return func(s string) string { return CheckObjectName(what, s) }
	}
	c.Name = DefaultDAGName(label)
	if b.Attr("name") != nil {
		c.Name = decodeName(b, "name", check("distributed availability group"))
	}
	c.AvailabilityGroup = DefaultAGName(label)
	if b.Attr("availability_group") != nil {
		c.AvailabilityGroup = decodeName(b, "availability_group", check("availability group"))
	}
	c.InstanceAG = DefaultMIAGName(label)
	if b.Attr("instance_availability_group") != nil {
		c.InstanceAG = decodeName(b, "instance_availability_group", check("availability group"))
	}
	if c.AvailabilityGroup != "" && strings.EqualFold(c.AvailabilityGroup, c.InstanceAG) {
		b.Errorf(b.Attr("instance_availability_group"), "Same availability group twice",
			"The managed instance's availability group needs a name of its own; %q is also the SQL Server availability group.", c.InstanceAG)
	}
	c.ListenerURL = b.Str("listener_url", "", false)
	if a := b.Attr("listener_url"); a != nil && !b.Unknown("listener_url") && !strings.HasPrefix(strings.ToUpper(c.ListenerURL), "TCP://") {
		b.Errorf(a, "Invalid listener URL", "A listener URL is TCP://<address>:<port>, such as \"TCP://10.0.0.4:5022\"; %s is not.", b.Quote("listener_url", c.ListenerURL))
	}
	c.Sync = b.OneOf("replication", "async", "async", "sync") == "sync"
	return c
}

type dagImpl struct{}

// dagRead is what Read found: SQL Server's availability groups with their
// states, and the managed instance's names.
type dagRead struct {
	cat        *Catalogue
	fqdn, name string
}

func (dagImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*DAG)
	mi, err := managedInstance(c.Address, req.Others[AttrManagedInstance].Target)
	if err != nil {
		return nil, diagErr(c.DeclRange, "Cannot reach the managed instance", err.Error())
	}
	cat, diags := read(ctx, req, c.DeclRange, PartEndpoints|PartAGs|PartStatus|PartSeeding)
	if diags.HasErrors() {
		return nil, diags
	}
	return &dagRead{cat: cat, fqdn: mi.FQDN(), name: mi.Name()}, nil
}

func replication(sync bool) string {
	if sync {
		return "sync"
	}
	return "async"
}

func dagAttrs(c *DAG, listener, miListener string, sync, created bool) map[string]any {
	return map[string]any{
		"name":                        c.Name,
		"availability_group":          c.AvailabilityGroup,
		"instance_availability_group": c.InstanceAG,
		"listener_url":                listener,
		"instance_listener_url":       miListener,
		"replication":                 replication(sync),
		"link":                        c.Link,
		CreatedByMilink:               created,
	}
}

// DAGStatus is the live state of a distributed availability group on
// SQL Server, as plans show it.
type DAGStatus struct {
	Role, Connected, Health string
	LastConnectError        string
	Databases               []DatabaseStatus
}

// DatabaseStatus is one database of the group.
type DatabaseStatus struct {
	Name, Sync, Health string
	// LastHardenedLSN is SQL Server's; RemoteHardenedLSN the managed
	// instance's as SQL Server sees it.
	LastHardenedLSN, RemoteHardenedLSN string
	Seeding                            string // "42%", "" when not seeding
}

// Status reads a distributed availability group's live state.
func (c *Catalogue) Status(g AG) DAGStatus {
	var st DAGStatus
	for _, s := range c.States {
		if s.GroupID != g.GroupID {
			continue
		}
		if s.Local {
			st.Role = s.Role
			continue
		}
		st.Connected, st.Health = s.Connected, s.Health
		if s.LastConnectError != 0 {
			st.LastConnectError = ExplainLinkError(fmt.Sprintf("%d: %s", s.LastConnectError, s.LastConnectErrorText))
		}
	}
	byName := map[string]*DatabaseStatus{}
	var order []string
	for _, d := range c.DBStates {
		if d.GroupID != g.GroupID {
			continue
		}
		ds, ok := byName[d.Database]
		if !ok {
			ds = &DatabaseStatus{Name: d.Database}
			byName[d.Database] = ds
			order = append(order, d.Database)
		}
		if d.Local {
			ds.Sync, ds.Health, ds.LastHardenedLSN = d.Sync, d.Health, d.LastHardenedLSN
		} else {
			ds.RemoteHardenedLSN = d.LastHardenedLSN
			if ds.Sync == "" {
				ds.Sync, ds.Health = d.Sync, d.Health
			}
		}
	}
	for _, s := range c.Seeding {
		if ds, ok := byName[s.Database]; ok && s.Size > 0 {
			ds.Seeding = fmt.Sprintf("%d%%", min(100, s.Transferred*100/s.Size))
		}
	}
	sort.Strings(order)
	for _, n := range order {
		st.Databases = append(st.Databases, *byName[n])
	}
	return st
}

// Attrs is the status as plan attributes.
func (s DAGStatus) Attrs() map[string]any {
	dbs := map[string]any{}
	for _, d := range s.Databases {
		m := map[string]any{
			"synchronization_state": d.Sync, "synchronization_health": d.Health,
			"last_hardened_lsn": d.LastHardenedLSN, "instance_last_hardened_lsn": d.RemoteHardenedLSN,
		}
		if d.Seeding != "" {
			m["seeding"] = d.Seeding
		}
		dbs[d.Name] = m
	}
	a := map[string]any{"role": s.Role, "connected": s.Connected, "health": s.Health, "databases": dbs}
	if s.LastConnectError != "" {
		a["last_connect_error"] = s.LastConnectError
	}
	return a
}

// Text is the status in one line.
func (s DAGStatus) Text() string {
	var parts []string
	head := strings.TrimSpace(strings.Join([]string{s.Role, s.Connected, s.Health}, " "))
	if head != "" {
		parts = append(parts, head)
	}
	for _, d := range s.Databases {
		t := d.Name + " " + d.Sync
		if d.Health != "" {
			t += " " + d.Health
		}
		if d.LastHardenedLSN != "" || d.RemoteHardenedLSN != "" {
			t += ", hardened LSN " + dashIfEmpty(d.LastHardenedLSN) + " / managed instance " + dashIfEmpty(d.RemoteHardenedLSN)
		}
		if d.Seeding != "" {
			t += ", seeding " + d.Seeding
		}
		parts = append(parts, t)
	}
	if s.LastConnectError != "" {
		parts = append(parts, "last connect error "+s.LastConnectError)
	}
	if len(parts) == 0 {
		return "no replica state yet"
	}
	return strings.Join(parts, "; ")
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// members are the distributed group's two member groups and whether both
// commit synchronously.
func members(cat *Catalogue, g AG) (names []string, sync bool) {
	reps := cat.ReplicasOf(g.GroupID)
	sync = len(reps) > 0
	for _, r := range reps {
		names = append(names, r.ServerName)
		if r.AvailabilityMode != "SYNCHRONOUS_COMMIT" {
			sync = false
		}
	}
	return names, sync
}

func hasName(names []string, n string) bool {
	for _, x := range names {
		if strings.EqualFold(x, n) {
			return true
		}
	}
	return false
}

func (dagImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*DAG)
	r, ok := req.Read.(*dagRead)
	if !ok {
		return resources.Change{}, diagErr(c.DeclRange, "Not read", c.Address+": the availability groups were not read")
	}
	miAddr := req.Others[AttrManagedInstance].Target.Address()
	if r.fqdn == "" || r.name == "" {
		return resources.Change{}, diagErr(c.DeclRange, "Managed instance names unknown",
			fmt.Sprintf("%s: %s did not report its fully qualified domain name and name, which the distributed availability group's LISTENER_URL needs.", c.Address, miAddr))
	}
	sqlAddr := req.Target.Address()
	if req.Prior != nil {
		// Apply recorded the link that made the group (its change's
		// Part); keep it rather than the address guessed from the label.
		if l := priorString(*req.Prior, "link"); l != "" {
			c2 := *c
			c2.Link = l
			c = &c2
		}
	}
	listener := c.ListenerURL
	if listener == "" {
		port := DefaultPort
		if e, ok := r.cat.Endpoint(); ok && e.Port != 0 {
			port = e.Port
		}
		listener = EndpointURL(hostAddress(req.Target), port)
	}
	miListener := MIListenerURL(r.fqdn, r.name)
	g, found := r.cat.AG(c.Name)
	if !found {
		return resources.Change{
			Action: resources.Create,
			After:  dagAttrs(c, listener, miListener, c.Sync, true),
			Reason: "no distributed availability group " + qi(c.Name) + " on " + sqlAddr,
			Steps:  []resources.Step{tsql(sqlAddr, CreateDAGSQL(c.Name, c.AvailabilityGroup, listener, c.InstanceAG, miListener, c.Sync))},
		}, nil
	}
	if !g.Distributed {
		return resources.Change{}, diagErr(c.DeclRange, "Name taken by an availability group",
			fmt.Sprintf("%s: %s on %s is an availability group, not a distributed one; give the distributed availability group another name.", c.Address, qi(g.Name), sqlAddr))
	}
	names, sync := members(r.cat, g)
	if !hasName(names, c.AvailabilityGroup) || !hasName(names, c.InstanceAG) {
		return resources.Change{}, diagErr(c.DeclRange, "Distributed availability group with other members",
			fmt.Sprintf("%s: %s on %s joins %s, not %s and %s; its members cannot be changed. Drop it (DROP AVAILABILITY GROUP %s, after deleting its link) or give other names.",
				c.Address, qi(g.Name), sqlAddr, nameList(names), qi(c.AvailabilityGroup), qi(c.InstanceAG), qi(g.Name)))
	}
	created := priorCreated(req.Prior)
	before := dagAttrs(c, listener, miListener, sync, created)
	for _, rep := range r.cat.ReplicasOf(g.GroupID) {
		switch {
		case strings.EqualFold(rep.ServerName, c.AvailabilityGroup):
			before["listener_url"] = rep.EndpointURL
		case strings.EqualFold(rep.ServerName, c.InstanceAG):
			before["instance_listener_url"] = rep.EndpointURL
		}
	}
	status := r.cat.Status(g)
	var diags hcl.Diagnostics
	if got := before["instance_listener_url"].(string); !strings.EqualFold(got, miListener) {
		// The link finds the managed instance only by this exact URL.
		diags = append(diags, diagWarn(c.DeclRange, "Managed instance's listener URL differs",
			fmt.Sprintf("%s: the managed instance's member of %s on %s has LISTENER_URL %s, not %s, which the link needs; its members' URLs cannot be changed here: delete the link, drop the group (remove the block) and create them again.",
				c.Address, qi(g.Name), sqlAddr, got, miListener)))
	}
	var notes []string
	if got := before["listener_url"].(string); c.ListenerURL != "" && !strings.EqualFold(got, c.ListenerURL) {
		notes = append(notes, fmt.Sprintf("SQL Server's listener URL is %s, not the configured %s (left as it is)", got, c.ListenerURL))
	}
	if sync != c.Sync {
		after := dagAttrs(c, before["listener_url"].(string), before["instance_listener_url"].(string), c.Sync, created)
		return resources.Change{
			Action: resources.Update,
			Before: before,
			After:  after,
			Reason: fmt.Sprintf("replication %s → %s (live: %s)", replication(sync), replication(c.Sync), status.Text()),
			Steps:  []resources.Step{tsql(sqlAddr, ModifyDAGSQL(c.Name, c.AvailabilityGroup, c.InstanceAG, c.Sync))},
		}, diags
	}
	after := make(map[string]any, len(before)+1)
	for k, v := range before {
		after[k] = v
	}
	// Live status: shown, never a change. It is in After only: the drift
	// check compares the state with Before, so the last status the state
	// keeps (a no-op records After) never reads as drift.
	after["status"] = status.Attrs()
	reason := "live status: " + status.Text()
	if len(notes) > 0 {
		reason += "; " + strings.Join(notes, "; ")
	}
	return resources.Change{Action: resources.NoOp, Before: before, After: after, Notable: true, Reason: reason}, diags
}

func (dagImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	q, err := querier(ch.Address, req.Target)
	if err != nil {
		return resources.Result{}, err
	}
	progress := progressOf(req)
	name, _ := ch.After["name"].(string)
	switch ch.Action {
	case resources.Create:
		cat, err := ReadCatalogue(ctx, q, PartAGs)
		if err != nil {
			return resources.Result{}, stepError(ch.Address, "reading the availability groups on "+ch.Target, err)
		}
		if g, ok := cat.AG(name); ok {
			names, _ := members(cat, g)
			ag, _ := ch.After["availability_group"].(string)
			miag, _ := ch.After["instance_availability_group"].(string)
			if !g.Distributed || !hasName(names, ag) || !hasName(names, miag) {
				return resources.Result{}, fmt.Errorf("%s: %s appeared on %s since the plan, not as planned; plan again", ch.Address, qi(name), ch.Target)
			}
			// A run killed after the CREATE: no second one (35217).
			progress("distributed availability group " + name + " already exists")
			return resources.Result{Attributes: ch.After}, nil
		}
		if err := runSteps(ctx, q, ch, "creating distributed availability group "+qi(name)); err != nil {
			return resources.Result{}, err
		}
		progress("created distributed availability group " + name + "; it connects once the link joins it from the managed instance")
	case resources.Update:
		// ALTER ... MODIFY sets the mode; sending it again is harmless.
		if err := runSteps(ctx, q, ch, "changing the replication of "+qi(name)); err != nil {
			return resources.Result{}, err
		}
		progress("replication " + fmt.Sprint(ch.After["replication"]))
	case resources.Delete:
		return resources.Result{}, deleteDAG(ctx, q, ch, progress)
	default:
		return resources.Result{}, fmt.Errorf("%s: cannot %s a distributed availability group", ch.Address, ch.Action)
	}
	attrs := make(map[string]any, len(ch.After))
	for k, v := range ch.After {
		if k != "status" {
			attrs[k] = v
		}
	}
	if strings.HasPrefix(ch.Part, linkKindType+".") {
		// A part of a managed_instance_link: that link's delete in Azure
		// comes before this group's drop, whatever the part's own name.
		attrs["link"] = ch.Part
	}
	return resources.Result{Attributes: attrs}, nil
}

// PlanDelete drops the group only if milink created it, after the link's
// delete in Azure (the managed instance leaves the group first, as the
// link's scripts do it).
func (dagImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	var deps []string
	if l := priorString(prior, "link"); l != "" {
		deps = append(deps, l)
	}
	return planGroupDrop(prior, target, deps, "milink created it; dropped after the link's delete in Azure")
}

func deleteDAG(ctx context.Context, q Querier, ch resources.Change, progress func(string)) error {
	return dropGroup(ctx, q, ch, "distributed availability group", progress, func(_ *Catalogue, g AG) error {
		if !g.Distributed {
			return fmt.Errorf("%s: not dropping %s on %s: it is an ordinary availability group now, not the distributed one milink created", ch.Address, qi(g.Name), ch.Target)
		}
		return nil
	})
}
