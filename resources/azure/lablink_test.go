package azure

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"strconv"
	"testing"

	"github.com/hashicorp/hcl/v2"
	_ "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/internal/labtest"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/resources"
)

// dbQuerier runs the kind's reads over go-mssqldb, against the lab's
// sql01, as *sqlserver.Instance does.
type dbQuerier struct{ db *sql.DB }

func (q dbQuerier) Address() string { return "sql_server.sql01" }
func (q dbQuerier) Close() error    { return nil }
func (q dbQuerier) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return fakeSQLObs{}, nil
}

func (q dbQuerier) Query(ctx context.Context, batch string) ([][]any, error) {
	rows, err := q.db.QueryContext(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func labDB(t *testing.T, l *lab.Lab, name string) *sql.DB {
	t.Helper()
	s, ok := l.File().Server(name)
	if !ok {
		t.Fatalf("lab.json lacks %s", name)
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.User, s.Password), Host: net.JoinHostPort(s.Address, strconv.Itoa(s.Port)),
		RawQuery: "encrypt=disable&dial+timeout=5"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// requireLinkARM fails when the lab's Resource Manager does not
// serve the link's resource types (it did not before the link landed).
func requireLinkARM(t *testing.T, err error) {
	t.Helper()
	if NotAvailable(err) {
		t.Fatalf("the lab's Resource Manager does not serve the link calls at %s: %v", LinkAPIVersion, err)
	}
}

// TestLabLink runs the link's Resource Manager calls over HTTPS against
// the lab: the endpoint certificate, a trust certificate uploaded by the
// mi_trust_certificate kind from sql01's real certificate, and a link
// the lab refuses because sql01 has no distributed availability group.
func TestLabLink(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	m, _ := labInstance(t, l, "")
	ctx := context.Background()
	if _, diags := m.Refresh(ctx, nil); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	der, err := m.EndpointCertificate(ctx)
	requireLinkARM(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		t.Fatalf("mi01's endpoint certificate is not DER: %v", err)
	}

	db := labDB(t, l, lab.SQLServerName)
	for _, q := range []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Link-Str0ng-Passw0rd!';",
		"USE [master]; CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '20301231';",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	q := dbQuerier{db}
	cfg := &TrustConfig{Address: "mi_trust_certificate.sql01_mi01", Certificate: "Cert_sql01_endpoint"}
	others := map[string]resources.OtherTarget{"sql_server": {Target: q, Observed: fakeSQLObs{}}}
	plan := func(prior *resources.Prior) resources.Change {
		t.Helper()
		req := resources.DiffRequest{Address: cfg.Address, Config: cfg, Target: m, Others: others, Prior: prior}
		r, diags := trustImpl{}.Read(ctx, req)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		req.Read = r
		ch, diags := trustImpl{}.Diff(req)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return ch
	}
	ch := plan(nil)
	if ch.Action != resources.Create {
		t.Fatalf("first plan: %s %s", ch.Action, ch.Reason)
	}
	res, err := trustImpl{}.Apply(ctx, resources.ApplyRequest{Change: ch, Config: cfg, Target: m, Others: map[string]resources.Target{"sql_server": q}})
	if err != nil {
		t.Fatal(err)
	}
	sqlDER, _ := ReadCertificate(ctx, q, "Cert_sql01_endpoint")
	got, err := m.TrustCertificate(ctx, "Cert_sql01_endpoint")
	if err != nil || got == nil || !bytes.Equal(got.Thumbprint, Thumbprint(sqlDER)) {
		t.Fatalf("mi01 trusts %+v, %v; SQL Server's thumbprint %s", got, err, HexBlob(Thumbprint(sqlDER)))
	}
	prior := &resources.Prior{Attributes: res.Attributes}
	if ch := plan(prior); ch.Action != resources.NoOp {
		t.Errorf("second plan: %s %s", ch.Action, ch.Reason)
	}

	// No distributed AG on sql01: the lab refuses the link with Azure's code.
	_, err = m.CreateLink(ctx, "payroll", LinkSpec{PartnerAvailabilityGroup: "AG_payroll", PartnerEndpoint: "TCP://" + l.File().Azure.ManagedInstance + ":5022",
		InstanceAvailabilityGroup: "AG_payroll_MI", InstanceLinkRole: "Secondary", FailoverMode: "Manual", SeedingMode: "Automatic",
		ReplicationMode: "Async", Databases: []string{"payroll"}})
	var le *LinkError
	if !errors.As(err, &le) || le.Code == "" || LinkCodeHint(le.Code) == "" {
		t.Errorf("a link without its availability groups: %v", err)
	}
	if l, err := m.Link(ctx, "payroll"); err != nil || l != nil {
		t.Errorf("after the refusal: %+v, %v", l, err)
	}

	del := trustImpl{}.PlanDelete(*prior, m)
	del.Action = resources.Delete
	if _, err := (trustImpl{}).Apply(ctx, resources.ApplyRequest{Change: del, Target: m}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.TrustCertificate(ctx, "Cert_sql01_endpoint"); err != nil || got != nil {
		t.Errorf("after the delete: %+v, %v", got, err)
	}
}

// TestLabCertEncoded reads a certificate's public part on the lab's
// sql01 as the kind does (CERTENCODED over go-mssqldb): a DER certificate
// whose SHA-1 is sys.certificates' thumbprint.
func TestLabCertEncoded(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	ctx := context.Background()
	db := labDB(t, l, lab.SQLServerName)
	for _, q := range []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Link-Str0ng-Passw0rd!';",
		"USE [master]; CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '20301231';",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	q := dbQuerier{db}
	der, err := ReadCertificate(ctx, q, "Cert_sql01_endpoint")
	if err != nil || der == nil {
		t.Fatalf("CERTENCODED: %x, %v", der, err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		t.Errorf("not DER: %v", err)
	}
	var thumb []byte
	if err := db.QueryRowContext(ctx, "SELECT thumbprint FROM master.sys.certificates WHERE name = N'Cert_sql01_endpoint'").Scan(&thumb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(thumb, Thumbprint(der)) {
		t.Errorf("sys.certificates thumbprint %X, SHA-1 of CERTENCODED %X", thumb, Thumbprint(der))
	}
	if der, err := ReadCertificate(ctx, q, "No such certificate"); err != nil || der != nil {
		t.Errorf("absent certificate: %x, %v", der, err)
	}
}
