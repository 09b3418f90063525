package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/milink/milink/internal/golden"
)

func TestParseHexBlob(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		bad  bool
	}{
		{in: "0x0A1b", want: []byte{0x0a, 0x1b}},
		{in: "0X0a1B", want: []byte{0x0a, 0x1b}},
		{in: "0a1b", want: []byte{0x0a, 0x1b}},
		{in: "  0x0A1B\n", want: []byte{0x0a, 0x1b}},
		{in: "", bad: true},
		{in: "0x", bad: true},
		{in: "0x0A1", bad: true},
		{in: "0xZZ", bad: true},
	} {
		got, err := ParseHexBlob(tc.in)
		if tc.bad != (err != nil) || !bytes.Equal(got, tc.want) {
			t.Errorf("ParseHexBlob(%q) = %x, %v", tc.in, got, err)
		}
	}
	if got := HexBlob([]byte{0xab, 0x01}); got != "0xAB01" {
		t.Errorf("HexBlob = %s", got)
	}
	// A thumbprint Azure writes and one computed from the DER compare equal.
	der := []byte("not really a certificate")
	az, _ := ParseHexBlob(strings.ToLower(HexBlob(Thumbprint(der))))
	if !bytes.Equal(az, Thumbprint(der)) || len(az) != 20 {
		t.Errorf("thumbprints differ: %x", az)
	}
}

func TestLinkErrorNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		hint string
	}{
		{"41973: The certificate was not found", 41973, "does not trust SQL Server's endpoint certificate"},
		{"41974:x", 41974, "named exactly after the managed instance's FQDN"},
		{"41986: Connection failed", 41986, "port 5022"},
		{"1412: log backup", 1412, "log backup ran"},
		{"", 0, ""},
		{"Something: 41973", 0, ""},
	} {
		if n := LinkErrorNumber(tc.in); n != tc.n {
			t.Errorf("LinkErrorNumber(%q) = %d", tc.in, n)
		}
		if h := LinkErrorHint(tc.in); tc.hint == "" && h != "" || !strings.Contains(h, tc.hint) {
			t.Errorf("LinkErrorHint(%q) = %q", tc.in, h)
		}
	}
	for _, code := range []string{"ManagedInstanceLinkCertificateNotFoundOnManagedInstance", "ManagedInstanceLinkCertificateNotFoundOnSqlServer",
		"ManagedInstanceLinkTdeCertificateMissing", "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists",
		"CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished", "UnableToResolveRemoteServer", "RemoteDatabaseExists"} {
		if LinkCodeHint(code) == "" || LinkCodeHint(strings.ToLower(code)) == "" {
			t.Errorf("no hint for %s", code)
		}
	}
}

// TestLinkCalls runs every link call against the fake Resource Manager:
// the requests (bodies, api-version) are the golden file, the poller
// follows each operation to its end, and refusals keep Azure's code with
// milink's hint.
func TestLinkCalls(t *testing.T) {
	var lw *linkWorld
	m, rec := openLinkTest(t, newWorld(), &lw)
	ctx := context.Background()
	lw.endpoint = []byte{0x30, 0x82, 0x01, 0x0a}
	lw.blobCase = true

	der, err := m.EndpointCertificate(ctx)
	if err != nil || !bytes.Equal(der, lw.endpoint) {
		t.Fatalf("EndpointCertificate = %x, %v", der, err)
	}
	if tc, err := m.TrustCertificate(ctx, "Cert_sql01_endpoint"); err != nil || tc != nil {
		t.Fatalf("absent trust certificate: %+v, %v", tc, err)
	}
	sqlCert := []byte{0x30, 0x82, 0x02, 0xff, 0x00}
	tc, err := m.PutTrustCertificate(ctx, "Cert_sql01_endpoint", sqlCert)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tc.DER, sqlCert) || !bytes.Equal(tc.Thumbprint, Thumbprint(sqlCert)) {
		t.Errorf("after the PUT: %+v", tc)
	}
	spec := LinkSpec{PartnerAvailabilityGroup: "AG_payroll", PartnerEndpoint: "TCP://10.0.0.4:5022", InstanceAvailabilityGroup: "AG_payroll_MI",
		InstanceLinkRole: "Secondary", FailoverMode: "Manual", SeedingMode: "Automatic", ReplicationMode: "Async", Databases: []string{"payroll"}}
	l, err := m.CreateLink(ctx, "payroll", spec)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "payroll" || l.DAGID == "" || len(l.DatabaseStates) != 1 || l.DatabaseStates[0].ReplicaState != "CreatingLink" {
		t.Errorf("created: %+v", l)
	}
	if err := m.SetLinkReplicationMode(ctx, "payroll", "Sync"); err != nil {
		t.Fatal(err)
	}
	if l, err := m.Link(ctx, "payroll"); err != nil || l.ReplicationMode != "Sync" {
		t.Errorf("after the PATCH: %+v, %v", l, err)
	}
	if f, err := m.DatabaseFormat(ctx); err != nil || f != "SQLServer2022" {
		t.Errorf("DatabaseFormat = %q, %v", f, err)
	}
	if err := m.DeleteLink(ctx, "payroll"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteTrustCertificate(ctx, "Cert_sql01_endpoint"); err != nil {
		t.Fatal(err)
	}
	// Gone already: no error, nothing polled.
	if err := m.DeleteLink(ctx, "payroll"); err != nil {
		t.Fatal(err)
	}
	if l, err := m.Link(ctx, "payroll"); err != nil || l != nil {
		t.Errorf("after the DELETE: %+v, %v", l, err)
	}
	calls := strings.ReplaceAll(string(rec.text()), testSub, "SUBSCRIPTION")
	golden.Check(t, "testdata/golden/link-calls.txt", []byte(calls))
	if len(lw.versions) != 1 || !lw.versions[LinkAPIVersion] {
		t.Errorf("api-versions sent: %v", lw.versions)
	}
}

func TestLinkRefusals(t *testing.T) {
	var lw *linkWorld
	m, _ := openLinkTest(t, newWorld(), &lw)
	ctx := context.Background()
	spec := LinkSpec{PartnerAvailabilityGroup: "AG_payroll", PartnerEndpoint: "TCP://sql01.example:5022", InstanceAvailabilityGroup: "AG_payroll_MI",
		InstanceLinkRole: "Secondary", FailoverMode: "Manual", SeedingMode: "Automatic", ReplicationMode: "Async", Databases: []string{"payroll"}}

	// Synchronous refusal.
	lw.refuse, lw.refuseStatus = "UnableToResolveRemoteServer", http.StatusBadRequest
	_, err := m.CreateLink(ctx, "payroll", spec)
	var le *LinkError
	if !errors.As(err, &le) || le.Code != "UnableToResolveRemoteServer" || le.Status != 400 ||
		!strings.Contains(err.Error(), "use SQL Server's IP address") || !strings.Contains(err.Error(), "creating the link payroll") {
		t.Errorf("refused: %v", err)
	}
	// The operation fails.
	lw.failOp = "ManagedInstanceLinkCertificateNotFoundOnSqlServer"
	_, err = m.CreateLink(ctx, "payroll", spec)
	if !errors.As(err, &le) || le.Code != "ManagedInstanceLinkCertificateNotFoundOnSqlServer" || !strings.Contains(err.Error(), "partner_certificate") {
		t.Errorf("failed operation: %v", err)
	}
	// Twice: AlreadyExists.
	if _, err := m.CreateLink(ctx, "payroll", spec); err != nil {
		t.Fatal(err)
	}
	_, err = m.CreateLink(ctx, "payroll", spec)
	if !errors.As(err, &le) || le.Status != http.StatusConflict || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("twice: %v", err)
	}
	// An Azure without the link's resource types.
	lw.refuse, lw.refuseStatus = "InvalidResourceType", http.StatusNotFound
	_, err = m.PutTrustCertificate(ctx, "x", []byte{1})
	if !NotAvailable(err) {
		t.Errorf("NotAvailable(%v) = false", err)
	}
}

// TestLinkFromJSON reads a GET body as the 2025-01-01 specification's
// example writes it, LSNs as strings or as numbers.
func TestLinkFromJSON(t *testing.T) {
	body := `{"id":"/x","name":"payroll","type":"Microsoft.Sql/managedInstances/distributedAvailabilityGroups","properties":{
	"distributedAvailabilityGroupName":"payroll","distributedAvailabilityGroupId":"6a1b4e3a-0000-0000-0000-000000000001",
	"replicationMode":"Async","partnerLinkRole":"Primary","partnerAvailabilityGroupName":"AG_payroll","partnerEndpoint":"TCP://10.0.0.4:5022",
	"instanceLinkRole":"Secondary","instanceAvailabilityGroupName":"AG_payroll_MI","failoverMode":"Manual","seedingMode":"Automatic",
	"databases":[{"databaseName":"payroll","instanceReplicaId":"a","partnerReplicaId":"b","replicaState":"Seeding","seedingProgress":"30%",
	"synchronizationHealth":"NOT_HEALTHY","connectedState":"CONNECTED","lastReceivedLsn":"37000000012800001","lastHardenedLsn":37000000012800001,
	"lastCommitLsn":null,"mostRecentLinkError":"","partnerAuthCertValidity":{"certificateName":"Cert_sql01_endpoint","expiryDate":"2027-11-30T00:00:00Z"},
	"instanceSendReplicationLagSeconds":3,"instanceRedoReplicationLagSeconds":1}]}}`
	var j dagJSON
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	l := linkFromJSON(j, "payroll")
	d := l.DatabaseStates[0]
	if l.DAGID == "" || l.PartnerLinkRole != "Primary" || l.ReplicationMode != "Async" || len(l.Databases) != 1 ||
		d.LastHardenedLSN != "37000000012800001" || d.LastReceivedLSN != "37000000012800001" || d.LastCommitLSN != "" ||
		d.SeedingProgress != "30%" || d.PartnerCertName != "Cert_sql01_endpoint" || d.SendLagSeconds != 3 || d.RedoLagSeconds != 1 {
		t.Errorf("%+v", l)
	}
}
