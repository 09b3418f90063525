package azure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
)

func init() { runtimePollOptions.Frequency = 10 * time.Millisecond }

func TestRefreshReadsInstanceAndNetwork(t *testing.T) {
	m, rec := openTest(t, newWorld())
	obs, diags := m.Refresh(context.Background(), []resources.Instance{{Address: "nsg_rule.vm", Type: KindNSGRule, Config: &RuleConfig{RuleName: "milink-vm", NSGID: testVMNSG, Direction: "Inbound"}}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	v := obs.Values()
	for k, want := range map[string]string{
		"fqdn": "mi01.abc123.database.windows.net", "state": "Ready", "service_tier": "GeneralPurpose",
		"subnet_id": testSubnet, "nsg_id": testNSG, "collation": "SQL_Latin1_General_CP1_CI_AS",
	} {
		if got := v[k].AsString(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if p := v["subnet_prefixes"].AsValueSlice(); len(p) != 1 || p[0].AsString() != "10.0.1.0/24" {
		t.Errorf("subnet_prefixes = %#v", v["subnet_prefixes"])
	}
	o := obs.(*Observed)
	if len(o.NSGs) != 2 {
		t.Errorf("read %d NSGs, want the subnet's and the named one", len(o.NSGs))
	}
	golden.Check(t, "testdata/golden/refresh.txt", rec.text())
}

func TestRefreshMissingInstance(t *testing.T) {
	w := newWorld()
	w.mi = false
	m, _ := openTest(t, w)
	_, diags := m.Refresh(context.Background(), nil)
	if !diags.HasErrors() {
		t.Fatal("no error for a managed instance that does not exist")
	}
	msg := diags.Error()
	for _, want := range []string{"managed_instance.mi01", `"mi01" does not exist`, "ResourceNotFound", testRG} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestImportTDECertificate(t *testing.T) {
	w := newWorld()
	m, rec := openTest(t, w)
	pfx := []byte("not really a PKCS#12 but secret-pfx-bytes")
	if err := m.ImportTDECertificate(context.Background(), pfx, "Pfx-Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	if w.uploaded != 1 {
		t.Fatalf("uploaded %d certificates", w.uploaded)
	}
	got := rec.text()
	if strings.Contains(string(got), "Pfx-Passw0rd!") || strings.Contains(string(got), "c2VjcmV0") {
		t.Fatal("the recorder kept a secret")
	}
	golden.Check(t, "testdata/golden/tde-upload.txt", got)
}

func TestImportTDECertificateFailedOperation(t *testing.T) {
	w := newWorld()
	w.tdeFail = "InvalidPrivateBlobOrPassword"
	m, _ := openTest(t, w)
	err := m.ImportTDECertificate(context.Background(), []byte("pfx-bytes-secret"), "Pfx-Passw0rd!")
	if err == nil {
		t.Fatal("a failed operation reported success")
	}
	msg := err.Error()
	if !strings.Contains(msg, "InvalidPrivateBlobOrPassword") || !strings.Contains(msg, "managed_instance.mi01") {
		t.Errorf("error %q lacks Azure's code or the block", msg)
	}
	if strings.Contains(msg, "Pfx-Passw0rd!") {
		t.Errorf("error %q shows the password", msg)
	}
}

func TestHasCertificateNeedsAuthentication(t *testing.T) {
	m, _ := openTest(t, newWorld())
	if _, err := m.HasCertificate(context.Background(), make([]byte, 20)); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Errorf("HasCertificate without a login: %v", err)
	}
}
