package link

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// MirroringEndpoint is a mirroring_endpoint block: the instance's one
// DATABASE_MIRRORING endpoint, authenticating with the endpoint
// certificate, AES-encrypted, started.
type MirroringEndpoint struct {
	Address   string
	DeclRange hcl.Range
	// Certificate is the endpoint certificate's name; "" for the default
	// (DefaultCertificateName).
	Certificate string
	Port        int
	// PortSet: the port was written (a different port on an existing
	// endpoint is then worth a warning).
	PortSet bool
	// Adopt allows milink to change an endpoint it did not create.
	Adopt bool
}

// CertificateName is the certificate's name on the server named
// serverName.
func (c *MirroringEndpoint) CertificateName(serverName string) string {
	if c.Certificate != "" {
		return c.Certificate
	}
	return DefaultCertificateName(serverName)
}

var mirroringEndpointKind = &resources.Kind{
	Type: KindMirroringEndpoint,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: AttrSQLServer, Required: true}, {Name: "certificate"}, {Name: "port"}, {Name: "adopt_endpoint"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		c := &MirroringEndpoint{Address: blk.Address, DeclRange: b.Range}
		c.Certificate = decodeName(b, "certificate", CheckCertificateName)
		c.Port = b.Int("port", DefaultPort, 1, 65535)
		c.PortSet = b.Attr("port") != nil
		c.Adopt = b.Bool("adopt_endpoint", false)
		return c
	},
	TargetAttr: AttrSQLServer, TargetType: sqlserver.KindServer,
	// SQL Server allows one DATABASE_MIRRORING endpoint per instance.
	OnePerTarget: true,
	Removal:      resources.RemoveDelete,
	Phase:        resources.PhaseAfterRestart,
	Impl:         endpointImpl{},
}

type endpointImpl struct{}

func (endpointImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*MirroringEndpoint)
	// Its Diff needs no availability group; its delete reads them again.
	return read(ctx, req, c.DeclRange, PartCertificates|PartEndpoints)
}

// endpointProblems lists what keeps an endpoint from serving the link
// with the certificate (certID 0: the certificate does not exist yet).
func endpointProblems(e Endpoint, certID int) []string {
	var out []string
	if e.State != "STARTED" {
		out = append(out, "it is "+e.State+", not STARTED")
	}
	if !strings.Contains(e.Auth, "CERTIFICATE") {
		out = append(out, "it authenticates with "+e.Auth+", not a certificate")
	} else if certID == 0 || e.CertID != certID {
		out = append(out, "it authenticates with another certificate")
	}
	if !e.Encryption || !strings.Contains(e.Algorithm, "AES") {
		alg := e.Algorithm
		if !e.Encryption || alg == "" {
			alg = "NONE"
		}
		out = append(out, "its encryption is "+alg+", not AES")
	}
	if e.Role != "ALL" && e.Role != "" {
		out = append(out, "its role is "+e.Role+", not ALL")
	}
	return out
}

func endpointAttrs(e Endpoint, cert string, created, adopted bool) map[string]any {
	return map[string]any{
		"name":           e.Name,
		"port":           e.Port,
		"state":          e.State,
		"authentication": e.Auth,
		"encryption":     e.Algorithm,
		"certificate":    cert,
		CreatedByMilink:  created,
		"adopted":        adopted,
	}
}

func (endpointImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*MirroringEndpoint)
	cat, ok := req.Read.(*Catalogue)
	if !ok {
		return resources.Change{}, diagErr(c.DeclRange, "Not read", c.Address+": the endpoints were not read")
	}
	server, _ := serverFacts(req.Observed)
	certName := c.CertificateName(server)
	if msg := CheckCertificateName(certName); msg != "" {
		return resources.Change{}, diagErr(c.DeclRange, "Invalid certificate name", fmt.Sprintf("%s: %s (%q); name the certificate with the certificate argument.", c.Address, msg, certName))
	}
	sqlAddr := req.Target.Address()
	certID := 0
	if x, ok := cat.Certificate(certName); ok {
		certID = x.ID
	}
	e, found := cat.Endpoint()
	if !found {
		after := endpointAttrs(Endpoint{Name: DefaultEndpointName, Port: c.Port, State: "STARTED", Auth: "CERTIFICATE", Algorithm: "AES"}, certName, true, false)
		return resources.Change{
			Action: resources.Create,
			After:  after,
			Reason: "no DATABASE_MIRRORING endpoint on " + sqlAddr,
			Steps:  []resources.Step{tsql(sqlAddr, CreateEndpointSQL(DefaultEndpointName, c.Port, certName))},
		}, nil
	}
	var diags hcl.Diagnostics
	if c.PortSet && e.Port != c.Port {
		diags = append(diags, diagWarn(c.DeclRange, "Endpoint on another port",
			fmt.Sprintf("%s: endpoint %s on %s listens on port %d, not %d; milink keeps its port (replicas connect to it there). Open port %d in the firewall and NSG rules, or set port = %d.",
				c.Address, qi(e.Name), sqlAddr, e.Port, c.Port, e.Port, e.Port)))
	}
	created, adopted := priorCreated(req.Prior), false
	if req.Prior != nil {
		adopted, _ = req.Prior.Attributes["adopted"].(bool)
	}
	before := endpointAttrs(e, certName, created, adopted)
	if cx, ok := cat.CertificateByID(e.CertID); ok && e.CertID != 0 {
		before["certificate"] = cx.Name
	} else if e.CertID == 0 {
		before["certificate"] = ""
	}
	problems := endpointProblems(e, certID)
	if len(problems) == 0 {
		return resources.Change{Action: resources.NoOp, Before: before, After: before}, diags
	}
	if !c.Adopt && !created {
		keep := ""
		if cx, ok := cat.CertificateByID(e.CertID); ok && e.CertID != 0 && cx.ID != certID {
			// Its replicas authenticate with that certificate: switching
			// would cut them off.
			keep = fmt.Sprintf(" To keep its certificate instead, name it: certificate = %q here and name = %q in the endpoint_certificate block.", cx.Name, cx.Name)
		}
		return resources.Change{}, append(diags, diagErr(c.DeclRange, "Endpoint not usable by the link",
			fmt.Sprintf("%s: %s already has the DATABASE_MIRRORING endpoint %s, which the link cannot use as it is: %s. SQL Server allows one such endpoint per instance. Set adopt_endpoint = true to let milink change it to AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE %s, ENCRYPTION = REQUIRED ALGORITHM AES, STATE = STARTED (replicas using Windows authentication keep working), or change it yourself.%s",
				c.Address, sqlAddr, qi(e.Name), strings.Join(problems, "; "), qi(certName), keep))...)
	}
	after := endpointAttrs(Endpoint{Name: e.Name, Port: e.Port, State: "STARTED", Auth: "WINDOWS NEGOTIATE CERTIFICATE", Algorithm: "AES"}, certName, created, !created || adopted)
	if created {
		after["authentication"] = "CERTIFICATE"
	}
	text := AdoptEndpointSQL(e.Name, e.Port, certName)
	if created {
		text = RepairEndpointSQL(e.Name, e.Port, certName)
	}
	return resources.Change{
		Action: resources.Update,
		Before: before,
		After:  after,
		Reason: "endpoint " + e.Name + ": " + strings.Join(problems, "; "),
		Steps:  []resources.Step{tsql(sqlAddr, text)},
	}, diags
}

func (endpointImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	q, err := querier(ch.Address, req.Target)
	if err != nil {
		return resources.Result{}, err
	}
	progress := progressOf(req)
	certName, _ := ch.After["certificate"].(string)
	switch ch.Action {
	case resources.Create:
		cat, err := ReadCatalogue(ctx, q, PartCertificates|PartEndpoints)
		if err != nil {
			return resources.Result{}, stepError(ch.Address, "reading the endpoints on "+ch.Target, err)
		}
		if _, ok := cat.Certificate(certName); !ok {
			return resources.Result{}, fmt.Errorf("%s: certificate %s is not in master on %s; the endpoint authenticates with it (add an endpoint_certificate block, or name the certificate)", ch.Address, qi(certName), ch.Target)
		}
		if e, ok := cat.Endpoint(); ok {
			// Someone (or a run killed after its CREATE) made it in the
			// meantime: no second CREATE, which would fail with 7862.
			x, _ := cat.Certificate(certName)
			if p := endpointProblems(e, x.ID); len(p) > 0 {
				return resources.Result{}, fmt.Errorf("%s: %s now has the endpoint %s, which the link cannot use as it is (%s); plan again", ch.Address, ch.Target, qi(e.Name), strings.Join(p, "; "))
			}
			progress("endpoint " + e.Name + " already exists")
			return resources.Result{Attributes: endpointAttrs(e, certName, e.Name == DefaultEndpointName, false)}, nil
		}
		if err := runSteps(ctx, q, ch, "creating the endpoint"); err != nil {
			return resources.Result{}, err
		}
	case resources.Update:
		if err := runSteps(ctx, q, ch, "changing the endpoint"); err != nil {
			return resources.Result{}, err
		}
	case resources.Delete:
		return resources.Result{}, deleteEndpoint(ctx, q, ch, progress)
	default:
		return resources.Result{}, fmt.Errorf("%s: cannot %s an endpoint", ch.Address, ch.Action)
	}
	cat, err := ReadCatalogue(ctx, q, PartCertificates|PartEndpoints)
	if err != nil {
		return resources.Result{}, stepError(ch.Address, "reading the endpoints on "+ch.Target, err)
	}
	e, ok := cat.Endpoint()
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: %s lists no DATABASE_MIRRORING endpoint after the change", ch.Address, ch.Target)
	}
	x, _ := cat.Certificate(certName)
	if p := endpointProblems(e, x.ID); len(p) > 0 {
		return resources.Result{}, fmt.Errorf("%s: after the change, endpoint %s on %s still cannot serve the link: %s", ch.Address, qi(e.Name), ch.Target, strings.Join(p, "; "))
	}
	created, _ := ch.After[CreatedByMilink].(bool)
	adopted, _ := ch.After["adopted"].(bool)
	progress(fmt.Sprintf("endpoint %s on port %d: %s, %s, %s", e.Name, e.Port, e.State, e.Auth, e.Algorithm))
	return resources.Result{Attributes: endpointAttrs(e, certName, created, adopted)}, nil
}

// PlanDelete drops the endpoint only if milink created it; apply checks
// again that no availability group uses it.
func (endpointImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	name := priorString(prior, "name")
	if !priorCreated(&prior) || name == "" {
		return resources.Change{Action: resources.Forget, Reason: "milink did not create it: nothing is dropped, it only leaves milink's state"}
	}
	return resources.Change{
		Reason: "milink created it; dropped unless an availability group uses it (checked again at apply)",
		Steps:  []resources.Step{tsql(target.Address(), DropEndpointSQL(name))},
	}
}

func deleteEndpoint(ctx context.Context, q Querier, ch resources.Change, progress func(string)) error {
	if len(ch.Steps) == 0 {
		return nil
	}
	name, _ := ch.Before["name"].(string)
	cat, err := ReadCatalogue(ctx, q, PartEndpoints|PartAGs)
	if err != nil {
		return stepError(ch.Address, "reading the endpoints on "+ch.Target, err)
	}
	e, ok := cat.Endpoint()
	if !ok || !strings.EqualFold(e.Name, name) {
		progress("endpoint " + name + " is already gone")
		return nil
	}
	if len(cat.AGs) > 0 {
		var names []string
		for _, g := range cat.AGs {
			names = append(names, qi(g.Name))
		}
		return fmt.Errorf("%s: not dropping endpoint %s on %s: availability groups replicate through it (%s); drop them first (or keep the block)", ch.Address, qi(name), ch.Target, strings.Join(names, ", "))
	}
	if err := runSteps(ctx, q, ch, "dropping endpoint "+qi(name)); err != nil && ErrorNumber(err) != 15151 {
		return err
	}
	progress("dropped endpoint " + name)
	return nil
}
