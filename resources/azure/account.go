package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
)

// KindAzure is the `azure "name"` block: subscription, tenant and
// credentials, which managed_instance blocks name (azure = azure.main),
// as Terraform resources name a provider configuration.
const KindAzure = "azure"

// Account is an open azure target: its credential, checked at refresh
// by asking Entra for a Resource Manager token, so that missing, expired
// or wrong-tenant credentials are one clear error naming the block before
// anything changes.
type Account struct {
	s    *Settings
	cred azcore.TokenCredential
}

type accountOpener struct{ opts options }

func (o accountOpener) Open(_ context.Context, _ resources.Env, address string, cfg any) (resources.Target, error) {
	s, ok := cfg.(*Settings)
	if !ok {
		return nil, fmt.Errorf("%s: not an azure configuration", address)
	}
	cred, err := s.credential(o.opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", s.Address, s.redact(err.Error()))
	}
	return &Account{s: s, cred: cred}, nil
}

// Address is azure.NAME.
func (a *Account) Address() string { return a.s.Address }

// Close has nothing to release: the SDK's clients hold no connection of
// their own beyond the shared HTTP transport.
func (a *Account) Close() error { return nil }

// Refresh asks for a token: the only way to know the credentials work.
func (a *Account) Refresh(ctx context.Context, _ []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	if _, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.s.scope()}}); err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot sign in to Azure with " + a.s.Address,
			Detail:   a.s.redact(tokenError(a.s, err).Error()),
			Subject:  a.s.DeclRange.Ptr(),
		}}
	}
	return &accountObserved{s: a.s}, nil
}

type accountObserved struct{ s *Settings }

func (o *accountObserved) Summary() resources.TargetSummary {
	name := strings.TrimPrefix(o.s.Address, KindAzure+".")
	return resources.TargetSummary{
		Address: o.s.Address, Type: KindAzure, Name: name, Where: o.s.endpoint(),
		Facts: map[string]string{"subscription_id": o.s.SubscriptionID, "credential": o.s.Credential(), "cloud": o.s.Cloud},
	}
}

// Values are what managed_instance blocks copy of the settings (beside
// the block's own arguments, which they read too); no secret.
func (o *accountObserved) Values() map[string]cty.Value {
	return map[string]cty.Value{
		"subscription_id":  cty.StringVal(o.s.SubscriptionID),
		"tenant_id":        cty.StringVal(o.s.TenantID),
		"cloud":            cty.StringVal(o.s.Cloud),
		"resource_manager": cty.StringVal(o.s.endpoint()),
	}
}

var aadCode = regexp.MustCompile(`AADSTS\d+`)

// tokenError is why Entra refused a token, in one sentence: the AADSTS
// code and its meaning (unknown tenant, wrong or expired secret, an
// application the tenant does not know), instead of azidentity's
// multi-line report.
func tokenError(s *Settings, err error) error {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if afe.RawResponse.Body != nil {
			data, _ := io.ReadAll(io.LimitReader(afe.RawResponse.Body, 1<<16))
			_ = json.Unmarshal(data, &body)
		}
		desc, _, _ := strings.Cut(body.Description, "\r\n")
		desc, _, _ = strings.Cut(desc, "\n")
		what := credentialProblem(aadCode.FindString(desc), afe.RawResponse.StatusCode)
		if desc == "" {
			desc = fmt.Sprintf("HTTP %d", afe.RawResponse.StatusCode)
		}
		if body.Error != "" {
			desc = body.Error + ": " + desc
		}
		return fmt.Errorf("%s: %s (tenant %q, %s): %s", s.Address, what, s.TenantID, s.Credential(), desc)
	}
	if s.ClientSecret == "" {
		// DefaultAzureCredential's chain found nothing it could use.
		return fmt.Errorf("%s: no credentials found (%s): set client_id and client_secret, the AZURE_* environment variables, or log in with az login: %s",
			s.Address, s.Credential(), firstLine(err.Error()))
	}
	return fmt.Errorf("%s: getting a token: %s", s.Address, firstLine(err.Error()))
}

// credentialProblem names the usual AADSTS codes.
func credentialProblem(code string, status int) string {
	switch code {
	case "AADSTS90002", "AADSTS900023":
		return "the tenant does not exist"
	case "AADSTS7000215":
		return "the client secret is wrong"
	case "AADSTS7000222":
		return "the client secret has expired"
	case "AADSTS700016":
		return "the application is not known in this tenant"
	}
	if status == http.StatusUnauthorized || status == http.StatusBadRequest {
		return "the credentials were refused"
	}
	return "Entra did not issue a token"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "---") {
			return l
		}
	}
	return s
}
