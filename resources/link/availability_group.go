package link

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// AvailabilityGroup is an availability_group block: the SQL Server side
// availability group of a link, one replica (this instance), its
// databases seeded automatically.
type AvailabilityGroup struct {
	Address   string
	DeclRange hcl.Range
	// Name is the group's name; the block's label by default.
	Name string
	// Databases are the databases in the group; none for a link whose
	// initial primary is the managed instance.
	Databases []string
	// EndpointURL is the replica's endpoint URL; "" for
	// TCP://<sql_server address>:<the endpoint's port>.
	EndpointURL string
	// ClusterType is NONE, EXTERNAL or WSFC; "" for the default: NONE,
	// left out on SQL Server 2016 (which has no CLUSTER_TYPE).
	ClusterType string
	clusterSet  hcl.Range
	hasCluster  bool
}

// GroupDatabases tells the SQL Server's database checks that these
// databases belong in this group (sqlserver.GroupMember).
func (c *AvailabilityGroup) GroupDatabases() (string, []string) { return c.Name, c.Databases }

var availabilityGroupKind = &resources.Kind{
	Type: KindAvailabilityGroup,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: AttrSQLServer, Required: true}, {Name: "name"}, {Name: "databases"}, {Name: "endpoint_url"}, {Name: "cluster_type"},
	}},
	Decode:     decodeAG,
	TargetAttr: AttrSQLServer, TargetType: sqlserver.KindServer,
	Identity: func(cfg any) string {
		if c, ok := cfg.(*AvailabilityGroup); ok {
			return c.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Phase:   resources.PhaseAfterRestart,
	Impl:    agImpl{},
}

func decodeAG(b *lang.Body, blk resources.BlockInfo) any {
	c := &AvailabilityGroup{Address: blk.Address, DeclRange: b.Range}
	def := blk.Name
	if blk.Key != "" {
		def = blk.Key
	}
	c.Name = def
	if b.Attr("name") != nil {
		c.Name = decodeName(b, "name", func(s string) string { return CheckObjectName("availability group", s) })
	}
	v, a, st := b.Value("databases", cty.List(cty.String), false)
	if st == lang.Good {
		seen := map[string]bool{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				b.Errorf(a, "Invalid database name", "The databases must not be null.")
				continue
			}
			d := e.AsString()
			if msg := CheckObjectName("database", d); msg != "" {
				b.Errorf(a, "Invalid database name", "%s; %q is not accepted.", upperFirst(msg), d)
				continue
			}
			if seen[strings.ToLower(d)] {
				b.Errorf(a, "Duplicate database", "The database %q is listed twice.", d)
				continue
			}
			seen[strings.ToLower(d)] = true
			c.Databases = append(c.Databases, d)
		}
	}
	c.EndpointURL = b.Str("endpoint_url", "", false)
	if a := b.Attr("endpoint_url"); a != nil && !b.Unknown("endpoint_url") && !strings.HasPrefix(strings.ToUpper(c.EndpointURL), "TCP://") {
		b.Errorf(a, "Invalid endpoint URL", "An endpoint URL is TCP://<address>:<port>, such as \"TCP://10.0.0.4:5022\"; %s is not.", b.Quote("endpoint_url", c.EndpointURL))
	}
	if b.Attr("cluster_type") != nil {
		c.ClusterType = b.OneOf("cluster_type", "", "NONE", "EXTERNAL", "WSFC")
		c.hasCluster = c.ClusterType != ""
		c.clusterSet = attrRange(b, "cluster_type")
	}
	return c
}

type agImpl struct{}

func (agImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*AvailabilityGroup)
	return read(ctx, req, c.DeclRange, PartEndpoints|PartAGs)
}

// agEndpointURL is the replica's endpoint URL: the configured one, or
// the SQL Server's address with the endpoint's port.
func agEndpointURL(c *AvailabilityGroup, cat *Catalogue, t resources.Target) string {
	if c.EndpointURL != "" {
		return c.EndpointURL
	}
	port := DefaultPort
	if e, ok := cat.Endpoint(); ok && e.Port != 0 {
		port = e.Port
	}
	return EndpointURL(hostAddress(t), port)
}

// agClusterType is the CLUSTER_TYPE the statement carries: none on 2016.
func agClusterType(c *AvailabilityGroup, major int) string {
	if major == 13 {
		return ""
	}
	if c.ClusterType != "" {
		return c.ClusterType
	}
	return "NONE"
}

func agAttrs(name string, dbs []string, url, clusterType string, created bool) map[string]any {
	ds := make([]any, len(dbs))
	for i, d := range dbs {
		ds[i] = d
	}
	a := map[string]any{"name": name, "databases": ds, "endpoint_url": url, CreatedByMilink: created}
	if clusterType != "" {
		a["cluster_type"] = clusterType
	}
	return a
}

// sameSet compares database lists without order or case.
func sameNames(a, b []string) bool {
	x := make([]string, len(a))
	y := make([]string, len(b))
	for i, s := range a {
		x[i] = strings.ToLower(s)
	}
	for i, s := range b {
		y[i] = strings.ToLower(s)
	}
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

func (agImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*AvailabilityGroup)
	cat, ok := req.Read.(*Catalogue)
	if !ok {
		return resources.Change{}, diagErr(c.DeclRange, "Not read", c.Address+": the availability groups were not read")
	}
	server, major := serverFacts(req.Observed)
	if major == 13 && c.hasCluster {
		return resources.Change{}, diagErr(c.clusterSet, "CLUSTER_TYPE on SQL Server 2016",
			fmt.Sprintf("%s: SQL Server 2016 has no CLUSTER_TYPE (its availability groups need a Windows Server Failover Cluster); remove cluster_type.", c.Address))
	}
	sqlAddr := req.Target.Address()
	url := agEndpointURL(c, cat, req.Target)
	clusterType := agClusterType(c, major)
	create := CreateAGSQL(c.Name, c.Databases, server, url, clusterType)
	after := agAttrs(c.Name, c.Databases, url, clusterType, true)
	g, found := cat.AG(c.Name)
	if !found {
		return resources.Change{
			Action: resources.Create,
			After:  after,
			Reason: "no availability group " + qi(c.Name) + " on " + sqlAddr,
			Steps:  []resources.Step{tsql(sqlAddr, create)},
		}, nil
	}
	if g.Distributed {
		return resources.Change{}, diagErr(c.DeclRange, "Name taken by a distributed availability group",
			fmt.Sprintf("%s: %s on %s is a distributed availability group; give the availability group another name.", c.Address, qi(g.Name), sqlAddr))
	}
	created := priorCreated(req.Prior)
	dbs := cat.DatabasesOf(g.GroupID)
	beforeURL := ""
	for _, r := range cat.ReplicasOf(g.GroupID) {
		if strings.EqualFold(r.ServerName, server) {
			beforeURL = r.EndpointURL
		}
	}
	beforeType := g.ClusterType
	if major == 13 {
		beforeType = ""
	}
	before := agAttrs(g.Name, dbs, beforeURL, beforeType, created)
	if !sameNames(dbs, c.Databases) {
		// One database per group in single mode: a changed list is a new
		// group, never an edit of the one that replicates now.
		if dags := cat.DAGsUsing(g.Name); len(dags) > 0 {
			return resources.Change{}, diagErr(c.DeclRange, "Availability group in use",
				fmt.Sprintf("%s: the databases of %s on %s differ from the configuration (%s, configured %s), which needs a new availability group, but the distributed availability group %s uses it. Delete the link first, or keep the databases.",
					c.Address, qi(g.Name), sqlAddr, nameList(dbs), nameList(c.Databases), qi(dags[0])))
		}
		if !created {
			return resources.Change{}, diagErr(c.DeclRange, "Availability group not created by milink",
				fmt.Sprintf("%s: %s on %s holds %s, not %s, and milink did not create it, so it will not drop and create it again. Give another name, or change it yourself.",
					c.Address, qi(g.Name), sqlAddr, nameList(dbs), nameList(c.Databases)))
		}
		return resources.Change{
			Action: resources.Update,
			Before: before,
			After:  after,
			Reason: fmt.Sprintf("replace: the databases are %s, configured %s; a changed database list is a new availability group", nameList(dbs), nameList(c.Databases)),
			Steps:  []resources.Step{tsql(sqlAddr, DropAGSQL(g.Name)), tsql(sqlAddr, create)},
		}, nil
	}
	ch := resources.Change{Action: resources.NoOp, Before: before, After: before}
	var notes []string
	if beforeURL != "" && !strings.EqualFold(beforeURL, url) {
		notes = append(notes, fmt.Sprintf("its replica's endpoint URL is %s, not %s", beforeURL, url))
	}
	if clusterType != "" && beforeType != "" && !strings.EqualFold(beforeType, clusterType) {
		notes = append(notes, fmt.Sprintf("its cluster type is %s, not %s (it cannot be changed)", beforeType, clusterType))
	}
	if len(notes) > 0 {
		ch.Notable = true
		ch.Reason = "availability group " + g.Name + ": " + strings.Join(notes, "; ") + "; milink leaves it as it is"
	}
	return ch, nil
}

func nameList(xs []string) string {
	if len(xs) == 0 {
		return "no database"
	}
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = qi(x)
	}
	return strings.Join(q, ", ")
}

func anyStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = v
	}
	return out
}

func (agImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	q, err := querier(ch.Address, req.Target)
	if err != nil {
		return resources.Result{}, err
	}
	progress := progressOf(req)
	name, _ := ch.After["name"].(string)
	switch ch.Action {
	case resources.Delete:
		return resources.Result{}, deleteAG(ctx, q, ch, progress)
	case resources.Create, resources.Update:
	default:
		return resources.Result{}, fmt.Errorf("%s: cannot %s an availability group", ch.Address, ch.Action)
	}
	want := anyStrings(ch.After["databases"])
	cat, err := ReadCatalogue(ctx, q, PartAGs)
	if err != nil {
		return resources.Result{}, stepError(ch.Address, "reading the availability groups on "+ch.Target, err)
	}
	steps := ch.Steps
	if g, ok := cat.AG(name); ok {
		if sameNames(cat.DatabasesOf(g.GroupID), want) {
			// Done already (a run killed after the CREATE): no second
			// CREATE, which would fail with 35217.
			progress("availability group " + name + " already holds " + nameList(want))
			return resources.Result{Attributes: ch.After}, nil
		}
		if ch.Action == resources.Create {
			return resources.Result{}, fmt.Errorf("%s: availability group %s appeared on %s since the plan, with %s; plan again", ch.Address, qi(name), ch.Target, nameList(cat.DatabasesOf(g.GroupID)))
		}
		if dags := cat.DAGsUsing(g.Name); len(dags) > 0 {
			return resources.Result{}, fmt.Errorf("%s: not replacing availability group %s on %s: the distributed availability group %s uses it now", ch.Address, qi(name), ch.Target, qi(dags[0]))
		}
	} else if ch.Action == resources.Update && len(steps) > 1 {
		steps = steps[1:] // dropped already by a run killed halfway
	}
	for _, s := range steps {
		if err := q.Exec(ctx, s.Text); err != nil {
			return resources.Result{}, stepError(ch.Address, "creating availability group "+qi(name)+" on "+ch.Target, err)
		}
	}
	progress("availability group " + name + " holds " + nameList(want))
	return resources.Result{Attributes: ch.After}, nil
}

// PlanDelete drops the group only if milink created it; apply checks
// again that no distributed availability group uses it.
func (agImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	return planGroupDrop(prior, target, nil,
		"milink created it; dropped unless a distributed availability group uses it (checked again at apply); its databases stay")
}

// planGroupDrop plans the drop of an availability group (ordinary or
// distributed) the state remembers: only one milink created.
func planGroupDrop(prior resources.Prior, target resources.Target, deps []string, reason string) resources.Change {
	name := priorString(prior, "name")
	if !priorCreated(&prior) || name == "" {
		return resources.Change{Action: resources.Forget, DependsOn: deps, Reason: "milink did not create it: nothing is dropped, it only leaves milink's state"}
	}
	return resources.Change{DependsOn: deps, Reason: reason, Steps: []resources.Step{tsql(target.Address(), DropAGSQL(name))}}
}

func deleteAG(ctx context.Context, q Querier, ch resources.Change, progress func(string)) error {
	return dropGroup(ctx, q, ch, "availability group", progress, func(cat *Catalogue, g AG) error {
		if dags := cat.DAGsUsing(g.Name); len(dags) > 0 {
			return fmt.Errorf("%s: not dropping availability group %s on %s: the distributed availability group %s uses it; drop that first (or keep the block)", ch.Address, qi(g.Name), ch.Target, qi(dags[0]))
		}
		return nil
	})
}

// dropGroup carries out a planned group drop: read again, gone already is
// done, refuse what guard refuses, and a group gone meanwhile (15151) is
// no error.
func dropGroup(ctx context.Context, q Querier, ch resources.Change, what string, progress func(string), guard func(*Catalogue, AG) error) error {
	if len(ch.Steps) == 0 {
		return nil
	}
	name, _ := ch.Before["name"].(string)
	cat, err := ReadCatalogue(ctx, q, PartAGs)
	if err != nil {
		return stepError(ch.Address, "reading the availability groups on "+ch.Target, err)
	}
	g, ok := cat.AG(name)
	if !ok {
		progress(what + " " + name + " is already gone")
		return nil
	}
	if err := guard(cat, g); err != nil {
		return err
	}
	if err := runSteps(ctx, q, ch, "dropping "+what+" "+qi(name)); err != nil && ErrorNumber(err) != 15151 {
		return err
	}
	progress("dropped " + what + " " + name)
	return nil
}
