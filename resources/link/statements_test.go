package link

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var goldenExpiry = time.Date(2027, 11, 30, 0, 0, 0, 0, time.UTC)

// TestStatementsGolden keeps every statement the link's kinds send under
// review; the lab answers the same text.
func TestStatementsGolden(t *testing.T) {
	// A real certificate (openssl req -x509, EC P-256), as Azure returns
	// the managed instance's endpoint certificate.
	der, err := os.ReadFile(filepath.Join("testdata", "mi01-endpoint.der"))
	if err != nil {
		t.Fatal(err)
	}
	roots := Roots()
	tests := []struct{ file, got string }{
		{"endpoint-certificate-create.sql", CreateEndpointCertificateSQL("Cert_sql01_endpoint", "sql01", goldenExpiry)},
		{"endpoint-certificate-create-named.sql", CreateEndpointCertificateSQL(DefaultCertificateName(`SQL01\PAY'ROLL`), `SQL01\PAY'ROLL`, goldenExpiry)},
		{"partner-certificate-create.sql", CreateCertificateFromBinarySQL("mi01.0123456789ab.database.windows.net", der)},
		{"partner-certificate-replace.sql", ReplaceCertificateFromBinarySQL("mi01.0123456789ab.database.windows.net", der)},
		{"root-microsoft.sql", CreateRootSQL(roots[0])},
		{"root-digicert.sql", CreateRootSQL(roots[1])},
		{"link-read-ags.sql", linkAGsSQL},
		{"link-read-replica-states.sql", linkReplicasSQL},
		{"link-read-database-states.sql", linkDatabasesSQL},
		{"link-multidb.sql", MultiDBSQL},
		{"endpoint-create.sql", CreateEndpointSQL(DefaultEndpointName, 5022, "Cert_sql01_endpoint")},
		{"endpoint-create-port.sql", CreateEndpointSQL(DefaultEndpointName, 5023, "Cert_]odd_endpoint")},
		{"endpoint-adopt.sql", AdoptEndpointSQL("Hadr_endpoint", 5022, "Cert_sql01_endpoint")},
		{"endpoint-repair.sql", RepairEndpointSQL(DefaultEndpointName, 5022, "Cert_sql01_endpoint")},
		{"endpoint-drop.sql", DropEndpointSQL(DefaultEndpointName)},
		{"certificate-drop.sql", DropCertificateSQL("Cert_sql01_endpoint")},
		{"ag-create.sql", CreateAGSQL("AG_payroll", []string{"payroll"}, "sql01", "TCP://127.0.0.2:5022", "NONE")},
		{"ag-create-2016.sql", CreateAGSQL("AG_payroll", []string{"payroll"}, `SQL16\INST`, "TCP://10.0.0.4:5022", "")},
		{"ag-create-quoted.sql", CreateAGSQL("AG_it's]", []string{"pay]roll", "it's"}, "sql01", "TCP://127.0.0.2:5022", "NONE")},
		{"ag-create-mi-primary.sql", CreateAGSQL("AG_payroll", nil, "sql01", "TCP://127.0.0.2:5022", "NONE")},
		{"ag-drop.sql", DropAGSQL("AG_payroll")},
		{"dag-create.sql", CreateDAGSQL("payroll", "AG_payroll", "TCP://127.0.0.2:5022", "AG_payroll_MI", MIListenerURL("127.0.0.3", "mi01"), false)},
		{"dag-create-sync.sql", CreateDAGSQL("payroll", "AG_payroll", "TCP://127.0.0.2:5022", "AG_payroll_MI", MIListenerURL("mi01.0123456789ab.database.windows.net", "mi01"), true)},
		{"dag-modify-sync.sql", ModifyDAGSQL("payroll", "AG_payroll", "AG_payroll_MI", true)},
		{"dag-modify-async.sql", ModifyDAGSQL("payroll", "AG_payroll", "AG_payroll_MI", false)},
		{"dag-drop.sql", DropAGSQL("payroll")},
		{"read-all.sql", ReadSQL(partsAll)},
		{"read-certificates.sql", ReadSQL(PartCertificates)},
		{"read-endpoint-certificate.sql", ReadSQL(PartCertificates | PartEndpoints)},
		{"read-endpoint.sql", ReadSQL(PartCertificates | PartEndpoints | PartAGs)},
		{"read-ag.sql", ReadSQL(PartEndpoints | PartAGs)},
		{"read-dag.sql", ReadSQL(PartEndpoints | PartAGs | PartStatus | PartSeeding)},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.file] {
			t.Fatalf("%s twice", tt.file)
		}
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) { checkGolden(t, tt.file, tt.got) })
	}
}

// A name is always bracketed with ] doubled, a string is N'...' with '
// doubled, and a backslash never reaches a certificate's name.
func TestStatementsQuote(t *testing.T) {
	q := CreateEndpointCertificateSQL(DefaultCertificateName(`H\I`), `H\I'x`, goldenExpiry)
	if !strings.Contains(q, "[Cert_H_I_endpoint]") || !strings.Contains(q, `N'Certificate for database mirroring endpoint of H\I''x'`) {
		t.Error(q)
	}
	if q := CreateAGSQL("a]b", []string{"c]d"}, "s'1", "TCP://h:1", "NONE"); !strings.Contains(q, "[a]]b]") || !strings.Contains(q, "[c]]d]") || !strings.Contains(q, "N's''1'") {
		t.Error(q)
	}
	if q := CreateDAGSQL("d", "a'g", "TCP://h:1", "m", "tcp://f:5022;Server=[m]", false); !strings.Contains(q, "N'a''g'") {
		t.Error(q)
	}
	if strings.Contains(ReadSQL(0), "SELECT") {
		t.Error("ReadSQL(0) reads")
	}
}

func TestHints(t *testing.T) {
	for _, n := range []int{41962, 41973, 41974, 41976, 41986, 47521, 1408, 1412, 1475, 7862, 15232, 35217} {
		h, ok := HintFor(n)
		if !ok || h.Number != n || h.Step == "" || h.Fix == "" {
			t.Errorf("%d: %+v %v", n, h, ok)
		}
	}
	err := stepError("availability_group.payroll", "creating availability group [AG_payroll] on sql_server.sql01",
		fmt.Errorf("wrapped: %w", sqlErr{1475, "Database \"payroll\" might contain bulk logged changes that have not been backed up."}))
	msg := err.Error()
	for _, want := range []string{"availability_group.payroll", "creating availability group", "bulk logged", "error 1475", "fix: take a full, non-COPY_ONLY backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if ErrorNumber(err) != 1475 {
		t.Error("the number is lost")
	}
	var se sqlErr
	if !errors.As(err, &se) {
		t.Error("the server's error is not kept")
	}
	if plain := stepError("a", "b", errors.New("boom")); strings.Contains(plain.Error(), "fix:") {
		t.Error(plain)
	}
	if got := ExplainLinkError("41973: The certificate was not found."); !strings.Contains(got, "41973: The certificate was not found.") || !strings.Contains(got, "serverTrustCertificates") {
		t.Error(got)
	}
	for _, s := range []string{"", "weird", "99999: unknown"} {
		if got := ExplainLinkError(s); got != s {
			t.Errorf("%q → %q", s, got)
		}
	}
}
