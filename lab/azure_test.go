package lab_test

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"

	"github.com/milink/milink/lab"
	labarm "github.com/milink/milink/lab/arm"
)

// tdeClient is armsql's tdeCertificates client, with the credential
// milink builds from lab.json's azure object.
func tdeClient(t *testing.T, a *labarm.Info) *armsql.ManagedInstanceTdeCertificatesClient {
	t.Helper()
	pemData, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	copts := policy.ClientOptions{Transport: hc, Cloud: cloud.Configuration{
		ActiveDirectoryAuthorityHost: a.Authority,
		Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: a.ResourceManager, Audience: a.Audience}},
	}}
	cred, err := azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := armsql.NewManagedInstanceTdeCertificatesClient(a.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: copts, DisableRPRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		env := "MILINK_REQUIRE_" + strings.ToUpper(name)
		if os.Getenv(env) != "" {
			t.Fatalf("%s is required (%s) but missing", name, env)
		}
		t.Skipf("%s is not installed", name)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAzureTDECertificateFromOpenSSL uploads PFX files made by openssl (the
// default AES-256/PBKDF2 encoding of OpenSSL 3, and the legacy 3DES/RC2
// one) through armsql, and finds each certificate in mi01's
// master.sys.certificates by its thumbprint, through go-mssqldb.
func TestAzureTDECertificateFromOpenSSL(t *testing.T) {
	needTool(t, "openssl")
	l := startLab(t, lab.Config{})
	a := l.File().Azure
	if a == nil {
		t.Fatal("lab.json has no azure object")
	}
	c := tdeClient(t, a)
	mi := open(t, l, lab.ManagedInstanceName)
	work := t.TempDir()
	const pfxPassword = "Pfx-pa55-word!"
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"aes-pbkdf2", nil},
		{"legacy-3des-rc2", []string{"-legacy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, work, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tc.name+".key",
				"-out", tc.name+".crt", "-days", "30", "-subj", "/CN=TDE "+tc.name)
			args := append([]string{"pkcs12", "-export", "-inkey", tc.name + ".key", "-in", tc.name + ".crt",
				"-out", tc.name + ".pfx", "-passout", "pass:" + pfxPassword}, tc.extra...)
			cmd := exec.Command("openssl", args...)
			cmd.Dir = work
			if out, err := cmd.CombinedOutput(); err != nil {
				if tc.extra != nil {
					t.Skipf("openssl cannot write the legacy encoding here: %s", out)
				}
				t.Fatalf("openssl pkcs12: %v\n%s", err, out)
			}
			pfx, err := os.ReadFile(filepath.Join(work, tc.name+".pfx"))
			if err != nil {
				t.Fatal(err)
			}
			crt, _ := os.ReadFile(filepath.Join(work, tc.name+".crt"))
			b, _ := pem.Decode(crt)
			thumb := sha1.Sum(b.Bytes)

			ctx := context.Background()
			// A wrong password is refused with Azure's error, before anything changes.
			_, err = c.BeginCreate(ctx, labarm.ResourceGroup, lab.ManagedInstanceName, armsql.TdeCertificate{Properties: &armsql.TdeCertificateProperties{
				PrivateBlob: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), CertPassword: to.Ptr("wrong"),
			}}, nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.ErrorCode != "InvalidPrivateBlobOrPassword" {
				t.Fatalf("wrong password: %v", err)
			}
			p, err := c.BeginCreate(ctx, labarm.ResourceGroup, lab.ManagedInstanceName, armsql.TdeCertificate{Properties: &armsql.TdeCertificateProperties{
				PrivateBlob: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), CertPassword: to.Ptr(pfxPassword),
			}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: 50 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			var subject string
			var expiry time.Time
			err = mi.QueryRowContext(ctx, "SELECT subject, expiry_date FROM master.sys.certificates WHERE thumbprint = @p1", thumb[:]).Scan(&subject, &expiry)
			if err != nil {
				t.Fatalf("the certificate is not in mi01's sys.certificates: %v", err)
			}
			if subject != "TDE "+tc.name || time.Until(expiry) < 29*24*time.Hour {
				t.Errorf("subject %q, expiry %s", subject, expiry)
			}
			// The log shows the upload without the PFX or its password.
			logged, _ := json.Marshal(l.Azure().Log())
			if strings.Contains(string(logged), pfxPassword) || strings.Contains(string(logged), base64.StdEncoding.EncodeToString(pfx)[:40]) {
				t.Error("the request log shows the PFX or its password")
			}
		})
	}
	_, err := c.BeginCreate(context.Background(), labarm.ResourceGroup, lab.ManagedInstanceName, armsql.TdeCertificate{Properties: &armsql.TdeCertificateProperties{}}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != "MissingPrivateBlob" {
		t.Errorf("missing blob: %v", err)
	}
}

// TestAzureCurl calls the lab's Resource Manager with curl, as a person
// (or a test editing a rule behind milink's back) would.
func TestAzureCurl(t *testing.T) {
	needTool(t, "curl")
	l := startLab(t, lab.Config{})
	a := l.File().Azure
	tok, _, err := l.Azure().IssueToken()
	if err != nil {
		t.Fatal(err)
	}
	rule := a.NSGID + "/securityRules/curl-rule?api-version=2024-05-01"
	body := `{"properties":{"protocol":"Tcp","sourcePortRange":"*","destinationPortRange":"5022","sourceAddressPrefix":"127.0.0.2","destinationAddressPrefix":"*","access":"Allow","priority":250,"direction":"Inbound"}}`
	out := run(t, "", "curl", "-sS", "--fail-with-body", "--cacert", a.CAFile, "-H", "Authorization: Bearer "+tok,
		"-H", "Content-Type: application/json", "-X", "PUT", "-d", body, strings.TrimSuffix(a.ResourceManager, "/")+rule)
	if !strings.Contains(out, `"priority":250`) {
		t.Errorf("PUT: %s", out)
	}
	out = run(t, "", "curl", "-sS", "--cacert", a.CAFile, "-H", "Authorization: Bearer "+tok, strings.TrimSuffix(a.ResourceManager, "/")+rule)
	if !strings.Contains(out, `"provisioningState":"Succeeded"`) {
		t.Errorf("GET: %s", out)
	}
	// Without a token: 401 with ARM's error.
	out = run(t, "", "curl", "-sS", "--cacert", a.CAFile, strings.TrimSuffix(a.ResourceManager, "/")+rule)
	if !strings.Contains(out, `"AuthenticationFailed"`) {
		t.Errorf("no token: %s", out)
	}
}
