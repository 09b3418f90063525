package link

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// PartnerCertificate is a partner_certificate block: SQL Server trusts
// the managed instance's endpoint certificate (created from its DER under
// the name exactly equal to the managed instance's FQDN) and Azure's two
// roots, each with the issuer *.database.windows.net.
type PartnerCertificate struct {
	Address   string
	DeclRange hcl.Range
}

var partnerCertificateKind = &resources.Kind{
	Type: KindPartnerCertificate,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: AttrSQLServer, Required: true}, {Name: AttrManagedInstance, Required: true},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &PartnerCertificate{Address: blk.Address, DeclRange: b.Range}
	},
	TargetAttr: AttrSQLServer, TargetType: sqlserver.KindServer,
	OtherTargets: []resources.TargetRef{{Attr: AttrManagedInstance, Type: "managed_instance"}},
	Removal:      resources.RemoveDelete,
	Impl:         partnerCertImpl{},
}

type partnerCertImpl struct{}

// partnerRead is what Read found: SQL Server's certificates and the
// managed instance's endpoint certificate.
type partnerRead struct {
	cat        *Catalogue
	fqdn, name string
	der        []byte
}

func managedInstance(addr string, t resources.Target) (ManagedInstance, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: the managed instance could not be read", addr)
	}
	mi, ok := t.(ManagedInstance)
	if !ok {
		return nil, fmt.Errorf("%s: %s has no endpoint certificate to give", addr, t.Address())
	}
	return mi, nil
}

func (partnerCertImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*PartnerCertificate)
	mi, err := managedInstance(c.Address, req.Others[AttrManagedInstance].Target)
	if err != nil {
		return nil, diagErr(c.DeclRange, "Cannot reach the managed instance", err.Error())
	}
	cat, diags := read(ctx, req, c.DeclRange, PartCertificates)
	if diags.HasErrors() {
		return nil, diags
	}
	der, err := mi.EndpointCertificate(ctx)
	if err != nil {
		return nil, diagErr(c.DeclRange, "Cannot read the managed instance's endpoint certificate",
			fmt.Sprintf("%s: %s: %v", c.Address, req.Others[AttrManagedInstance].Target.Address(), err))
	}
	return &partnerRead{cat: cat, fqdn: mi.FQDN(), name: mi.Name(), der: der}, nil
}

// partnerPlan is what must be created or replaced.
type partnerPlan struct {
	replace, create bool
	roots           []Root // the roots to create
	present         []string
	notes           []string
}

// planPartner decides, from what SQL Server holds, what to create. A
// problem is returned as text for a diagnostic.
func planPartner(cat *Catalogue, fqdn string, der []byte, created bool) (partnerPlan, string) {
	var p partnerPlan
	tp := azure.Thumbprint(der)
	if x, ok := cat.Certificate(fqdn); ok {
		if !bytes.Equal(x.Thumbprint, tp) {
			if !created {
				return p, fmt.Sprintf("certificate %s is in master, but it is not the managed instance's current endpoint certificate (thumbprint %s, the managed instance's is %s), and milink did not create it. Drop it (DROP CERTIFICATE %s) and plan again.",
					qi(x.Name), azure.HexBlob(x.Thumbprint), azure.HexBlob(tp), qi(x.Name))
			}
			p.replace = true
		}
	} else if x, ok := cat.CertificateByThumbprint(tp); ok {
		return p, fmt.Sprintf("the managed instance's endpoint certificate is in master as %s, but the link finds it only under the name exactly equal to the managed instance's FQDN, %s. Drop %s (DROP CERTIFICATE %s) and plan again.",
			qi(x.Name), qi(fqdn), qi(x.Name), qi(x.Name))
	} else {
		p.create = true
	}
	for _, r := range Roots() {
		rtp := azure.Thumbprint(r.DER)
		if x, ok := cat.Certificate(r.Name); ok {
			if !bytes.Equal(x.Thumbprint, rtp) {
				return p, fmt.Sprintf("certificate %s is in master, but it is not Azure's root (thumbprint %s, expected %s). Drop or rename it and plan again.",
					qi(x.Name), azure.HexBlob(x.Thumbprint), azure.HexBlob(rtp))
			}
			p.present = append(p.present, r.Name)
			continue
		}
		if x, ok := cat.CertificateByThumbprint(rtp); ok {
			p.present = append(p.present, x.Name)
			p.notes = append(p.notes, fmt.Sprintf("the root %s is in master as %s; milink uses it as it is (make sure it has the issuer %s)", r.Name, x.Name, RootIssuer))
			continue
		}
		p.roots = append(p.roots, r)
		p.present = append(p.present, r.Name)
	}
	return p, ""
}

func partnerAttrs(fqdn string, der []byte, expiry time.Time, roots []string, created bool) map[string]any {
	rs := make([]any, len(roots))
	for i, r := range roots {
		rs[i] = r
	}
	a := map[string]any{
		"name":          fqdn,
		"thumbprint":    azure.HexBlob(azure.Thumbprint(der)),
		"roots":         rs,
		CreatedByMilink: created,
	}
	if !expiry.IsZero() {
		a["expiry"] = expiry.UTC().Format(time.DateOnly)
	}
	return a
}

func (partnerCertImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*PartnerCertificate)
	r, ok := req.Read.(*partnerRead)
	if !ok {
		return resources.Change{}, diagErr(c.DeclRange, "Not read", c.Address+": the certificates were not read")
	}
	miAddr := req.Others[AttrManagedInstance].Target.Address()
	if r.fqdn == "" {
		return resources.Change{}, diagErr(c.DeclRange, "Managed instance FQDN unknown", fmt.Sprintf("%s: %s did not report its fully qualified domain name, which names its certificate on SQL Server.", c.Address, miAddr))
	}
	if msg := CheckCertificateName(r.fqdn); msg != "" {
		return resources.Change{}, diagErr(c.DeclRange, "Invalid certificate name", fmt.Sprintf("%s: the managed instance's FQDN %q cannot name a certificate: %s.", c.Address, r.fqdn, msg))
	}
	cert, err := x509.ParseCertificate(r.der)
	if err != nil {
		return resources.Change{}, diagErr(c.DeclRange, "Not a certificate", fmt.Sprintf("%s: the endpoint certificate %s returned is not a DER certificate: %v.", c.Address, miAddr, err))
	}
	var diags hcl.Diagnostics
	if w := expiryWarning(c.DeclRange, c.Address, "the endpoint certificate of "+miAddr, cert.NotAfter, ExpiryWarning,
		"Azure renews it; plan again after the renewal to trust the new one."); w != nil {
		diags = append(diags, w)
	}
	p, problem := planPartner(r.cat, r.fqdn, r.der, priorCreated(req.Prior))
	if problem != "" {
		return resources.Change{}, diagErr(c.DeclRange, "Cannot trust the managed instance's certificate", c.Address+": "+problem)
	}
	sqlAddr := req.Target.Address()
	created := priorCreated(req.Prior) || p.create
	after := partnerAttrs(r.fqdn, r.der, cert.NotAfter, p.present, created)
	var steps []resources.Step
	var what []string
	switch {
	case p.create:
		steps = append(steps, tsql(sqlAddr, CreateCertificateFromBinarySQL(r.fqdn, r.der)))
		what = append(what, "no certificate "+qi(r.fqdn)+" in master")
	case p.replace:
		steps = append(steps, tsql(sqlAddr, ReplaceCertificateFromBinarySQL(r.fqdn, r.der)))
		what = append(what, "the managed instance's endpoint certificate changed (thumbprint "+after["thumbprint"].(string)+")")
	}
	for _, root := range p.roots {
		steps = append(steps, tsql(sqlAddr, CreateRootSQL(root)))
		what = append(what, "root "+root.Name+" missing")
	}
	ch := resources.Change{After: after, Steps: steps, Reason: strings.Join(what, "; ")}
	switch {
	case len(steps) == 0:
		ch.Action, ch.Before = resources.NoOp, after
		if len(p.notes) > 0 {
			ch.Notable, ch.Reason = true, strings.Join(p.notes, "; ")
		}
	case p.create && len(p.roots) == 2:
		ch.Action = resources.Create
	default:
		ch.Action = resources.Update
		// Before is what SQL Server holds now: the certificate under the
		// managed instance's name, if any, and the roots already there.
		var rs []any
		for _, n := range p.present {
			if !hasRoot(p.roots, n) {
				rs = append(rs, n)
			}
		}
		ch.Before = map[string]any{"roots": rs, CreatedByMilink: priorCreated(req.Prior)}
		if x, ok := r.cat.Certificate(r.fqdn); ok {
			ch.Before["name"], ch.Before["thumbprint"] = x.Name, azure.HexBlob(x.Thumbprint)
			if !x.Expiry.IsZero() {
				ch.Before["expiry"] = x.Expiry.UTC().Format(time.DateOnly)
			}
		}
	}
	return ch, diags
}

func hasRoot(roots []Root, name string) bool {
	for _, r := range roots {
		if r.Name == name {
			return true
		}
	}
	return false
}

// Apply reads the managed instance's certificate again (it must be the
// planned one), then creates what SQL Server still lacks: a re-run after
// a crash finds what the first run created and skips it.
func (partnerCertImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	q, err := querier(ch.Address, req.Target)
	if err != nil {
		return resources.Result{}, err
	}
	progress := progressOf(req)
	if ch.Action == resources.Delete {
		return resources.Result{}, deleteCertificate(ctx, q, ch, progress)
	}
	if ch.Action != resources.Create && ch.Action != resources.Update {
		return resources.Result{}, fmt.Errorf("%s: cannot %s a partner certificate", ch.Address, ch.Action)
	}
	mi, err := managedInstance(ch.Address, req.Others[AttrManagedInstance])
	if err != nil {
		return resources.Result{}, err
	}
	der, err := mi.EndpointCertificate(ctx)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: reading the managed instance's endpoint certificate: %w", ch.Address, err)
	}
	fqdn, _ := ch.After["name"].(string)
	if planned, _ := ch.After["thumbprint"].(string); !SameThumbprint(planned, azure.HexBlob(azure.Thumbprint(der))) || fqdn != mi.FQDN() {
		return resources.Result{}, fmt.Errorf("%s: the managed instance's endpoint certificate changed since the plan (thumbprint %s, planned %s); plan again", ch.Address, azure.HexBlob(azure.Thumbprint(der)), planned)
	}
	cat, err := ReadCatalogue(ctx, q, PartCertificates)
	if err != nil {
		return resources.Result{}, stepError(ch.Address, "reading the certificates on "+ch.Target, err)
	}
	created, _ := ch.After[CreatedByMilink].(bool)
	p, problem := planPartner(cat, fqdn, der, created)
	if problem != "" {
		return resources.Result{}, fmt.Errorf("%s: %s", ch.Address, problem)
	}
	run := func(doing, text string, exists int) error {
		err := q.Exec(ctx, text)
		if err != nil && ErrorNumber(err) != exists {
			return stepError(ch.Address, doing+" on "+ch.Target, err)
		}
		progress(doing)
		return nil
	}
	switch {
	case p.create:
		if err := run("creating certificate "+qi(fqdn), CreateCertificateFromBinarySQL(fqdn, der), 15232); err != nil {
			return resources.Result{}, err
		}
	case p.replace:
		if err := run("replacing certificate "+qi(fqdn), ReplaceCertificateFromBinarySQL(fqdn, der), -1); err != nil {
			return resources.Result{}, err
		}
	}
	for _, r := range p.roots {
		if err := run("trusting root "+r.Name, CreateRootSQL(r), 15232); err != nil {
			return resources.Result{}, err
		}
	}
	return resources.Result{Attributes: ch.After}, nil
}

// PlanDelete drops the managed instance's certificate when milink created
// it. Azure's roots stay: other links, and anything else that talks to
// Azure SQL, trust them too.
func (partnerCertImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	ch := planCertificateDelete(prior, target, "an endpoint")
	if len(ch.Steps) > 0 {
		ch.Reason = "milink created it; the managed instance's certificate is dropped, Azure's roots stay (other links trust them too)"
	}
	return ch
}
