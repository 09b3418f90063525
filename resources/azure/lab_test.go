package azure

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/internal/labtest"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/resources"
)

// labInstance opens mi01 with the real credential flow over HTTPS, as a
// configuration reading lab.json does.
func labInstance(t *testing.T, l *lab.Lab, secret string) (*ManagedInstance, *recorder) {
	t.Helper()
	a := l.File().Azure
	mi, ok := l.File().Server(lab.ManagedInstanceName)
	if a == nil || !ok {
		t.Fatal("lab.json lacks the azure object or mi01")
	}
	if secret == "" {
		secret = a.ClientSecret
	}
	rec := &recorder{}
	c := &Config{
		Address: "managed_instance.mi01", ResourceGroup: a.ResourceGroup, Name: a.ManagedInstance,
		Azure: &Settings{Address: "azure.lab", SubscriptionID: a.SubscriptionID, TenantID: a.TenantID, ClientID: a.ClientID,
			ClientSecret: secret, Cloud: "custom", ResourceManager: a.ResourceManager, Audience: a.Audience, Authority: a.Authority, CAFile: a.CAFile},
		Port: mi.Port, Encrypt: "disable", User: mi.User, Password: mi.Password,
	}
	m, err := openManagedInstance(c, options{policies: []policy.Policy{rec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, rec
}

// selfSigned is a certificate and key as a PKCS#12, and its thumbprint.
func selfSigned(t *testing.T, password string) ([]byte, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "TDE milink test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	thumb := sha1.Sum(der)
	return pfx, thumb[:]
}

func TestLabManagedInstance(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	m, rec := labInstance(t, l, "")
	ctx := context.Background()
	obs, diags := m.Refresh(ctx, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	o := obs.(*Observed)
	mi, _ := l.File().Server(lab.ManagedInstanceName)
	if o.FQDN != mi.Address || o.State != "Ready" || o.NSGID != l.File().Azure.NSGID || len(o.SubnetPrefixes) != 1 {
		t.Errorf("observed %+v", o)
	}
	if len(o.NSGs[strings.ToLower(o.NSGID)].Rules) == 0 {
		t.Error("the subnet's NSG shows none of the managed instance's rules")
	}

	const pfxPassword = "One-Time-Pfx-Passw0rd"
	pfx, thumb := selfSigned(t, pfxPassword)
	if has, err := m.HasCertificate(ctx, thumb); err != nil || has {
		t.Fatalf("before the upload: %v, %v", has, err)
	}
	// A wrong password: Azure's code, no secret in the message.
	err := m.ImportTDECertificate(ctx, pfx, "Wrong-Passw0rd-Here")
	if err == nil || !strings.Contains(err.Error(), "InvalidPrivateBlobOrPassword") || strings.Contains(err.Error(), "Wrong-Passw0rd-Here") {
		t.Fatalf("wrong password: %v", err)
	}
	rec.reset()
	if err := m.ImportTDECertificate(ctx, pfx, pfxPassword); err != nil {
		t.Fatal(err)
	}
	if has, err := m.HasCertificate(ctx, thumb); err != nil || !has {
		t.Fatalf("after the upload: %v, %v", has, err)
	}
	calls := string(rec.text())
	if strings.Contains(calls, pfxPassword) {
		t.Error("the recorded calls show the password")
	}
	// The upload as the lab saw it: the POST, then polls of its operation.
	first, _, _ := strings.Cut(calls, "\n\n")
	first = strings.ReplaceAll(first, l.File().Azure.SubscriptionID, "SUBSCRIPTION")
	golden.Check(t, "testdata/golden/lab-tde-upload.txt", []byte(first+"\n"))
}

func TestLabWrongSecret(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	m, _ := labInstance(t, l, "not-the-lab-secret")
	_, diags := m.Refresh(context.Background(), nil)
	if !diags.HasErrors() {
		t.Fatal("a wrong secret read the managed instance")
	}
	msg := diags.Error()
	if !strings.Contains(msg, "the client secret is wrong") || !strings.Contains(msg, "AADSTS7000215") || strings.Contains(msg, "not-the-lab-secret") {
		t.Errorf("wrong secret: %s", msg)
	}
	acct, err := accountOpener{}.Open(context.Background(), resourcesEnv(), "azure.lab", m.c.Azure)
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := acct.Refresh(context.Background(), nil); !diags.HasErrors() || !strings.Contains(diags.Error(), "Cannot sign in to Azure with azure.lab") {
		t.Errorf("the azure block: %v", diags)
	}
}

func resourcesEnv() resources.Env { return resources.Env{} }

// TestLabManagedInstanceEntra: the managed instance's TDS connection
// logs in with a Microsoft Entra token from the azure settings' own
// credential (the lab's application, mi01's Entra admin).
func TestLabManagedInstanceEntra(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	m, _ := labInstance(t, l, "")
	m.c.User, m.c.Password, m.c.Entra = "", "", true
	ctx := context.Background()
	if _, diags := m.Refresh(ctx, nil); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	db, err := m.sqlDB()
	if err != nil {
		t.Fatal(err)
	}
	var who string
	if err := db.QueryRowContext(ctx, "SELECT SUSER_SNAME()").Scan(&who); err != nil || who != "milink-lab" {
		t.Fatalf("SUSER_SNAME() over Entra: %q, %v", who, err)
	}
	if has, err := m.HasCertificate(ctx, make([]byte, 20)); err != nil || has {
		t.Errorf("HasCertificate over Entra: %v, %v", has, err)
	}
}
