// Package azure is milink's Azure side: the `azure` settings (subscription,
// tenant, credentials, cloud), the `managed_instance` target read through
// Azure Resource Manager (and reached over TDS for what ARM cannot tell),
// and the `nsg_rule` resource. Every call goes through the Azure SDK for Go
// clients, whose pipeline brings retries, throttling (429 + Retry-After)
// and long-running-operation polling.
package azure

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hashicorp/hcl/v2"
)

// Clouds are the names the cloud setting accepts; "custom" takes its
// endpoints from resource_manager, audience and authority.
var Clouds = []string{"public", "usgovernment", "china", "custom"}

// Settings is an `azure "name"` block: where Azure Resource Manager is
// and who milink is there. Without a client secret the credential is
// azidentity's DefaultAzureCredential chain (environment, workload
// identity, managed identity, Azure CLI), as Azure users expect.
type Settings struct {
	Address        string // azure.main
	SubscriptionID string
	TenantID       string
	ClientID       string
	ClientSecret   string // sensitive
	Cloud          string // one of Clouds
	// ResourceManager, Audience and Authority override the cloud's
	// endpoints (required with cloud = "custom").
	ResourceManager string
	Audience        string
	Authority       string
	// CAFile is a PEM bundle trusted for ARM and Entra, instead of the
	// system's roots (the lab's own CA).
	CAFile    string
	DeclRange hcl.Range
}

// Credential says how the settings authenticate, for plans and errors.
func (s *Settings) Credential() string {
	if s.ClientSecret != "" {
		return "client secret"
	}
	return "DefaultAzureCredential"
}

// cloudConfig is the SDK's cloud configuration of the settings.
func (s *Settings) cloudConfig() cloud.Configuration {
	var c cloud.Configuration
	switch s.Cloud {
	case "usgovernment":
		c = cloud.AzureGovernment
	case "china":
		c = cloud.AzureChina
	case "custom":
		c = cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
	default:
		c = cloud.AzurePublic
	}
	// Copy the services map: the SDK's values are shared package variables.
	svc := map[cloud.ServiceName]cloud.ServiceConfiguration{}
	for k, v := range c.Services {
		svc[k] = v
	}
	rm := svc[cloud.ResourceManager]
	if s.ResourceManager != "" {
		rm.Endpoint = s.ResourceManager
		if s.Audience == "" && rm.Audience == "" {
			rm.Audience = strings.TrimSuffix(s.ResourceManager, "/")
		}
	}
	if s.Audience != "" {
		rm.Audience = s.Audience
	}
	svc[cloud.ResourceManager] = rm
	c.Services = svc
	if s.Authority != "" {
		c.ActiveDirectoryAuthorityHost = s.Authority
	}
	return c
}

// endpoint is the Resource Manager endpoint, for messages.
func (s *Settings) endpoint() string {
	return s.cloudConfig().Services[cloud.ResourceManager].Endpoint
}

// transport is the HTTP client: the system's roots, or the CA file's.
func (s *Settings) transport() (policy.Transporter, error) {
	if s.CAFile == "" {
		return nil, nil // the SDK's default
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", s.CAFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}, nil
}

// options are the pieces a run plugs into every client: a transport (the
// lab's CA, or the SDK's fakes in unit tests) and per-call policies (the
// recorder of golden files).
type options struct {
	transport policy.Transporter
	policies  []policy.Policy
	retry     *policy.RetryOptions
	// cred replaces the settings' credential (azfake.TokenCredential in
	// unit tests).
	cred azcore.TokenCredential
}

// clientOptions are the ARM clients' options: the cloud, the transport,
// no resource-provider registration (milink only reads and writes what
// exists; registering needs rights it should not need).
func (s *Settings) clientOptions(o options) (*arm.ClientOptions, error) {
	co := &arm.ClientOptions{DisableRPRegistration: true}
	co.Cloud = s.cloudConfig()
	co.Telemetry.ApplicationID = "milink"
	co.PerCallPolicies = o.policies
	if o.retry != nil {
		co.Retry = *o.retry
	}
	co.Transport = o.transport
	if co.Transport == nil {
		t, err := s.transport()
		if err != nil {
			return nil, err
		}
		co.Transport = t
	}
	return co, nil
}

// credential builds the token credential of the settings.
func (s *Settings) credential(o options) (azcore.TokenCredential, error) {
	if o.cred != nil {
		return o.cred, nil
	}
	co := azcore.ClientOptions{Cloud: s.cloudConfig(), Transport: o.transport}
	if o.retry != nil {
		co.Retry = *o.retry
	}
	if co.Transport == nil {
		t, err := s.transport()
		if err != nil {
			return nil, err
		}
		co.Transport = t
	}
	// A custom cloud has no instance metadata at login.microsoftonline.com.
	custom := s.Cloud == "custom" || s.Authority != ""
	if s.ClientSecret != "" {
		if s.TenantID == "" || s.ClientID == "" {
			return nil, errors.New("a client secret needs tenant_id and client_id")
		}
		return azidentity.NewClientSecretCredential(s.TenantID, s.ClientID, s.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
	}
	return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: co, TenantID: s.TenantID, DisableInstanceDiscovery: custom,
	})
}

// scope is what a token is asked for: Resource Manager's audience.
func (s *Settings) scope() string {
	aud := s.cloudConfig().Services[cloud.ResourceManager].Audience
	return strings.TrimSuffix(aud, "/") + "/.default"
}

// redact removes the client secret from an error's text, whatever produced it.
func (s *Settings) redact(msg string) string {
	if len(s.ClientSecret) >= 4 {
		msg = strings.ReplaceAll(msg, s.ClientSecret, "(sensitive)")
	}
	return msg
}
