package link

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
)

func mustPlan(t *testing.T, c *cycle) resources.Change {
	t.Helper()
	ch, diags := c.plan()
	if diags.HasErrors() {
		t.Fatalf("plan: %v", diags)
	}
	return ch
}

func mustApply(t *testing.T, c *cycle, ch resources.Change) resources.Result {
	t.Helper()
	res, err := c.apply(ch)
	if err != nil {
		t.Fatalf("apply %s: %v", ch.Action, err)
	}
	return res
}

func stepTexts(ch resources.Change) string {
	var out []string
	for _, s := range ch.Steps {
		out = append(out, s.Text)
	}
	return strings.Join(out, "\n")
}

func wantDiag(t *testing.T, diags hcl.Diagnostics, sev hcl.DiagnosticSeverity, parts ...string) {
	t.Helper()
	for _, d := range diags {
		if d.Severity != sev {
			continue
		}
		text := d.Summary + ": " + d.Detail
		ok := d.Subject != nil
		for _, p := range parts {
			ok = ok && strings.Contains(text, p)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no diagnostic with %q in %v", parts, diags)
}

func certCycle(t *testing.T, sql *sqlFake, cfg *EndpointCertificate) *cycle {
	if cfg.RenewBefore == 0 {
		cfg.RenewBefore = ExpiryWarning
	}
	cfg.Address, cfg.DeclRange, cfg.NameRange = "endpoint_certificate.sql01", rng(3), rng(4)
	return &cycle{t: t, kind: endpointCertificateKind, cfg: cfg, addr: cfg.Address, sql: sql}
}

func TestEndpointCertificateLifecycle(t *testing.T) {
	sql := newSQLFake()
	c := certCycle(t, sql, &EndpointCertificate{})
	ch := mustPlan(t, c)
	if ch.Action != resources.Create || ch.After["name"] != "Cert_sql01_endpoint" || !ch.IsUnknown("thumbprint") || ch.After[CreatedByMilink] != true {
		t.Fatalf("plan: %+v", ch)
	}
	exp := clock().UTC().AddDate(1, 0, 0).Format("20060102")
	if want := "USE [master];\nCREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '" + exp + "';"; stepTexts(ch) != want {
		t.Errorf("steps:\n%s\nwant\n%s", stepTexts(ch), want)
	}
	res := mustApply(t, c, ch)
	x, _ := sql.cat.Certificate("Cert_sql01_endpoint")
	if res.Attributes["thumbprint"] != azure.HexBlob(x.Thumbprint) || res.Attributes[CreatedByMilink] != true {
		t.Errorf("result %v", res.Attributes)
	}
	again := mustPlan(t, c)
	if again.Action != resources.NoOp || again.Before[CreatedByMilink] != true || again.After["thumbprint"] != azure.HexBlob(x.Thumbprint) {
		t.Errorf("second plan: %+v", again)
	}

	// Removed from the configuration: dropped, since milink made it and
	// no endpoint uses it.
	del := c.planDelete()
	if stepTexts(del) != "USE [master];\nDROP CERTIFICATE [Cert_sql01_endpoint];" {
		t.Fatalf("delete: %+v", del)
	}
	// ... but not while an endpoint uses it.
	sql.cat.Endpoints = []Endpoint{{Name: "ep", CertID: x.ID, Auth: "CERTIFICATE"}}
	if _, err := c.apply(del); err == nil || !strings.Contains(err.Error(), "endpoint [ep] authenticates with it") {
		t.Fatalf("drop while in use: %v", err)
	}
	sql.cat.Endpoints = nil
	if _, err := c.apply(del); err != nil {
		t.Fatal(err)
	}
	if _, ok := sql.cat.Certificate("Cert_sql01_endpoint"); ok {
		t.Error("not dropped")
	}
	if _, err := c.apply(del); err != nil {
		t.Errorf("dropping again: %v", err)
	}
}

// A run killed right after the CREATE reached the server: the next apply
// of the same change finds the certificate and sends nothing.
func TestEndpointCertificateCrashAfterCreate(t *testing.T) {
	sql := newSQLFake()
	c := certCycle(t, sql, &EndpointCertificate{})
	ch := mustPlan(t, c)
	sql.crashAfter = true
	if _, err := c.apply(ch); !errors.Is(err, errLost) {
		t.Fatalf("first apply: %v", err)
	}
	res := mustApply(t, c, ch)
	if len(sql.execs) != 1 || res.Attributes[CreatedByMilink] != true {
		t.Errorf("execs %q, result %v", sql.execs, res.Attributes)
	}
}

func TestEndpointCertificateDiff(t *testing.T) {
	soon := clock().Add(10 * 24 * time.Hour)
	tests := []struct {
		name    string
		server  string
		cfg     EndpointCertificate
		certs   []Certificate
		action  resources.Action
		certArg string
		err     []string
		warn    []string
	}{
		{name: "named instance", server: `SQL01\PAYROLL`, action: resources.Create, certArg: "Cert_SQL01_PAYROLL_endpoint"},
		{name: "given name", cfg: EndpointCertificate{Name: "LinkCert"}, action: resources.Create, certArg: "LinkCert"},
		{name: "exists", certs: []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, Thumbprint: []byte{1}, Expiry: clock().AddDate(1, 0, 0), KeyEncryption: "MK"}}, action: resources.NoOp},
		{name: "password-protected key", certs: []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, KeyEncryption: "PW"}},
			err: []string{"encrypted by a password", "master key"}},
		{name: "no private key", certs: []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, KeyEncryption: "NA"}},
			err: []string{"no private key"}},
		{name: "expires soon", certs: []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, Thumbprint: []byte{1}, Expiry: soon, KeyEncryption: "MK"}},
			action: resources.NoOp, warn: []string{"expires in 9 days", "Rotate it"}},
		{name: "expired", certs: []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, Thumbprint: []byte{1}, Expiry: clock().AddDate(0, 0, -3), KeyEncryption: "MK"}},
			action: resources.NoOp, warn: []string{"expired 3 days ago"}},
		{name: "short expiry asked", cfg: EndpointCertificate{Expiry: soon}, action: resources.Create, warn: []string{"the new certificate"}},
		{name: "renew_before wider", cfg: EndpointCertificate{RenewBefore: 400 * 24 * time.Hour},
			certs:  []Certificate{{Name: "Cert_sql01_endpoint", ID: 300, Thumbprint: []byte{1}, Expiry: clock().AddDate(1, 0, 0), KeyEncryption: "MK"}},
			action: resources.NoOp, warn: []string{"expires in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := newSQLFake()
			sql.cat.Certificates = tt.certs
			cfg := tt.cfg
			c := certCycle(t, sql, &cfg)
			req := c.diffReq()
			if tt.server != "" {
				req.Observed = fakeObs{tt.server, "15.0.4322.2"}
			}
			r, _ := c.kind.Impl.(resources.Reader).Read(t.Context(), req)
			req.Read = r
			ch, diags := c.kind.Impl.(resources.Resource).Diff(req)
			if tt.err != nil {
				wantDiag(t, diags, hcl.DiagError, tt.err...)
				return
			}
			if diags.HasErrors() || ch.Action != tt.action {
				t.Fatalf("%s %v", ch.Action, diags)
			}
			if tt.certArg != "" && (ch.After["name"] != tt.certArg || !strings.Contains(stepTexts(ch), "["+tt.certArg+"]") || strings.Contains(stepTexts(ch), `\P`+"AYROLL_endpoint")) {
				t.Errorf("name %v, steps %s", ch.After["name"], stepTexts(ch))
			}
			if tt.warn != nil {
				wantDiag(t, diags, hcl.DiagWarning, tt.warn...)
			} else if len(diags) > 0 {
				t.Errorf("unexpected %v", diags)
			}
		})
	}
}

// Removing a block milink did not create drops nothing.
func TestDeleteOnlyWhatMilinkCreated(t *testing.T) {
	sql := newSQLFake()
	for _, k := range Kinds() {
		if k == LinkKind {
			continue // on the managed instance; its drop is link_*_test.go's
		}
		ch := k.Impl.(resources.Deleter).PlanDelete(resources.Prior{Attributes: map[string]any{"name": "x", CreatedByMilink: false}}, sql)
		if len(ch.Steps) != 0 || !strings.Contains(ch.Reason, "did not create") {
			t.Errorf("%s: %+v", k.Type, ch)
		}
		ch.Action, ch.Before, ch.Address, ch.Target = resources.Delete, map[string]any{"name": "x"}, k.Type+".x", sql.addr
		if _, err := k.Impl.(resources.Resource).Apply(t.Context(), resources.ApplyRequest{Change: ch, Target: sql}); err != nil {
			t.Errorf("%s: %v", k.Type, err)
		}
	}
	if len(sql.execs) != 0 {
		t.Errorf("sent %q", sql.execs)
	}
}

func partnerCycle(t *testing.T, sql *sqlFake, mi *miFake) *cycle {
	cfg := &PartnerCertificate{Address: "partner_certificate.mi01", DeclRange: rng(10)}
	return &cycle{t: t, kind: partnerCertificateKind, cfg: cfg, addr: cfg.Address, sql: sql, mi: mi}
}

func TestPartnerCertificateLifecycle(t *testing.T) {
	sql, mi := newSQLFake(), newMIFake(t)
	c := partnerCycle(t, sql, mi)
	ch := mustPlan(t, c)
	if ch.Action != resources.Create || len(ch.Steps) != 3 || ch.After["name"] != mi.fqdn || ch.After["thumbprint"] != azure.HexBlob(azure.Thumbprint(mi.der)) {
		t.Fatalf("plan: %+v", ch)
	}
	if ch.Steps[0].Text != CreateCertificateFromBinarySQL(mi.fqdn, mi.der) || ch.Steps[1].Text != CreateRootSQL(Roots()[0]) || ch.Steps[2].Text != CreateRootSQL(Roots()[1]) {
		t.Errorf("steps:\n%s", stepTexts(ch))
	}
	// Killed after the first batch: the next apply creates only the roots.
	sql.crashAfter = true
	if _, err := c.apply(ch); !errors.Is(err, errLost) {
		t.Fatalf("first apply: %v", err)
	}
	mustApply(t, c, ch)
	if len(sql.execs) != 3 {
		t.Errorf("%d batches sent", len(sql.execs))
	}
	for _, n := range []string{mi.fqdn, "MicrosoftPKI", "DigiCertPKI"} {
		if _, ok := sql.cat.Certificate(n); !ok {
			t.Errorf("no %s", n)
		}
	}
	again := mustPlan(t, c)
	if again.Action != resources.NoOp || again.Before[CreatedByMilink] != true {
		t.Errorf("second plan %+v", again)
	}

	// Azure renewed the managed instance's certificate: replaced, by
	// thumbprint, though the name is the same.
	mi.der = selfSigned(t, mi.fqdn, time.Now().AddDate(2, 0, 0))
	upd := mustPlan(t, c)
	if upd.Action != resources.Update || len(upd.Steps) != 1 || upd.Steps[0].Text != ReplaceCertificateFromBinarySQL(mi.fqdn, mi.der) {
		t.Fatalf("after renewal: %+v", upd)
	}
	mustApply(t, c, upd)
	if x, _ := sql.cat.Certificate(mi.fqdn); azure.HexBlob(x.Thumbprint) != azure.HexBlob(azure.Thumbprint(mi.der)) {
		t.Error("not replaced")
	}

	// The plan is stale when the certificate changes again before apply.
	mi.der = selfSigned(t, mi.fqdn, time.Now().AddDate(3, 0, 0))
	stale := mustPlan(t, c)
	mi.der = selfSigned(t, mi.fqdn, time.Now().AddDate(4, 0, 0))
	if _, err := c.apply(stale); stale.Action != resources.Update || err == nil || !strings.Contains(err.Error(), "plan again") {
		t.Errorf("stale plan (%s) applied: %v", stale.Action, err)
	}

	// Removed: the managed instance's certificate goes, the roots stay.
	del := c.planDelete()
	if stepTexts(del) != DropCertificateSQL(mi.fqdn) || !strings.Contains(del.Reason, "roots stay") {
		t.Errorf("delete %+v", del)
	}
}

func TestPartnerCertificateDiff(t *testing.T) {
	mi := newMIFake(t)
	roots := Roots()
	rootCerts := []Certificate{{Name: "MicrosoftPKI", ID: 1, Thumbprint: azure.Thumbprint(roots[0].DER)}, {Name: "DigiCertPKI", ID: 2, Thumbprint: azure.Thumbprint(roots[1].DER)}}
	tests := []struct {
		name    string
		certs   []Certificate
		created bool
		der     []byte
		action  resources.Action
		steps   int
		err     []string
		warn    []string
		notable bool
	}{
		{name: "roots there", certs: rootCerts, action: resources.Update, steps: 1},
		{name: "partner there", certs: []Certificate{{Name: mi.fqdn, ID: 5, Thumbprint: azure.Thumbprint(mi.der)}}, action: resources.Update, steps: 2},
		{name: "all there", certs: append([]Certificate{{Name: mi.fqdn, ID: 5, Thumbprint: azure.Thumbprint(mi.der)}}, rootCerts...), action: resources.NoOp},
		{name: "stale, not ours", certs: []Certificate{{Name: mi.fqdn, ID: 5, Thumbprint: []byte{9}}}, err: []string{"not the managed instance's current endpoint certificate", "DROP CERTIFICATE"}},
		{name: "stale, ours", certs: []Certificate{{Name: mi.fqdn, ID: 5, Thumbprint: []byte{9}}}, created: true, action: resources.Update, steps: 3},
		{name: "under another name", certs: []Certificate{{Name: "mi01cert", ID: 5, Thumbprint: azure.Thumbprint(mi.der)}}, err: []string{"[mi01cert]", "exactly equal to the managed instance's FQDN"}},
		{name: "fake root", certs: []Certificate{{Name: "MicrosoftPKI", ID: 1, Thumbprint: []byte{7}}}, err: []string{"not Azure's root"}},
		{name: "root under another name", certs: append([]Certificate{{Name: mi.fqdn, ID: 5, Thumbprint: azure.Thumbprint(mi.der)}, {Name: "MSRoot", ID: 8, Thumbprint: azure.Thumbprint(roots[0].DER)}}, rootCerts[1]),
			action: resources.NoOp, notable: true},
		{name: "expiring", der: selfSigned(t, mi.fqdn, time.Now().Add(5*24*time.Hour)), action: resources.Create, steps: 3, warn: []string{"expires in 4 days"}},
		{name: "not DER", der: []byte("junk"), err: []string{"not a DER certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := newSQLFake()
			sql.cat.Certificates = tt.certs
			m := *mi
			if tt.der != nil {
				m.der = tt.der
			}
			c := partnerCycle(t, sql, &m)
			if tt.created {
				c.prior = &resources.Prior{Attributes: map[string]any{CreatedByMilink: true}}
			}
			ch, diags := c.plan()
			if tt.err != nil {
				wantDiag(t, diags, hcl.DiagError, tt.err...)
				return
			}
			if diags.HasErrors() || ch.Action != tt.action || len(ch.Steps) != tt.steps || ch.Notable != tt.notable {
				t.Fatalf("%s, %d steps, notable %v: %v\n%s", ch.Action, len(ch.Steps), ch.Notable, diags, stepTexts(ch))
			}
			if tt.warn != nil {
				wantDiag(t, diags, hcl.DiagWarning, tt.warn...)
			}
		})
	}
}

func endpointCycle(t *testing.T, sql *sqlFake, cfg *MirroringEndpoint) *cycle {
	cfg.Address, cfg.DeclRange = "mirroring_endpoint.sql01", rng(20)
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	return &cycle{t: t, kind: mirroringEndpointKind, cfg: cfg, addr: cfg.Address, sql: sql}
}

func withCert(sql *sqlFake) Certificate {
	x := Certificate{Name: "Cert_sql01_endpoint", ID: 300, Thumbprint: []byte{1, 2}, KeyEncryption: "MK", Expiry: clock().AddDate(1, 0, 0)}
	sql.cat.Certificates = append(sql.cat.Certificates, x)
	return x
}

func TestMirroringEndpointCreate(t *testing.T) {
	sql := newSQLFake()
	c := endpointCycle(t, sql, &MirroringEndpoint{Port: 5023})
	ch := mustPlan(t, c)
	if ch.Action != resources.Create || stepTexts(ch) != CreateEndpointSQL(DefaultEndpointName, 5023, "Cert_sql01_endpoint") {
		t.Fatalf("plan %+v", ch)
	}
	// The certificate comes from its own block, created before.
	if _, err := c.apply(ch); err == nil || !strings.Contains(err.Error(), "not in master") {
		t.Fatalf("without the certificate: %v", err)
	}
	withCert(sql)
	sql.crashAfter = true
	if _, err := c.apply(ch); !errors.Is(err, errLost) {
		t.Fatal(err)
	}
	// No second CREATE ENDPOINT (7862).
	res := mustApply(t, c, ch)
	if len(sql.execs) != 1 || res.Attributes["port"] != 5023 {
		t.Errorf("execs %d, %v", len(sql.execs), res.Attributes)
	}
	c.prior = &resources.Prior{Attributes: map[string]any{CreatedByMilink: true, "name": DefaultEndpointName}}
	if again := mustPlan(t, c); again.Action != resources.NoOp {
		t.Errorf("second plan %+v", again)
	}
	// Removed while an availability group replicates through it: refused.
	del := c.planDelete()
	sql.cat.AGs = []AG{{Name: "AG_payroll", GroupID: "G1"}}
	if _, err := c.apply(del); err == nil || !strings.Contains(err.Error(), "[AG_payroll]") {
		t.Errorf("drop in use: %v", err)
	}
	sql.cat.AGs = nil
	mustApply(t, c, del)
	if len(sql.cat.Endpoints) != 0 {
		t.Error("not dropped")
	}
}

func TestMirroringEndpointAdopt(t *testing.T) {
	existing := Endpoint{Name: "Hadr_endpoint", ID: 65536, State: "STARTED", Role: "ALL", Auth: "NEGOTIATE", Encryption: true, Algorithm: "RC4", Port: 5022}
	sql := newSQLFake()
	withCert(sql)
	sql.cat.Endpoints = []Endpoint{existing}
	c := endpointCycle(t, sql, &MirroringEndpoint{})
	_, diags := c.plan()
	wantDiag(t, diags, hcl.DiagError, "[Hadr_endpoint]", "adopt_endpoint = true", "authenticates with NEGOTIATE", "RC4")

	c = endpointCycle(t, sql, &MirroringEndpoint{Adopt: true})
	ch := mustPlan(t, c)
	if ch.Action != resources.Update || stepTexts(ch) != AdoptEndpointSQL("Hadr_endpoint", 5022, "Cert_sql01_endpoint") {
		t.Fatalf("plan %+v", ch)
	}
	res := mustApply(t, c, ch)
	if res.Attributes[CreatedByMilink] != false || res.Attributes["adopted"] != true || res.Attributes["authentication"] != "WINDOWS NEGOTIATE CERTIFICATE" {
		t.Errorf("result %v", res.Attributes)
	}
	if again := mustPlan(t, c); again.Action != resources.NoOp {
		t.Errorf("second plan %+v", again)
	}
	// An adopted endpoint is not milink's to drop.
	if del := c.planDelete(); len(del.Steps) != 0 {
		t.Errorf("delete %+v", del)
	}
}

func TestMirroringEndpointDiff(t *testing.T) {
	tests := []struct {
		name   string
		ep     Endpoint
		cfg    MirroringEndpoint
		action resources.Action
		err    []string
		warn   []string
	}{
		{name: "fits", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: 300, Encryption: true, Algorithm: "AES", Port: 5022}, action: resources.NoOp},
		{name: "windows and certificate", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "WINDOWS NEGOTIATE CERTIFICATE", CertID: 300, Encryption: true, Algorithm: "AES", Port: 5022}, action: resources.NoOp},
		{name: "stopped", ep: Endpoint{Name: "e", State: "STOPPED", Role: "ALL", Auth: "CERTIFICATE", CertID: 300, Encryption: true, Algorithm: "AES", Port: 5022}, err: []string{"STOPPED", "adopt_endpoint"}},
		{name: "other certificate", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: 999, Encryption: true, Algorithm: "AES", Port: 5022}, err: []string{"another certificate"}},
		{name: "other known certificate", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: 301, Encryption: true, Algorithm: "AES", Port: 5022},
			err: []string{"another certificate", `certificate = "HadrCert"`}},
		{name: "no encryption", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: 300, Port: 5022}, cfg: MirroringEndpoint{Adopt: true}, action: resources.Update},
		{name: "other port", ep: Endpoint{Name: "e", State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: 300, Encryption: true, Algorithm: "AES", Port: 7022},
			cfg: MirroringEndpoint{Port: 5022, PortSet: true}, action: resources.NoOp, warn: []string{"listens on port 7022"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := newSQLFake()
			withCert(sql)
			sql.cat.Certificates = append(sql.cat.Certificates, Certificate{Name: "HadrCert", ID: 301, KeyEncryption: "MK"})
			sql.cat.Endpoints = []Endpoint{tt.ep}
			cfg := tt.cfg
			ch, diags := endpointCycle(t, sql, &cfg).plan()
			if tt.err != nil {
				wantDiag(t, diags, hcl.DiagError, tt.err...)
				return
			}
			if diags.HasErrors() || ch.Action != tt.action {
				t.Fatalf("%s %v", ch.Action, diags)
			}
			if tt.warn != nil {
				wantDiag(t, diags, hcl.DiagWarning, tt.warn...)
			}
		})
	}
}

func agCycle(t *testing.T, sql *sqlFake, cfg *AvailabilityGroup) *cycle {
	cfg.Address, cfg.DeclRange = "availability_group.payroll", rng(30)
	if cfg.Name == "" {
		cfg.Name = "AG_payroll"
	}
	return &cycle{t: t, kind: availabilityGroupKind, cfg: cfg, addr: cfg.Address, sql: sql}
}

func TestAvailabilityGroupLifecycle(t *testing.T) {
	sql := newSQLFake()
	sql.cat.Endpoints = []Endpoint{{Name: DefaultEndpointName, Port: 5023}}
	c := agCycle(t, sql, &AvailabilityGroup{Databases: []string{"payroll"}})
	ch := mustPlan(t, c)
	if ch.Action != resources.Create || stepTexts(ch) != CreateAGSQL("AG_payroll", []string{"payroll"}, "sql01", "TCP://127.0.0.2:5023", "NONE") {
		t.Fatalf("plan %+v\n%s", ch, stepTexts(ch))
	}
	sql.crashAfter = true
	if _, err := c.apply(ch); !errors.Is(err, errLost) {
		t.Fatal(err)
	}
	mustApply(t, c, ch) // no 35217
	if len(sql.execs) != 1 {
		t.Errorf("%d batches", len(sql.execs))
	}
	if again := mustPlan(t, c); again.Action != resources.NoOp {
		t.Fatalf("second plan %+v", again)
	}

	// A database added is a new group: dropped and created again.
	c.cfg.(*AvailabilityGroup).Databases = []string{"payroll", "hr"}
	repl := mustPlan(t, c)
	if repl.Action != resources.Update || len(repl.Steps) != 2 || repl.Steps[0].Text != DropAGSQL("AG_payroll") || !strings.Contains(repl.Reason, "replace") {
		t.Fatalf("replace %+v", repl)
	}
	// Killed between the DROP and the CREATE: the next apply only creates.
	sql.failWith = nil
	if err := sql.Exec(t.Context(), repl.Steps[0].Text); err != nil {
		t.Fatal(err)
	}
	mustApply(t, c, repl)
	g, _ := sql.cat.AG("AG_payroll")
	if !sameNames(sql.cat.DatabasesOf(g.GroupID), []string{"hr", "payroll"}) {
		t.Errorf("databases %v", sql.cat.DatabasesOf(g.GroupID))
	}

	// Used by a distributed group: neither replaced nor dropped.
	sql.cat.AGs = append(sql.cat.AGs, AG{Name: "payroll", GroupID: "D1", Distributed: true})
	sql.cat.Replicas = append(sql.cat.Replicas, Replica{GroupID: "D1", ServerName: "AG_payroll"}, Replica{GroupID: "D1", ServerName: "AG_payroll_MI"})
	c.cfg.(*AvailabilityGroup).Databases = []string{"payroll"}
	_, diags := c.plan()
	wantDiag(t, diags, hcl.DiagError, "distributed availability group [payroll] uses it")
	if _, err := c.apply(c.planDelete()); err == nil || !strings.Contains(err.Error(), "[payroll] uses it") {
		t.Errorf("drop in use: %v", err)
	}
}

func TestAvailabilityGroupDiff(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		cfg      AvailabilityGroup
		existing bool
		created  bool
		want     string
		err      []string
		notable  bool
	}{
		{name: "2016", version: "13.0.7000.253", cfg: AvailabilityGroup{Databases: []string{"payroll"}},
			want: CreateAGSQL("AG_payroll", []string{"payroll"}, "sql01", "TCP://127.0.0.2:5022", "")},
		{name: "2016 cluster type", version: "13.0.7000.253", cfg: AvailabilityGroup{ClusterType: "NONE", hasCluster: true}, err: []string{"SQL Server 2016 has no CLUSTER_TYPE"}},
		{name: "external", cfg: AvailabilityGroup{Databases: []string{"payroll"}, ClusterType: "EXTERNAL", EndpointURL: "TCP://sql01.contoso.com:5022"},
			want: CreateAGSQL("AG_payroll", []string{"payroll"}, "sql01", "TCP://sql01.contoso.com:5022", "EXTERNAL")},
		{name: "managed instance primary", want: CreateAGSQL("AG_payroll", nil, "sql01", "TCP://127.0.0.2:5022", "NONE")},
		{name: "other databases, not ours", cfg: AvailabilityGroup{Databases: []string{"hr"}}, existing: true, err: []string{"milink did not create it"}},
		{name: "other databases, ours", cfg: AvailabilityGroup{Databases: []string{"hr"}}, existing: true, created: true,
			want: DropAGSQL("AG_payroll") + "\n" + CreateAGSQL("AG_payroll", []string{"hr"}, "sql01", "TCP://127.0.0.2:5022", "NONE")},
		{name: "same, case aside", cfg: AvailabilityGroup{Databases: []string{"PAYROLL"}}, existing: true},
		{name: "other URL", cfg: AvailabilityGroup{Databases: []string{"payroll"}, EndpointURL: "TCP://10.1.1.1:5022"}, existing: true, notable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := newSQLFake()
			if tt.existing {
				sql.cat.AGs = []AG{{Name: "AG_payroll", GroupID: "G1", ClusterType: "NONE"}}
				sql.cat.Replicas = []Replica{{GroupID: "G1", ServerName: "sql01", EndpointURL: "TCP://127.0.0.2:5022"}}
				sql.cat.AGDatabases = []AGDatabase{{GroupID: "G1", Database: "payroll"}}
			}
			cfg := tt.cfg
			c := agCycle(t, sql, &cfg)
			if tt.created {
				c.prior = &resources.Prior{Attributes: map[string]any{CreatedByMilink: true}}
			}
			req := c.diffReq()
			if tt.version != "" {
				req.Observed = fakeObs{"sql01", tt.version}
			}
			r, _ := c.kind.Impl.(resources.Reader).Read(t.Context(), req)
			req.Read = r
			ch, diags := c.kind.Impl.(resources.Resource).Diff(req)
			if tt.err != nil {
				wantDiag(t, diags, hcl.DiagError, tt.err...)
				return
			}
			if diags.HasErrors() || stepTexts(ch) != tt.want || ch.Notable != tt.notable {
				t.Fatalf("%s %v notable %v\n%s\nwant\n%s", ch.Action, diags, ch.Notable, stepTexts(ch), tt.want)
			}
		})
	}
}

func dagCycle(t *testing.T, sql *sqlFake, mi *miFake, cfg *DAG) *cycle {
	cfg.Address, cfg.DeclRange, cfg.Link = "distributed_availability_group.payroll", rng(40), "managed_instance_link.payroll"
	if cfg.Name == "" {
		cfg.Name, cfg.AvailabilityGroup, cfg.InstanceAG = "payroll", "AG_payroll", "AG_payroll_MI"
	}
	return &cycle{t: t, kind: dagKind, cfg: cfg, addr: cfg.Address, sql: sql, mi: mi}
}

func TestDAGLifecycle(t *testing.T) {
	sql, mi := newSQLFake(), newMIFake(t)
	sql.cat.Endpoints = []Endpoint{{Name: DefaultEndpointName, Port: 5022}}
	c := dagCycle(t, sql, mi, &DAG{})
	ch := mustPlan(t, c)
	want := CreateDAGSQL("payroll", "AG_payroll", "TCP://127.0.0.2:5022", "AG_payroll_MI", "tcp://"+mi.fqdn+":5022;Server=[mi01]", false)
	if ch.Action != resources.Create || stepTexts(ch) != want || ch.After["link"] != "managed_instance_link.payroll" {
		t.Fatalf("plan %+v\n%s", ch, stepTexts(ch))
	}
	sql.crashAfter = true
	if _, err := c.apply(ch); !errors.Is(err, errLost) {
		t.Fatal(err)
	}
	mustApply(t, c, ch) // no 35217
	if len(sql.execs) != 1 {
		t.Errorf("%d batches", len(sql.execs))
	}

	// Live status: shown on a no-op, never a change.
	g, _ := sql.cat.AG("payroll")
	sql.cat.States = []ReplicaState{{GroupID: g.GroupID, ReplicaID: "R1", Local: true, Role: "PRIMARY"},
		{GroupID: g.GroupID, ReplicaID: "R2", Connected: "CONNECTED", Health: "HEALTHY"}}
	sql.cat.DBStates = []DBReplicaState{
		{GroupID: g.GroupID, ReplicaID: "R1", Database: "payroll", Local: true, Sync: "SYNCHRONIZED", Health: "HEALTHY", LastHardenedLSN: "37000000012300001"},
		{GroupID: g.GroupID, ReplicaID: "R2", Database: "payroll", Sync: "SYNCHRONIZING", Health: "HEALTHY", LastHardenedLSN: "37000000012200001"}}
	sql.cat.Seeding = []Seeding{{Database: "payroll", Size: 1000, Transferred: 300}}
	st := mustPlan(t, c)
	if st.Action != resources.NoOp || !st.Notable {
		t.Fatalf("status plan %+v", st)
	}
	for _, w := range []string{"PRIMARY CONNECTED HEALTHY", "payroll SYNCHRONIZED HEALTHY", "hardened LSN 37000000012300001 / managed instance 37000000012200001", "seeding 30%"} {
		if !strings.Contains(st.Reason, w) {
			t.Errorf("reason %q lacks %q", st.Reason, w)
		}
	}
	if _, ok := st.Before["status"]; ok {
		t.Error("status in Before would show as drift")
	}
	if s, _ := st.After["status"].(map[string]any); s["connected"] != "CONNECTED" {
		t.Errorf("status %v", st.After["status"])
	}
	// A status that changed is still no change.
	sql.cat.States[1].Connected = "DISCONNECTED"
	if st2 := mustPlan(t, c); st2.Action != resources.NoOp {
		t.Errorf("status change made a change: %+v", st2)
	}

	// async → sync: ALTER ... MODIFY, both sides.
	c.cfg.(*DAG).Sync = true
	upd := mustPlan(t, c)
	if upd.Action != resources.Update || stepTexts(upd) != ModifyDAGSQL("payroll", "AG_payroll", "AG_payroll_MI", true) || upd.Before["replication"] != "async" || upd.After["replication"] != "sync" {
		t.Fatalf("update %+v", upd)
	}
	res := mustApply(t, c, upd)
	if _, ok := res.Attributes["status"]; ok {
		t.Error("status recorded")
	}
	if again := mustPlan(t, c); again.Action != resources.NoOp {
		t.Errorf("after sync: %+v", again)
	}

	// A part of a link records that link, whatever the part's name, and
	// keeps it in later plans.
	part := upd
	part.Action, part.Part = resources.Update, `managed_instance_link.links["payroll"]`
	if res := mustApply(t, c, part); res.Attributes["link"] != `managed_instance_link.links["payroll"]` {
		t.Errorf("link %v", res.Attributes["link"])
	}
	if again := mustPlan(t, c); again.After["link"] != `managed_instance_link.links["payroll"]` {
		t.Errorf("link after a plan %v", again.After["link"])
	}

	// Removed: dropped after the link's delete in Azure.
	del := c.planDelete()
	if len(del.DependsOn) != 1 || del.DependsOn[0] != `managed_instance_link.links["payroll"]` || stepTexts(del) != DropAGSQL("payroll") {
		t.Fatalf("delete %+v", del)
	}
	mustApply(t, c, del)
	if _, ok := sql.cat.AG("payroll"); ok {
		t.Error("not dropped")
	}
}

func TestDAGDiffProblems(t *testing.T) {
	sql, mi := newSQLFake(), newMIFake(t)
	sql.cat.AGs = []AG{{Name: "payroll", GroupID: "D1", Distributed: true}}
	sql.cat.Replicas = []Replica{{GroupID: "D1", ServerName: "AG_other"}, {GroupID: "D1", ServerName: "AG_payroll_MI"}}
	_, diags := dagCycle(t, sql, mi, &DAG{}).plan()
	wantDiag(t, diags, hcl.DiagError, "joins [AG_other], [AG_payroll_MI]", "cannot be changed")

	// Members right, but the managed instance's URL is not the one the
	// link looks for, and SQL Server's is not the configured one.
	sql.cat.Replicas = []Replica{{GroupID: "D1", ServerName: "AG_payroll", EndpointURL: "TCP://10.0.0.4:5022", AvailabilityMode: "ASYNCHRONOUS_COMMIT"},
		{GroupID: "D1", ServerName: "AG_payroll_MI", EndpointURL: "tcp://old.database.windows.net:5022;Server=[mi01]", AvailabilityMode: "ASYNCHRONOUS_COMMIT"}}
	ch, diags := dagCycle(t, sql, mi, &DAG{ListenerURL: "TCP://10.0.0.5:5022"}).plan()
	wantDiag(t, diags, hcl.DiagWarning, "LISTENER_URL tcp://old.database.windows.net:5022;Server=[mi01]", "tcp://"+mi.fqdn+":5022;Server=[mi01]")
	if ch.Action != resources.NoOp || !strings.Contains(ch.Reason, "TCP://10.0.0.4:5022, not the configured TCP://10.0.0.5:5022") {
		t.Errorf("%+v", ch)
	}

	sql.cat.AGs[0].Distributed = false
	_, diags = dagCycle(t, sql, mi, &DAG{}).plan()
	wantDiag(t, diags, hcl.DiagError, "not a distributed one")

	mi.fqdn = ""
	_, diags = dagCycle(t, newSQLFake(), mi, &DAG{}).plan()
	wantDiag(t, diags, hcl.DiagError, "fully qualified domain name")
}

// Status from connect errors names the link's fix.
func TestDAGStatusConnectError(t *testing.T) {
	cat := &Catalogue{States: []ReplicaState{{GroupID: "D1", LastConnectError: 41986, LastConnectErrorText: "connection failed", Connected: "DISCONNECTED"}}}
	st := cat.Status(AG{Name: "payroll", GroupID: "D1"})
	if !strings.Contains(st.Text(), "41986: connection failed") || !strings.Contains(st.Text(), "fix:") || st.Attrs()["last_connect_error"] == nil {
		t.Error(st.Text())
	}
}
