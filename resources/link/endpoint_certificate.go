package link

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// EndpointCertificate is an endpoint_certificate block: the certificate
// SQL Server's mirroring endpoint authenticates with, in master, its
// private key encrypted by the database master key.
type EndpointCertificate struct {
	Address   string
	DeclRange hcl.Range
	NameRange hcl.Range
	// Name is the certificate's name; "" for the default,
	// Cert_<@@SERVERNAME>_endpoint (DefaultCertificateName).
	Name string
	// Expiry is the expiry date given; zero for a year after creation.
	Expiry time.Time
	// RenewBefore is how long before its expiry plans warn.
	RenewBefore time.Duration
}

// CertificateName is the name the certificate has on the server named
// serverName (@@SERVERNAME).
func (c *EndpointCertificate) CertificateName(serverName string) string {
	if c.Name != "" {
		return c.Name
	}
	return DefaultCertificateName(serverName)
}

var endpointCertificateKind = &resources.Kind{
	Type: KindEndpointCertificate,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: AttrSQLServer, Required: true}, {Name: "name"}, {Name: "expiry"}, {Name: "renew_before"},
	}},
	Decode:     decodeEndpointCertificate,
	TargetAttr: AttrSQLServer, TargetType: sqlserver.KindServer,
	Identity: func(cfg any) string {
		if c, ok := cfg.(*EndpointCertificate); ok {
			return c.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Impl:    endpointCertImpl{},
}

func decodeEndpointCertificate(b *lang.Body, blk resources.BlockInfo) any {
	c := &EndpointCertificate{Address: blk.Address, DeclRange: b.Range, RenewBefore: ExpiryWarning}
	c.Name = decodeName(b, "name", CheckCertificateName)
	c.NameRange = attrRange(b, "name")
	if s := b.Str("expiry", "", false); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t, err = time.Parse(time.DateOnly, s)
		}
		switch {
		case err != nil:
			b.Errorf(b.Attr("expiry"), "Invalid expiry", "The expiry is an RFC 3339 date, such as \"2027-06-30\" (or a time, \"2027-06-30T00:00:00Z\"); %s is not.", b.Quote("expiry", s))
		case b.Final && !t.After(clock()):
			b.Errorf(b.Attr("expiry"), "Expiry in the past", "The expiry %s has passed: a new certificate must be valid for a while (a year is usual).", b.Quote("expiry", s))
		default:
			c.Expiry = t.UTC()
		}
	}
	if s := b.Str("renew_before", "", false); s != "" {
		d, ok := parseDays(s)
		if !ok {
			b.Errorf(b.Attr("renew_before"), "Invalid duration", "renew_before is a number of days such as \"30d\", or a duration such as \"720h\"; %s is not.", b.Quote("renew_before", s))
		} else {
			c.RenewBefore = d
		}
	}
	return c
}

type endpointCertImpl struct{}

func (endpointCertImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*EndpointCertificate)
	return read(ctx, req, c.DeclRange, PartCertificates|PartEndpoints)
}

// certAttrs are a certificate's attributes as plans and the state show them.
func certAttrs(x Certificate, created bool) map[string]any {
	return map[string]any{
		"name":          x.Name,
		"thumbprint":    azure.HexBlob(x.Thumbprint),
		"expiry":        x.Expiry.UTC().Format(time.DateOnly),
		"subject":       x.Subject,
		CreatedByMilink: created,
	}
}

func (endpointCertImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*EndpointCertificate)
	cat, ok := req.Read.(*Catalogue)
	if !ok {
		return resources.Change{}, diagErr(c.DeclRange, "Not read", c.Address+": the certificates were not read")
	}
	server, _ := serverFacts(req.Observed)
	name := c.CertificateName(server)
	if msg := CheckCertificateName(name); msg != "" {
		return resources.Change{}, diagErr(c.NameRange, "Invalid certificate name", fmt.Sprintf("%s: %s (%q); give the name with the name argument.", c.Address, msg, name))
	}
	var diags hcl.Diagnostics
	sqlAddr := req.Target.Address()
	x, found := cat.Certificate(name)
	if !found {
		expiry := c.Expiry
		if expiry.IsZero() {
			y, m, d := clock().UTC().AddDate(1, 0, 0).Date()
			expiry = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		}
		if w := expiryWarning(c.DeclRange, c.Address, "the new certificate "+name, expiry, c.RenewBefore, "Give a later expiry."); w != nil {
			diags = append(diags, w)
		}
		return resources.Change{
			Action: resources.Create,
			After: map[string]any{
				"name": name, "expiry": expiry.Format(time.DateOnly), "subject": EndpointCertificateSubject(server), CreatedByMilink: true,
			},
			Unknown: []string{"thumbprint"},
			Reason:  fmt.Sprintf("no certificate %s in master on %s", qi(name), sqlAddr),
			Steps:   []resources.Step{tsql(sqlAddr, CreateEndpointCertificateSQL(name, server, expiry))},
		}, diags
	}
	switch x.KeyEncryption {
	case "MK":
	case "NA", "":
		return resources.Change{}, diagErr(c.DeclRange, "Certificate without a private key",
			fmt.Sprintf("%s: certificate %s on %s has no private key, so an endpoint cannot authenticate with it. Drop it, or name another certificate (name).", c.Address, qi(x.Name), sqlAddr))
	default:
		return resources.Change{}, diagErr(c.DeclRange, "Private key not protected by the master key",
			fmt.Sprintf("%s: the private key of certificate %s on %s is encrypted by a password (pvt_key_encryption_type %s), not by the database master key, so the endpoint cannot open it on its own. Encrypt it by the master key (ALTER CERTIFICATE %s WITH PRIVATE KEY (DECRYPTION BY PASSWORD = '...')), or name another certificate.",
				c.Address, qi(x.Name), sqlAddr, x.KeyEncryption, qi(x.Name)))
	}
	attrs := certAttrs(x, priorCreated(req.Prior))
	ch := resources.Change{Action: resources.NoOp, Before: attrs, After: attrs}
	if !c.Expiry.IsZero() && c.Expiry.Format(time.DateOnly) != x.Expiry.Format(time.DateOnly) {
		ch.Notable = true
		ch.Reason = fmt.Sprintf("certificate %s expires on %s, not on the configured %s: a certificate's expiry cannot be changed; rotate it (a new certificate, the endpoint and the managed instance's trust moved to it)",
			x.Name, x.Expiry.Format(time.DateOnly), c.Expiry.Format(time.DateOnly))
	}
	if w := expiryWarning(c.DeclRange, c.Address, "certificate "+x.Name+" on "+sqlAddr, x.Expiry, c.RenewBefore,
		"Rotate it: create a new certificate, switch the endpoint to it (ALTER ENDPOINT ... CERTIFICATE), upload it to the managed instance, then drop the old one."); w != nil {
		diags = append(diags, w)
	}
	return ch, diags
}

func (endpointCertImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	q, err := querier(ch.Address, req.Target)
	if err != nil {
		return resources.Result{}, err
	}
	progress := progressOf(req)
	switch ch.Action {
	case resources.Create:
		name, _ := ch.After["name"].(string)
		subject, _ := ch.After["subject"].(string)
		cat, err := ReadCatalogue(ctx, q, PartCertificates)
		if err != nil {
			return resources.Result{}, stepError(ch.Address, "reading the certificates on "+ch.Target, err)
		}
		if x, ok := cat.Certificate(name); ok {
			// A run killed after the CREATE: the certificate is there;
			// milink's subject says whose it is.
			progress("certificate " + name + " already exists")
			return resources.Result{Attributes: certAttrs(x, x.Subject == subject)}, nil
		}
		if err := runSteps(ctx, q, ch, "creating certificate "+qi(name)); err != nil && ErrorNumber(err) != 15232 {
			return resources.Result{}, err
		}
		cat, err = ReadCatalogue(ctx, q, PartCertificates)
		if err != nil {
			return resources.Result{}, stepError(ch.Address, "reading the certificates on "+ch.Target, err)
		}
		x, ok := cat.Certificate(name)
		if !ok {
			return resources.Result{}, fmt.Errorf("%s: created certificate %s, but %s does not list it", ch.Address, qi(name), ch.Target)
		}
		progress("created certificate " + name + ", thumbprint " + azure.HexBlob(x.Thumbprint))
		return resources.Result{Attributes: certAttrs(x, x.Subject == subject)}, nil
	case resources.Delete:
		return resources.Result{}, deleteCertificate(ctx, q, ch, progress)
	}
	return resources.Result{}, fmt.Errorf("%s: cannot %s an endpoint certificate", ch.Address, ch.Action)
}

// PlanDelete drops the certificate only if milink created it; apply
// checks again that no endpoint uses it.
func (endpointCertImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	return planCertificateDelete(prior, target, "an endpoint")
}

func planCertificateDelete(prior resources.Prior, target resources.Target, user string) resources.Change {
	name := priorString(prior, "name")
	if !priorCreated(&prior) || name == "" {
		return resources.Change{Action: resources.Forget, Reason: "milink did not create it: nothing is dropped, it only leaves milink's state"}
	}
	return resources.Change{
		Reason: "milink created it; dropped unless " + user + " uses it (checked again at apply)",
		Steps:  []resources.Step{tsql(target.Address(), DropCertificateSQL(name))},
	}
}

// deleteCertificate drops a certificate milink created, if it is still
// the one milink created and no endpoint uses it.
func deleteCertificate(ctx context.Context, q Querier, ch resources.Change, progress func(string)) error {
	if len(ch.Steps) == 0 {
		return nil
	}
	name, _ := ch.Before["name"].(string)
	cat, err := ReadCatalogue(ctx, q, PartCertificates|PartEndpoints)
	if err != nil {
		return stepError(ch.Address, "reading the certificates on "+ch.Target, err)
	}
	x, ok := cat.Certificate(name)
	if !ok {
		progress("certificate " + name + " is already gone")
		return nil
	}
	if tp, _ := ch.Before["thumbprint"].(string); tp != "" && !SameThumbprint(tp, azure.HexBlob(x.Thumbprint)) {
		return fmt.Errorf("%s: not dropping certificate %s on %s: its thumbprint is %s, not %s which milink created; it is someone else's now", ch.Address, qi(name), ch.Target, azure.HexBlob(x.Thumbprint), tp)
	}
	if users := cat.EndpointsUsing(x.ID); len(users) > 0 {
		return fmt.Errorf("%s: not dropping certificate %s on %s: endpoint %s authenticates with it; remove the endpoint first (or keep the block)", ch.Address, qi(name), ch.Target, qi(users[0]))
	}
	if err := runSteps(ctx, q, ch, "dropping certificate "+qi(name)); err != nil && ErrorNumber(err) != 15151 {
		return err
	}
	progress("dropped certificate " + name)
	return nil
}
