package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/lab"
	labarm "github.com/milink/milink/lab/arm"
)

// entraCredential is the lab application's client-secret credential
// against the lab's Entra.
func entraCredential(t *testing.T, a *labarm.Info) *azidentity.ClientSecretCredential {
	t.Helper()
	pemData, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	copts := policy.ClientOptions{Transport: hc, Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: a.Authority}}
	cred, err := azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// TestEntraLoginToManagedInstance: go-mssqldb logs in to mi01 with an
// access token the real azidentity credential got from the lab's Entra
// (scope https://database.windows.net//.default): SUSER_SNAME() is the
// instance's Entra admin. A token for another audience and an expired
// one get 18456, as from a managed instance.
func TestEntraLoginToManagedInstance(t *testing.T) {
	l := startLab(t, lab.Config{})
	a := l.File().Azure
	mi, _ := l.File().Server("mi01")
	cred := entraCredential(t, a)
	connect := func(scope string) (string, error) {
		u := url.URL{Scheme: "sqlserver", Host: net.JoinHostPort(mi.Address, strconv.Itoa(mi.Port)),
			RawQuery: "encrypt=true&certificate=" + url.QueryEscape(mi.Certificate) + "&dial+timeout=5"}
		c, err := mssql.NewConnectorWithAccessTokenProvider(u.String(), func(ctx context.Context) (string, error) {
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
			return tok.Token, err
		})
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		var who string
		err = db.QueryRowContext(ctx(t), "SELECT SUSER_SNAME()").Scan(&who)
		return who, err
	}
	who, err := connect(labarm.SQLAudience + "/.default")
	if err != nil || who != labarm.SQLAdmin {
		t.Fatalf("Entra login: %q, %v; want %s", who, err, labarm.SQLAdmin)
	}
	var e mssql.Error
	if _, err := connect(a.Audience + "/.default"); !errors.As(err, &e) || e.Number != 18456 {
		t.Errorf("a Resource Manager token: %v, want 18456", err)
	}
	l.Azure().SetFaults(labarm.Faults{ExpiredTokens: 1})
	if _, err := connect("https://database.windows.net/.default"); !errors.As(err, &e) || e.Number != 18456 || !strings.Contains(e.Message, "Token is expired") {
		t.Errorf("an expired token: %v, want 18456 Token is expired", err)
	}
}
