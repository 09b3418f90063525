package sqlserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// SQLScope is the scope of an access token for Azure SQL (a managed
// instance, or SQL Server 2022 with Microsoft Entra).
const SQLScope = "https://database.windows.net//.default"

// EntraTokenProvider returns what go-mssqldb's access-token connector
// calls at every login: the token given, or one from a service principal's
// secret, or from azidentity's DefaultAzureCredential chain. Tokens are
// cached by azidentity until shortly before they expire.
func EntraTokenProvider(e EntraAuth) (func(context.Context) (string, error), error) {
	if e.AccessToken != "" {
		tok := e.AccessToken
		return func(context.Context) (string, error) { return tok, nil }, nil
	}
	opts := azcore.ClientOptions{}
	if e.Authority != "" {
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: e.Authority}
	}
	if e.CAFile != "" {
		pemData, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("the CA file for Microsoft Entra: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("the CA file for Microsoft Entra, %s, holds no PEM certificate", e.CAFile)
		}
		opts.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	// A custom authority is not one Microsoft's instance discovery knows.
	custom := e.Authority != ""
	var cred azcore.TokenCredential
	var err error
	if e.ClientSecret != "" {
		cred, err = azidentity.NewClientSecretCredential(e.TenantID, e.ClientID, e.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: opts, TenantID: e.TenantID, DisableInstanceDiscovery: custom})
	}
	if err != nil {
		return nil, fmt.Errorf("a Microsoft Entra credential: %w", err)
	}
	return func(ctx context.Context) (string, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{SQLScope}})
		if err != nil {
			return "", &entraTokenError{err: err}
		}
		return tok.Token, nil
	}, nil
}

// entraTokenError is a failure to get a token: milink's side, before any
// login reaches the server.
type entraTokenError struct{ err error }

func (e *entraTokenError) Error() string { return "getting a Microsoft Entra token: " + e.err.Error() }
func (e *entraTokenError) Unwrap() error { return e.err }

// entraProblem explains a failed Entra login in one sentence, or "".
func entraProblem(s *Server, err error) string {
	var te *entraTokenError
	if !errors.As(err, &te) {
		return ""
	}
	msg := te.err.Error()
	what := "Microsoft Entra login to " + target(s)
	var cu *azidentity.AuthenticationFailedError
	switch {
	case strings.Contains(msg, "AADSTS7000215"):
		return what + ": the client secret is not valid (AADSTS7000215): create a new one for the application"
	case strings.Contains(msg, "AADSTS700016"):
		return what + ": the application (client_id) is not in the tenant (AADSTS700016)"
	case strings.Contains(msg, "AADSTS90002"):
		return what + ": the tenant (tenant_id) does not exist (AADSTS90002)"
	case errors.As(err, &cu):
		return what + ": Microsoft Entra refused the credential: " + firstLineOf(msg)
	}
	return what + ": no credential gave a token (az login, the AZURE_* environment variables, a managed identity, or client_id and client_secret): " + firstLineOf(msg)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
