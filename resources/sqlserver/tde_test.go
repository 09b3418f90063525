package sqlserver

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/tde/pfx"
)

// tdeConfig stands for a tde_certificate block (package resources/tde).
type tdeConfig struct{}

func (tdeConfig) ReadsTDE() {}

func TestRefreshBatchReadsTDEOnlyWhenAsked(t *testing.T) {
	s := sql01()
	if strings.Contains(refreshBatch(s), "dm_database_encryption_keys") {
		t.Error("the batch reads TDE without a TDEReader on the instance")
	}
	i := &Instance{s: s}
	i.attach(append(attached(s), resources.Instance{Address: "tde_certificate.payroll", Type: "tde_certificate", Config: tdeConfig{}}))
	if b := refreshBatch(s); !strings.HasSuffix(b, tdeReadSQL) {
		t.Errorf("the batch does not end with tde-read.sql:\n%s", b)
	}
	i.attach(attached(s))
	if strings.Contains(refreshBatch(s), "dm_database_encryption_keys") {
		t.Error("a later refresh without the block still reads TDE")
	}
}

func TestParseTDE(t *testing.T) {
	exp := time.Date(2036, 3, 1, 0, 0, 0, 0, time.UTC)
	sets := []resultSet{
		{cols: []string{"banner"}, rows: [][]any{{"Microsoft SQL Server 2019 ... on Linux"}}},
		{cols: []string{"tde_database", "is_encrypted", "encryption_state", "encryptor_type", "certificate_name", "certificate_id", "subject", "expiry_date", "thumbprint", "pvt_key_encryption_type_desc"},
			rows: [][]any{
				{"payroll", true, int64(3), "CERTIFICATE", "TDECert", int64(257), "TDE certificate for payroll", exp, []byte{1, 2, 3}, "ENCRYPTED_BY_MASTER_KEY"},
				{"sales", false, nil, nil, nil, nil, nil, nil, nil, nil},
				{"hr", true, int64(3), "CERTIFICATE", "HRCert", int64(258), "hr", exp, []byte{4}, "NO_PRIVATE_KEY"},
			}},
	}
	o, err := parseSets(sets)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := o.TDE("PAYROLL")
	if !ok || p.Certificate != "TDECert" || p.CertificateID != 257 || !p.Expiry.Equal(exp) || !bytes.Equal(p.Thumbprint, []byte{1, 2, 3}) ||
		p.EncryptionState != 3 || !p.Encrypted || !p.HasPrivateKey() {
		t.Errorf("payroll: %+v, %v", p, ok)
	}
	if p, ok := o.TDE("sales"); !ok || p.Encrypted || p.EncryptionState != 0 || p.Certificate != "" {
		t.Errorf("sales: %+v, %v", p, ok)
	}
	if p, _ := o.TDE("hr"); p.HasPrivateKey() {
		t.Error("hr: NO_PRIVATE_KEY reads as a private key")
	}
	if _, ok := o.TDE("nosuch"); ok {
		t.Error("a database that does not exist was found")
	}
}

func TestExportCertificateSQL(t *testing.T) {
	golden(t, "tde-export.sql", ExportCertificateSQL("TDECert", "enc", "", true)+"\n")
	golden(t, "tde-export-password.sql", ExportCertificateSQL("TDECert", "enc", "dec", true)+"\n")
	got := ExportCertificateSQL("it's]", "a'b", "c'd", false)
	want := "USE [master];\nSELECT CERTENCODED(CERT_ID(N'it''s]')) AS certificate, CERTPRIVATEKEY(CERT_ID(N'it''s]'), N'a''b', N'c''d') AS private_key;"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// syncBuffer collects a logger's output from the driver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The lab's payroll is protected by TDECert: the refresh finds it, and the
// export gives the certificate with the thumbprint the refresh saw and a
// PVK that decodes to its key; neither password reaches the log or an
// error.
func TestLabTDE(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	// Whether this machine runs systemd must not matter here: the test
	// restarts nothing.
	s.Host.RestartCommandSet = true
	var logBuf syncBuffer
	i, err := Open(context.Background(), s, hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logBuf}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	obs, diags := i.Refresh(context.Background(), append(attached(s), resources.Instance{Address: "tde_certificate.payroll", Type: "tde_certificate", Config: tdeConfig{}}))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	o := obs.(*Observed)
	p, ok := o.TDE("payroll")
	if !ok || p.Certificate != "TDECert" || p.EncryptionState != 3 || !p.HasPrivateKey() || len(p.Thumbprint) != 20 {
		t.Fatalf("payroll: %+v", p)
	}
	if p, ok := o.TDE("sales"); !ok || p.Encrypted {
		t.Errorf("sales: %+v", p)
	}

	enc, err := pfx.NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	der, pvk, err := i.ExportCertificate(context.Background(), "tde_certificate.payroll", p.Certificate, string(enc), engine.SeedTDECertPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tp := sha1.Sum(der); !bytes.Equal(tp[:], p.Thumbprint) {
		t.Errorf("CERTENCODED's thumbprint %x, refresh saw %x", tp, p.Thumbprint)
	}
	k, err := pfx.DecodePVK(pvk, enc)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey.(*rsa.PublicKey).Equal(&k.PublicKey) {
		t.Error("the exported key is not the certificate's")
	}

	_, _, err = i.ExportCertificate(context.Background(), "tde_certificate.payroll", p.Certificate, string(enc), "Not-The-Passw0rd!")
	if err == nil || !strings.Contains(err.Error(), "CERTPRIVATEKEY returned NULL") || strings.Contains(err.Error(), "Not-The-Passw0rd!") {
		t.Errorf("wrong private key password: %v", err)
	}
	_, _, err = i.ExportCertificate(context.Background(), "tde_certificate.payroll", "NoSuchCert", string(enc), "")
	if err == nil || !strings.Contains(err.Error(), "not in master") {
		t.Errorf("missing certificate: %v", err)
	}
	log := logBuf.String()
	if !strings.Contains(log, "CERTPRIVATEKEY") {
		t.Error("the export is not logged at all")
	}
	for _, secret := range []string{string(enc), engine.SeedTDECertPassword, "Not-The-Passw0rd!"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a password:\n%s", log)
		}
	}
}
