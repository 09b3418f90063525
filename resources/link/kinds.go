// Package link holds the kinds that build the managed instance link on
// the SQL Server side, in T-SQL: the endpoint certificate, the managed
// instance's certificate and Azure's roots (partner_certificate), the
// database mirroring endpoint, the availability group and the
// distributed availability group. Each reads what it needs of the
// catalogue in one batch (a Reader), diffs without I/O, re-checks before
// it acts (so that a run killed at any point can run again), and deletes
// only what milink created and nothing still in use.
package link

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// The block types of this package's SQL Server side kinds.
const (
	KindEndpointCertificate = "endpoint_certificate"
	KindPartnerCertificate  = "partner_certificate"
	KindMirroringEndpoint   = "mirroring_endpoint"
	KindAvailabilityGroup   = "availability_group"
	KindDAG                 = "distributed_availability_group"
	// linkKindType is the managed_instance_link block type (link.go
	// exports it as KindLink); the
	// distributed availability group's drop waits for its delete.
	linkKindType = "managed_instance_link"
)

// The attributes naming targets, fixed by the link's contracts.
const (
	AttrSQLServer       = "sql_server"
	AttrManagedInstance = "managed_instance"
)

// CreatedByMilink is the state attribute that says milink created the
// object: only such objects are ever dropped.
const CreatedByMilink = "created_by_milink"

// ManagedInstance is what the kinds need of the managed_instance target
// (*azure.ManagedInstance): its names, and its endpoint certificate as
// Azure returns it (endpointCertificates/DATABASE_MIRRORING).
type ManagedInstance interface {
	// FQDN is fullyQualifiedDomainName, known after the target's refresh.
	FQDN() string
	// Name is the managed instance's short name (mi01).
	Name() string
	// EndpointCertificate is the DER of its DATABASE_MIRRORING endpoint
	// certificate.
	EndpointCertificate(ctx context.Context) ([]byte, error)
}

// SQLServer is what the kinds need of a sql_server target
// (*sqlserver.Instance).
type SQLServer interface {
	resources.Target
	Querier
}

// configured is implemented by *sqlserver.Instance: the configuration it
// was opened with (the address default endpoint URLs use).
type configured interface {
	Server() *sqlserver.Server
}

// Kinds returns the SQL Server side kinds of the link, in the order they
// are built.
func Kinds() []*resources.Kind {
	return []*resources.Kind{endpointCertificateKind, partnerCertificateKind, mirroringEndpointKind, availabilityGroupKind, dagKind, LinkKind}
}

// clock is the time of expiry dates and warnings.
var clock = time.Now

// ExpiryWarning is how close to its expiry a certificate gets a warning
// (the link breaks when a certificate expires).
const ExpiryWarning = 30 * 24 * time.Hour

func diagErr(rng hcl.Range, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}}
}

func diagWarn(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// serverFacts are @@SERVERNAME and the major version from the SQL
// Server's observation.
func serverFacts(o resources.Observation) (name string, major int) {
	if o == nil {
		return "", 0
	}
	v := o.Values()
	if s, ok := v["server_name"]; ok && s.IsKnown() && !s.IsNull() {
		name = s.AsString()
	}
	if s, ok := v["product_version"]; ok && s.IsKnown() && !s.IsNull() {
		major, _ = strconv.Atoi(strings.SplitN(s.AsString(), ".", 2)[0])
	}
	return name, major
}

// hostAddress is the address milink reaches the SQL Server at, the
// default host of its endpoint URL.
func hostAddress(t resources.Target) string {
	if c, ok := t.(configured); ok && c.Server() != nil {
		return c.Server().Address
	}
	return ""
}

// querier is the target as the kinds use it.
func querier(addr string, t resources.Target) (Querier, error) {
	q, ok := t.(Querier)
	if !ok || t == nil {
		return nil, fmt.Errorf("%s: the target cannot run T-SQL", addr)
	}
	return q, nil
}

// read is the kinds' Reader: their part of the catalogue, one batch.
func read(ctx context.Context, req resources.DiffRequest, rng hcl.Range, parts Part) (*Catalogue, hcl.Diagnostics) {
	q, err := querier(req.Address, req.Target)
	if err != nil {
		return nil, diagErr(rng, "Cannot read "+req.Target.Address(), err.Error())
	}
	cat, err := ReadCatalogue(ctx, q, parts)
	if err != nil {
		return nil, diagErr(rng, "Cannot read "+req.Target.Address(), fmt.Sprintf("%s: reading the certificates, endpoints and availability groups: %v", req.Address, err))
	}
	return cat, nil
}

// priorCreated says whether the state remembers milink created the object.
func priorCreated(p *resources.Prior) bool {
	if p == nil {
		return false
	}
	b, _ := p.Attributes[CreatedByMilink].(bool)
	return b
}

func priorString(p resources.Prior, k string) string {
	s, _ := p.Attributes[k].(string)
	return s
}

// decodeName reads an optional name attribute, checked with check.
func decodeName(b *lang.Body, attr string, check func(string) string) string {
	s := b.Str(attr, "", false)
	if a := b.Attr(attr); a != nil && !b.Unknown(attr) && b.Attr(attr) != nil {
		if msg := check(s); msg != "" {
			b.Errorf(a, "Invalid name", "%s; %s is not accepted.", upperFirst(msg), b.Quote(attr, s))
			return ""
		}
	}
	if b.Unknown(attr) {
		return ""
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// attrRange is an attribute's value range, or the block's.
func attrRange(b *lang.Body, name string) hcl.Range {
	if a := b.Attr(name); a != nil {
		return a.Expr.Range()
	}
	return b.Range
}

// parseDays reads a duration written "30d" or as Go writes durations
// ("720h").
func parseDays(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 36500 {
			return 0, false
		}
		return time.Duration(d) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// days is a duration in whole days, for messages.
func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// expiryWarning warns about a certificate within within of its expiry.
func expiryWarning(rng hcl.Range, addr, what string, expiry time.Time, within time.Duration, fix string) *hcl.Diagnostic {
	if expiry.IsZero() {
		return nil
	}
	left := expiry.Sub(clock())
	if left >= within {
		return nil
	}
	when := "expires in " + days(left) + " (" + expiry.UTC().Format("2006-01-02") + ")"
	if left <= 0 {
		when = "expired " + days(-left) + " ago (" + expiry.UTC().Format("2006-01-02") + ")"
	}
	return diagWarn(rng, "Certificate close to its expiry",
		fmt.Sprintf("%s: %s %s; the link stops when a certificate it uses expires. %s", addr, what, when, fix))
}

// tsql is a step of T-SQL on the target.
func tsql(on, text string) resources.Step { return resources.Step{Kind: "tsql", On: on, Text: text} }

// runSteps sends a change's planned T-SQL steps, each one batch: what the
// plan showed is what runs. None holds a secret.
func runSteps(ctx context.Context, q Querier, ch resources.Change, doing string) error {
	for _, s := range ch.Steps {
		if s.Kind != "tsql" {
			continue
		}
		if err := q.Exec(ctx, s.Text); err != nil {
			return stepError(ch.Address, doing+" on "+ch.Target, err)
		}
	}
	return nil
}

func progressOf(req resources.ApplyRequest) func(string) {
	if req.Progress != nil {
		return req.Progress
	}
	return func(string) {}
}
