package azure

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// KindTrustCertificate is SQL Server's endpoint certificate trusted by the
// managed instance: its public part uploaded as a serverTrustCertificate,
// so that the managed instance accepts SQL Server's mirroring endpoint.
const KindTrustCertificate = "mi_trust_certificate"

// TrustConfig is an `mi_trust_certificate "name"` block.
type TrustConfig struct {
	Address string
	// Certificate is the certificate's name on SQL Server; "" is the
	// endpoint certificate's default name (Cert_<server>_endpoint).
	Certificate string
	// Name is its name on Azure; "" is Certificate's.
	Name      string
	DeclRange hcl.Range
}

var trustCertKind = &resources.Kind{
	Type: KindTrustCertificate,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "managed_instance", Required: true}, {Name: "sql_server", Required: true},
		{Name: "certificate"}, {Name: "name"},
	}},
	Decode:       decodeTrust,
	TargetAttr:   "managed_instance",
	TargetType:   KindManagedInstance,
	OtherTargets: []resources.TargetRef{{Attr: "sql_server", Type: sqlserver.KindServer}},
	Identity: func(cfg any) string {
		if c, ok := cfg.(*TrustConfig); ok {
			return c.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Phase:   resources.PhaseAfterRestart,
	Impl:    trustImpl{},
}

// certNameChars: what a certificate name may hold here; the name goes in
// a URL path segment and in N'…' (quoted all the same).
func validCertName(s string) bool {
	return s != "" && len([]rune(s)) <= 128 && !strings.ContainsAny(s, `/\?#%`)
}

func decodeTrust(b *lang.Body, blk resources.BlockInfo) any {
	c := &TrustConfig{Address: blk.Address, DeclRange: b.Range}
	c.Certificate = b.Str("certificate", "", false)
	c.Name = b.Str("name", "", false)
	for _, n := range []string{"certificate", "name"} {
		v := c.Certificate
		if n == "name" {
			v = c.Name
		}
		if a := b.Attr(n); a != nil && !b.Unknown(n) && !validCertName(v) {
			b.Errorf(a, "Invalid certificate name", "%s: a certificate name has 1 to 128 characters and none of / \\ ? # %%.", n)
		}
	}
	return c
}

// EndpointCertName is the endpoint certificate's default name on a
// server: Cert_<@@SERVERNAME>_endpoint, a named instance's backslash
// replaced by an underscore (a certificate name may hold none). It must
// agree with package link's default (the endpoint_certificate kind).
func EndpointCertName(serverName string) string {
	return "Cert_" + strings.ReplaceAll(serverName, `\`, "_") + "_endpoint"
}

// sqlQuerier is what the kind needs of the SQL Server target
// (*sqlserver.Instance).
type sqlQuerier interface {
	Query(ctx context.Context, batch string) ([][]any, error)
}

// CertEncodedSQL reads a certificate's public part (DER) on SQL Server;
// NULL when there is no such certificate.
func CertEncodedSQL(name string) string {
	return "SELECT CERTENCODED(CERT_ID(" + sqlserver.QuoteString(name) + "))"
}

// ReadCertificate reads a certificate's DER on SQL Server: nil when absent.
func ReadCertificate(ctx context.Context, q sqlQuerier, name string) ([]byte, error) {
	rows, err := q.Query(ctx, CertEncodedSQL(name))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return nil, nil
	}
	der, ok := rows[0][0].([]byte)
	if !ok || len(der) == 0 {
		return nil, nil
	}
	return append([]byte(nil), der...), nil
}

type trustImpl struct{}

// trustRead is what Read found.
type trustRead struct {
	certificate, name string
	sqlDER            []byte            // nil: not on SQL Server (yet)
	azure             *TrustCertificate // nil: not on the managed instance
}

func trustDiag(c *TrustConfig, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: c.Address + ": " + detail, Subject: c.DeclRange.Ptr()}}
}

// names are the block's names, defaults filled in from the SQL Server's
// observed server name.
func (c *TrustConfig) names(sqlObs resources.Observation) (certificate, name string) {
	certificate, name = c.Certificate, c.Name
	if certificate == "" && sqlObs != nil {
		if v, ok := sqlObs.Values()["server_name"]; ok && v.Type() == cty.String && v.IsKnown() && !v.IsNull() && v.AsString() != "" {
			certificate = EndpointCertName(v.AsString())
		}
	}
	if name == "" {
		name = certificate
	}
	return certificate, name
}

// Read reads the certificate on SQL Server (CERTENCODED) and on the
// managed instance (the serverTrustCertificates GET).
func (trustImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*TrustConfig)
	m, ok := req.Target.(*ManagedInstance)
	if !ok {
		return nil, trustDiag(c, "Not a managed instance", req.Target.Address()+" is not a managed_instance")
	}
	other := req.Others["sql_server"]
	q, ok := other.Target.(sqlQuerier)
	if !ok || other.Target == nil {
		return nil, trustDiag(c, "Cannot read SQL Server", "the sql_server target cannot run queries")
	}
	certificate, name := c.names(other.Observed)
	if certificate == "" {
		return nil, trustDiag(c, "Certificate name unknown", "the SQL Server's name is not known, so the default certificate name cannot be made; set certificate")
	}
	r := trustRead{certificate: certificate, name: name}
	var err error
	if r.sqlDER, err = ReadCertificate(ctx, q, certificate); err != nil {
		return nil, trustDiag(c, "Cannot read the certificate on SQL Server", err.Error())
	}
	if r.azure, err = m.TrustCertificate(ctx, name); err != nil {
		return nil, trustDiag(c, "Cannot read the server trust certificate", err.Error())
	}
	return r, nil
}

func trustAttrs(r trustRead, sqlAddr string, thumb []byte) map[string]any {
	a := map[string]any{"name": r.name, "certificate": r.certificate, "sql_server": sqlAddr}
	if thumb != nil {
		a["thumbprint"] = HexBlob(thumb)
	}
	return a
}

// Diff compares thumbprints, never names alone: a certificate recreated
// on SQL Server under the same name is a new one the managed instance
// must trust.
func (trustImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*TrustConfig)
	r, ok := req.Read.(trustRead)
	if !ok {
		return resources.Change{}, trustDiag(c, "Not read", "the certificate was not read")
	}
	sqlAddr := req.Others["sql_server"].Target.Address()
	mi := req.Target.(*ManagedInstance)
	read := resources.Step{Kind: "tsql", On: sqlAddr, Text: CertEncodedSQL(r.certificate)}
	put := func(der []byte) resources.Step {
		body := any(map[string]any{"properties": map[string]any{"publicBlob": "(CERTENCODED of " + r.certificate + ", known after apply)"}})
		if der != nil {
			body = TrustCertificateBody(der)
		}
		return resources.Step{Kind: "api", On: req.Target.Address(), Text: LinkStep(mi.c.ID(), "PUT", "serverTrustCertificates/"+r.name, body)}
	}
	created := req.Prior != nil && req.Prior.Attributes["created"] == true
	ch := resources.Change{Action: resources.NoOp}
	var sqlThumb []byte
	if r.sqlDER != nil {
		sqlThumb = Thumbprint(r.sqlDER)
	}
	if r.azure != nil {
		ch.Before = trustAttrs(r, sqlAddr, r.azure.Thumbprint)
	}
	ch.After = trustAttrs(r, sqlAddr, sqlThumb)
	switch {
	case r.sqlDER == nil:
		// Made earlier in this apply (endpoint_certificate), read then.
		ch.Action, ch.Unknown = resources.Create, []string{"thumbprint"}
		if r.azure != nil {
			ch.Action = resources.Update
		}
		ch.Reason = fmt.Sprintf("certificate %s is not on %s yet: its public part is read and uploaded once it exists", r.certificate, sqlAddr)
		ch.Steps = []resources.Step{read, put(nil)}
	case r.azure == nil:
		ch.Action = resources.Create
		ch.Reason = fmt.Sprintf("%s does not trust %s's certificate %s (%s)", req.Target.Address(), sqlAddr, r.certificate, HexBlob(sqlThumb))
		ch.Steps = []resources.Step{read, put(r.sqlDER)}
	case !bytes.Equal(r.azure.Thumbprint, sqlThumb):
		ch.Action = resources.Update
		ch.Reason = fmt.Sprintf("the trusted certificate %s has thumbprint %s, %s's %s has %s: replaced", r.name, HexBlob(r.azure.Thumbprint), sqlAddr, r.certificate, HexBlob(sqlThumb))
		ch.Steps = []resources.Step{read,
			{Kind: "api", On: req.Target.Address(), Text: LinkStep(mi.c.ID(), "DELETE", "serverTrustCertificates/"+r.name, nil)},
			put(r.sqlDER)}
	}
	if ch.Action != resources.NoOp || created {
		ch.After["created"] = created || ch.Action == resources.Create
	}
	return ch, nil
}

// Apply reads the certificate on SQL Server now (a saved plan may be
// old), and uploads it unless the managed instance already trusts that
// very certificate: safe to run again.
func (trustImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	m, ok := req.Target.(*ManagedInstance)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: its target is not a managed instance", ch.Address)
	}
	progress := req.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if ch.Action == resources.Delete {
		name, _ := ch.Before["name"].(string)
		if ch.Before["created"] != true || name == "" {
			progress("not created by milink: left on " + m.c.Address)
			return resources.Result{}, nil
		}
		if err := m.DeleteTrustCertificate(ctx, name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
		return resources.Result{}, nil
	}
	name, _ := ch.After["name"].(string)
	certificate, _ := ch.After["certificate"].(string)
	sqlAddr, _ := ch.After["sql_server"].(string)
	q, ok := req.Others["sql_server"].(sqlQuerier)
	if !ok || name == "" || certificate == "" {
		return resources.Result{}, fmt.Errorf("%s: the plan names no certificate or SQL Server; plan again", ch.Address)
	}
	der, err := ReadCertificate(ctx, q, certificate)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: reading certificate %s on %s: %w", ch.Address, certificate, sqlAddr, err)
	}
	if der == nil {
		return resources.Result{}, fmt.Errorf("%s: %s has no certificate %s: create it first (endpoint_certificate)", ch.Address, sqlAddr, certificate)
	}
	thumb := Thumbprint(der)
	if planned, _ := ch.After["thumbprint"].(string); planned != "" && !strings.EqualFold(planned, HexBlob(thumb)) {
		return resources.Result{}, fmt.Errorf("%s: certificate %s on %s changed since the plan (thumbprint %s, planned %s); plan again", ch.Address, certificate, sqlAddr, HexBlob(thumb), planned)
	}
	attrs := map[string]any{"name": name, "certificate": certificate, "sql_server": sqlAddr, "thumbprint": HexBlob(thumb)}
	attrs["created"] = ch.After["created"] == true
	have, err := m.TrustCertificate(ctx, name)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	if have != nil && bytes.Equal(have.Thumbprint, thumb) {
		progress(m.c.Address + " already trusts " + name)
		return resources.Result{Attributes: attrs}, nil
	}
	if have != nil {
		progress("replacing " + name + " (thumbprint " + HexBlob(have.Thumbprint) + ")")
		if err := m.DeleteTrustCertificate(ctx, name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	got, err := m.PutTrustCertificate(ctx, name, der)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	if !bytes.Equal(got.Thumbprint, thumb) {
		return resources.Result{}, fmt.Errorf("%s: Azure reports thumbprint %s for %s after the upload, SQL Server's certificate has %s", ch.Address, HexBlob(got.Thumbprint), name, HexBlob(thumb))
	}
	progress(fmt.Sprintf("%s trusts %s (%s)", m.c.Address, name, HexBlob(thumb)))
	return resources.Result{Attributes: attrs}, nil
}

// PlanDelete deletes the trust only when milink uploaded it; one it found
// there stays (Forget).
func (trustImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	name, _ := prior.Attributes["name"].(string)
	if prior.Attributes["created"] != true {
		return resources.Change{Action: resources.Forget, Before: prior.Attributes,
			Reason: fmt.Sprintf("no longer in the configuration; milink did not upload %s, so it stays on %s", name, target.Address())}
	}
	id := ""
	if m, ok := target.(*ManagedInstance); ok {
		id = m.c.ID()
	}
	return resources.Change{Before: prior.Attributes,
		Steps:  []resources.Step{{Kind: "api", On: target.Address(), Text: LinkStep(id, "DELETE", "serverTrustCertificates/"+name, nil)}},
		Reason: fmt.Sprintf("no longer in the configuration; milink uploaded %s and deletes it: %s stops trusting that SQL Server certificate, and a link using it breaks", name, target.Address()),
	}
}
