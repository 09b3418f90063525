// Package link holds the managed instance link's kinds: the SQL Server
// side (certificates, the mirroring endpoint, the availability groups)
// and the link itself, the managed instance joining SQL Server's
// distributed availability group through Resource Manager.
package link

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// KindLink is the managed_instance_link block.
const KindLink = "managed_instance_link"

// The link's pointer attributes: each names a block of the configuration
// the link uses instead of the one it would synthesise (see expand.go).
// availability_group also takes a plain name (an AG that exists).
var linkPointers = []string{"endpoint_certificate", "mirroring_endpoint", "trust_certificate", "partner_certificate", "distributed_availability_group"}

// LinkKind is the managed_instance_link kind: the ARM link (PUT, or PATCH
// of its replication), its live status, and its checked deletion.
var LinkKind = &resources.Kind{
	Type: KindLink,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: append([]hcl.AttributeSchema{
		{Name: "sql_server", Required: true}, {Name: "managed_instance", Required: true},
		{Name: "databases", Required: true}, {Name: "partner_endpoint"}, {Name: "replication"}, {Name: "failover_mode"},
		{Name: "wait_for"}, {Name: "wait_timeout"}, {Name: "name"}, {Name: "availability_group"},
		{Name: "instance_availability_group"}, {Name: "initial_primary"}, {Name: "multi_database"}, {Name: "adopt_endpoint"},
	}, pointerSchema()...)},
	Decode:       decodeLink,
	TargetAttr:   "managed_instance",
	TargetType:   azure.KindManagedInstance,
	OtherTargets: []resources.TargetRef{{Attr: "sql_server", Type: sqlserver.KindServer}},
	Identity: func(cfg any) string {
		if c, ok := cfg.(*LinkConfig); ok {
			return c.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Phase:   resources.PhaseAfterRestart,
	Impl:    linkImpl{},
}

func init() { LinkKind.Expand = expandLink } // expandLink reads LinkKind's schema: no initialisation cycle

func pointerSchema() []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(linkPointers))
	for i, p := range linkPointers {
		out[i] = hcl.AttributeSchema{Name: p}
	}
	return out
}

// LinkConfig is a managed_instance_link block.
type LinkConfig struct {
	Address   string
	DeclRange hcl.Range
	// Name is the link's and the distributed AG's name (default: the
	// block's label, or its for_each key).
	Name      string
	Databases []string
	// PartnerEndpoint is SQL Server's endpoint as the managed instance
	// dials it; "" is TCP://<sql_server address>:5022.
	PartnerEndpoint string
	// Replication is Async or Sync, FailoverMode Manual or None (Azure's spellings).
	Replication  string
	FailoverMode string
	// WaitFor is created, connected or seeded; WaitTimeout bounds it.
	WaitFor     string
	WaitTimeout time.Duration
	// AvailabilityGroup and InstanceAvailabilityGroup are the AGs' names
	// on SQL Server and on the managed instance.
	AvailabilityGroup         string
	InstanceAvailabilityGroup string
	// InitialPrimary is sql_server or managed_instance.
	InitialPrimary string
	MultiDatabase  bool
	AdoptEndpoint  bool
}

// The values the attributes accept, as written; Azure's spellings beside.
var (
	linkReplication = map[string]string{"async": "Async", "sync": "Sync"}
	linkFailover    = map[string]string{"manual": "Manual", "none": "None"}
	waitForValues   = []string{"created", "connected", "seeded"}
)

// defaultWaitTimeout bounds wait_for when wait_timeout is not written.
const defaultWaitTimeout = 15 * time.Minute

func decodeLink(b *lang.Body, blk resources.BlockInfo) any {
	c := &LinkConfig{Address: blk.Address, DeclRange: b.Range}
	def := blk.Name
	if blk.Key != "" {
		def = blk.Key
	}
	c.Name = b.Str("name", def, false)
	if a := b.Attr("name"); a != nil && !b.Unknown("name") && !validLinkName(c.Name) {
		b.Errorf(a, "Invalid link name", "A link's name is also its distributed availability group's: 1 to 128 characters, starting with a letter, _ or #, then letters, digits, _, @, # or $.")
	}
	c.Databases = b.StrList("databases", nil)
	c.PartnerEndpoint = b.Str("partner_endpoint", "", false)
	if a := b.Attr("partner_endpoint"); a != nil && c.PartnerEndpoint != "" && !validEndpointURL(c.PartnerEndpoint) {
		b.Errorf(a, "Invalid partner endpoint", "partner_endpoint is SQL Server's mirroring endpoint as the managed instance dials it: TCP://<IP address or resolvable name>:<port>.")
	}
	c.Replication = linkReplication[b.OneOf("replication", "async", "async", "sync")]
	c.FailoverMode = linkFailover[b.OneOf("failover_mode", "manual", "manual", "none")]
	c.WaitFor = b.OneOf("wait_for", "connected", waitForValues...)
	c.WaitTimeout = b.Duration("wait_timeout", defaultWaitTimeout)
	c.AvailabilityGroup = pointedName(b, "availability_group", "AG_"+c.Name)
	c.InstanceAvailabilityGroup = b.Str("instance_availability_group", "AG_"+c.Name+"_MI", false)
	c.InitialPrimary = b.OneOf("initial_primary", "sql_server", "sql_server", "managed_instance")
	c.MultiDatabase = b.Bool("multi_database", false)
	c.AdoptEndpoint = b.Bool("adopt_endpoint", false)
	for _, name := range []string{"availability_group", "instance_availability_group"} {
		v := c.AvailabilityGroup
		if name == "instance_availability_group" {
			v = c.InstanceAvailabilityGroup
		}
		if a := b.Attr(name); a != nil && !b.Unknown(name) && (v == "" || len([]rune(v)) > 128) {
			b.Errorf(a, "Invalid availability group name", "%s: an availability group's name has 1 to 128 characters.", name)
		}
	}
	if strings.EqualFold(c.AvailabilityGroup, c.InstanceAvailabilityGroup) && !b.Unknown("availability_group") && !b.Unknown("instance_availability_group") {
		b.Errorf(b.Attr("instance_availability_group"), "Same availability group names",
			"The availability group on SQL Server and the one on the managed instance need different names (%s).", c.AvailabilityGroup)
	}
	for _, p := range linkPointers {
		checkPointer(b, p)
	}
	if a := b.Attr("databases"); a != nil && !b.Unknown("databases") {
		seen := map[string]bool{}
		for _, d := range c.Databases {
			if d == "" || len([]rune(d)) > 128 {
				b.Errorf(a, "Invalid database name", "A database name has 1 to 128 characters.")
			}
			if seen[strings.ToLower(d)] {
				b.Errorf(a, "Duplicate database", "%s is listed twice.", lang.QuoteShort(d))
			}
			seen[strings.ToLower(d)] = true
		}
		switch {
		case len(c.Databases) == 0:
			b.Errorf(a, "No database", "A link replicates at least one database.")
		case len(c.Databases) > 1 && !c.MultiDatabase:
			b.Errorf(a, "One database per link",
				"In single-database mode (the default) a link holds exactly one database: write one managed_instance_link per database, or set multi_database = true (preview: SQL Server 2022 CU27 or 2025 CU9 and later).")
		}
	}
	if c.InitialPrimary == "managed_instance" && c.MultiDatabase {
		b.Errorf(b.Attr("initial_primary"), "Unsupported combination", "A managed instance as initial primary takes single-database links only.")
	}
	return c
}

// pointedName reads an attribute that is a name or a reference to a
// block (availability_group = availability_group.sales): the block's
// name attribute then, def when it has none.
func pointedName(b *lang.Body, attr, def string) string {
	v, a, st := b.Value(attr, cty.DynamicPseudoType, false)
	if st != lang.Good {
		return def
	}
	v, _ = lang.Unmarked(v)
	switch {
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type().IsObjectType():
		if v.Type().HasAttribute("name") {
			n := v.GetAttr("name")
			if n.IsKnown() && !n.IsNull() && n.Type() == cty.String {
				return n.AsString()
			}
		}
		return def
	}
	b.Errorf(a, "Invalid value", "%s is the availability group's name, or a reference to an availability_group block.", attr)
	return def
}

// checkPointer: a pointer attribute must refer to a block of its kind.
func checkPointer(b *lang.Body, attr string) {
	a := b.Attr(attr)
	if a == nil {
		return
	}
	want := pointerKind(attr)
	for _, tr := range a.Expr.Variables() {
		if tr.RootName() == want {
			return
		}
	}
	b.Errorf(a, "Invalid reference", "%s names the %s block the link uses instead of its own: %s = %s.NAME.", attr, want, attr, want)
}

// pointerKind is the block type a pointer attribute names.
func pointerKind(attr string) string {
	if attr == "trust_certificate" {
		return azure.KindTrustCertificate
	}
	return attr
}

func validLinkName(s string) bool {
	if s == "" || len([]rune(s)) > 128 {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '#'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && r != '@' && r != '$' && r != '-' {
			return false
		}
	}
	return true
}

func validEndpointURL(s string) bool {
	if len(s) < 7 || !strings.EqualFold(s[:6], "tcp://") {
		return false
	}
	host, port, ok := strings.Cut(s[6:], ":")
	if !ok || host == "" || port == "" {
		return false
	}
	for _, r := range port {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
