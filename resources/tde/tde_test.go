package tde

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// fakeMI is a managed instance: it reads the PFX it is given with
// go-pkcs12 (an implementation independent of how it was built) and
// remembers the certificates' thumbprints.
type fakeMI struct {
	addr string
	mu   sync.Mutex
	// thumbprints of the certificates it holds
	certs     [][]byte
	keys      []*rsa.PrivateKey
	uploads   int
	lastBlob  []byte // the PFX as given (not a copy): apply must zero it
	uploadErr error
	readErr   error
	dropAfter bool // the upload "succeeds" but the certificate never appears
}

func (m *fakeMI) Address() string { return m.addr }
func (m *fakeMI) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return fakeObs{}, nil
}
func (m *fakeMI) Close() error { return nil }

func (m *fakeMI) ImportTDECertificate(_ context.Context, blob []byte, password string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads++
	m.lastBlob = blob
	if m.uploadErr != nil {
		return m.uploadErr
	}
	key, cert, err := pkcs12.Decode(blob, password)
	if err != nil {
		return errors.New("InvalidPrivateBlobOrPassword: " + err.Error())
	}
	if m.dropAfter {
		return nil
	}
	tp := sha1.Sum(cert.Raw)
	m.certs = append(m.certs, tp[:])
	m.keys = append(m.keys, key.(*rsa.PrivateKey))
	return nil
}

func (m *fakeMI) HasCertificate(_ context.Context, thumbprint []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readErr != nil {
		return false, m.readErr
	}
	for _, c := range m.certs {
		if bytes.Equal(c, thumbprint) {
			return true, nil
		}
	}
	return false, nil
}

type fakeObs struct{}

func (fakeObs) Summary() resources.TargetSummary { return resources.TargetSummary{} }
func (fakeObs) Values() map[string]cty.Value     { return nil }

// fakeSQL is a SQL Server: its observation (protectors) and its export.
type fakeSQL struct {
	tde     map[string]sqlserver.TDEProtector
	der     []byte // the certificate ExportCertificate returns, with key's PVK
	key     *rsa.PrivateKey
	gotDec  string
	exports int
	lastPVK []byte // the key as given (not a copy): apply must zero it
}

func (f *fakeSQL) Address() string { return "sql_server.sql01" }
func (f *fakeSQL) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return nil, nil
}
func (f *fakeSQL) Close() error { return nil }
func (f *fakeSQL) Summary() resources.TargetSummary {
	return resources.TargetSummary{}
}
func (f *fakeSQL) Values() map[string]cty.Value { return nil }
func (f *fakeSQL) TDE(db string) (sqlserver.TDEProtector, bool) {
	p, ok := f.tde[db]
	return p, ok
}

func (f *fakeSQL) ExportCertificate(_ context.Context, addr, name, enc, dec string) ([]byte, []byte, error) {
	f.exports++
	f.gotDec = dec
	pvk := encodePVK(f.key, enc)
	f.lastPVK = pvk
	return append([]byte(nil), f.der...), pvk, nil
}

var (
	keyOnce sync.Once
	theKey  *rsa.PrivateKey
)

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		theKey = k
	})
	k, err := x509.ParsePKCS1PrivateKey(x509.MarshalPKCS1PrivateKey(theKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func certFor(t *testing.T, k *rsa.PrivateKey, expiry time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "TDE certificate for payroll"},
		NotBefore: expiry.AddDate(-10, 0, 0), NotAfter: expiry}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var testNow = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func newSQL(t *testing.T, expiry time.Time) *fakeSQL {
	k := testKey(t)
	der := certFor(t, k, expiry)
	tp := sha1.Sum(der)
	return &fakeSQL{key: k, der: der, tde: map[string]sqlserver.TDEProtector{
		"payroll": {Database: "payroll", Encrypted: true, EncryptionState: 3, EncryptorType: "CERTIFICATE", Certificate: "TDECert",
			CertificateID: 257, Subject: "TDE certificate for payroll", Expiry: expiry, Thumbprint: tp[:], KeyEncryption: "ENCRYPTED_BY_MASTER_KEY"},
		"sales": {Database: "sales"},
		"ekm":   {Database: "ekm", Encrypted: true, EncryptionState: 3, EncryptorType: "ASYMMETRIC KEY", Thumbprint: []byte{1}},
		"lost":  {Database: "lost", Encrypted: true, EncryptionState: 3, EncryptorType: "CERTIFICATE", Thumbprint: []byte{0xab, 0xcd}},
		"nokey": {Database: "nokey", Encrypted: true, EncryptionState: 3, EncryptorType: "CERTIFICATE", Certificate: "PubOnly", Thumbprint: []byte{2}, KeyEncryption: "NO_PRIVATE_KEY"},
	}}
}

func request(sql *fakeSQL, mi *fakeMI, db string) resources.DiffRequest {
	return resources.DiffRequest{
		Address:  "tde_certificate." + db,
		Config:   &Config{Address: "tde_certificate." + db, Database: db, DeclRange: hcl.Range{Filename: "main.milink.hcl", Start: hcl.Pos{Line: 30}}},
		Target:   sql,
		Observed: sql,
		Others:   map[string]resources.OtherTarget{attrManagedInstance: {Target: mi, Observed: fakeObs{}}},
	}
}

// plan runs Read and Diff as the builder does.
func plan(t *testing.T, req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	t.Helper()
	read, diags := impl{}.Read(context.Background(), req)
	if diags.HasErrors() {
		return resources.Change{}, diags
	}
	req.Read = read
	ch, d2 := impl{}.Diff(req)
	ch.Address, ch.Kind, ch.Target = req.Address, Kind, req.Target.Address()
	return ch, append(diags, d2...)
}

func TestReadErrors(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return testNow }
	tests := []struct {
		db, summary, detail string
	}{
		{"nosuch", "Database not found", `no user database "nosuch"`},
		{"sales", "Database not encrypted", "not protected by TDE"},
		{"ekm", "Not protected by a certificate", "asymmetric key"},
		{"lost", "Certificate not found", "0xABCD"},
		{"nokey", "Certificate without a private key", "PubOnly"},
	}
	for _, tt := range tests {
		t.Run(tt.db, func(t *testing.T) {
			_, diags := plan(t, request(newSQL(t, testNow.AddDate(1, 0, 0)), &fakeMI{addr: "managed_instance.mi01"}, tt.db))
			if !diags.HasErrors() || diags[0].Summary != tt.summary || !strings.Contains(diags[0].Detail, tt.detail) {
				t.Fatalf("diags %v, want %q / %q", diags, tt.summary, tt.detail)
			}
			if diags[0].Subject == nil || diags[0].Subject.Start.Line != 30 {
				t.Errorf("the error is not on the block: %v", diags[0].Subject)
			}
		})
	}
	// The managed instance cannot be read.
	_, diags := plan(t, request(newSQL(t, testNow.AddDate(1, 0, 0)), &fakeMI{addr: "managed_instance.mi01", readErr: errors.New("login failed")}, "payroll"))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "login failed") {
		t.Errorf("MI read error: %v", diags)
	}
	// A target that is not a managed instance.
	req := request(newSQL(t, testNow.AddDate(1, 0, 0)), nil, "payroll")
	req.Others[attrManagedInstance] = resources.OtherTarget{Target: &fakeSQL{}}
	if _, diags := plan(t, req); !diags.HasErrors() || !strings.Contains(diags.Error(), "cannot hold TDE certificates") {
		t.Errorf("not a managed instance: %v", diags)
	}
}

func TestDiff(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return testNow }
	tests := []struct {
		name    string
		expiry  time.Time
		onMI    bool
		action  resources.Action
		warning string
	}{
		{"missing", testNow.AddDate(1, 0, 0), false, resources.Create, ""},
		{"present", testNow.AddDate(1, 0, 0), true, resources.NoOp, ""},
		{"expires soon", testNow.Add(10 * 24 * time.Hour), false, resources.Create, "expires in 10 days"},
		{"expired", testNow.Add(-48 * time.Hour), false, resources.Create, "expired 2 days ago"},
		{"expires soon, present", testNow.Add(10 * 24 * time.Hour), true, resources.NoOp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := newSQL(t, tt.expiry)
			mi := &fakeMI{addr: "managed_instance.mi01"}
			if tt.onMI {
				mi.certs = [][]byte{sql.tde["payroll"].Thumbprint}
			}
			ch, diags := plan(t, request(sql, mi, "payroll"))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if ch.Action != tt.action {
				t.Errorf("action %s, want %s", ch.Action, tt.action)
			}
			tp := Thumbprint(sql.tde["payroll"].Thumbprint)
			if ch.After["thumbprint"] != tp || ch.After["certificate"] != "TDECert" || ch.After["on_managed_instance"] != true ||
				ch.After["expiry"] != tt.expiry.Format(time.RFC3339) {
				t.Errorf("after %v", ch.After)
			}
			switch {
			case tt.warning == "" && len(diags) > 0:
				t.Errorf("unexpected diagnostics %v", diags)
			case tt.warning != "" && (len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, tt.warning)):
				t.Errorf("diags %v, want a warning %q", diags, tt.warning)
			}
			if ch.Action == resources.Create {
				if len(ch.Steps) != 3 || ch.Steps[0].On != "sql_server.sql01" || ch.Steps[1].On != "managed_instance.mi01" ||
					!strings.Contains(ch.Steps[0].Text, "CERTPRIVATEKEY(CERT_ID(N'TDECert'), (sensitive))") {
					t.Errorf("steps %+v", ch.Steps)
				}
				if ch.Before != nil {
					t.Errorf("a create has a before: %v", ch.Before)
				}
				if tt.name == "missing" {
					var b strings.Builder
					for _, st := range ch.Steps {
						fmt.Fprintf(&b, "-- %s on %s\n%s\n", st.Kind, st.On, strings.ReplaceAll(st.Text, Thumbprint(sql.tde["payroll"].Thumbprint), "<thumbprint>"))
					}
					golden.Check(t, "testdata/golden/create.plan.txt", []byte(b.String()))
				}
			}
		})
	}
}

func TestApply(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return testNow }
	setup := func(t *testing.T) (*fakeSQL, *fakeMI, resources.ApplyRequest) {
		sql := newSQL(t, testNow.AddDate(1, 0, 0))
		mi := &fakeMI{addr: "managed_instance.mi01"}
		req := request(sql, mi, "payroll")
		req.Config.(*Config).PrivateKeyPassword = "Key-Passw0rd-Of-TDECert"
		ch, diags := plan(t, req)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var msgs []string
		return sql, mi, resources.ApplyRequest{Change: ch, Config: req.Config, Target: sql,
			Others: map[string]resources.Target{attrManagedInstance: mi}, Progress: func(s string) { msgs = append(msgs, s) }}
	}
	t.Run("uploads and verifies", func(t *testing.T) {
		sql, mi, req := setup(t)
		res, err := impl{}.Apply(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(mi.certs) != 1 || !bytes.Equal(mi.certs[0], sql.tde["payroll"].Thumbprint) || !mi.keys[0].Equal(sql.key) {
			t.Fatal("the managed instance did not get the certificate with its key")
		}
		zero := func(b []byte) bool { return len(b) > 0 && !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) }
		if !zero(mi.lastBlob) || !zero(sql.lastPVK) {
			t.Error("the PFX or the exported private key was not zeroed after use")
		}
		if sql.gotDec != "Key-Passw0rd-Of-TDECert" {
			t.Errorf("decryption password %q", sql.gotDec)
		}
		if res.Attributes["on_managed_instance"] != true {
			t.Errorf("result %v", res.Attributes)
		}
		// Again (a crash after the upload): nothing uploaded twice.
		if _, err := (impl{}).Apply(context.Background(), req); err != nil || mi.uploads != 1 || sql.exports != 1 {
			t.Errorf("re-run: %v, %d uploads, %d exports", err, mi.uploads, sql.exports)
		}
	})
	t.Run("upload refused", func(t *testing.T) {
		_, mi, req := setup(t)
		mi.uploadErr = errors.New("InvalidPrivateBlobOrPassword: Key-Passw0rd-Of-TDECert")
		_, err := impl{}.Apply(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "InvalidPrivateBlobOrPassword") || strings.Contains(err.Error(), "Key-Passw0rd-Of-TDECert") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("not there after upload", func(t *testing.T) {
		_, mi, req := setup(t)
		mi.dropAfter = true
		_, err := impl{}.Apply(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "holds no certificate with thumbprint") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("certificate changed since the plan", func(t *testing.T) {
		sql, mi, req := setup(t)
		sql.der = certFor(t, sql.key, testNow.AddDate(2, 0, 0))
		_, err := impl{}.Apply(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "changed since the plan") || mi.uploads != 0 {
			t.Errorf("err %v, %d uploads", err, mi.uploads)
		}
	})
}
