package config

import (
	"fmt"
	"net/url"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Backend is the configuration's backend block: where the state lives.
// Without one the state is the local file beside the configuration.
//
//	backend "azurerm" {
//	  storage_account = "contosomilink"
//	  container       = "milink-state"
//	  key             = "fleet-eu.milink.state.json"
//	}
//
// The block is self-contained: it carries its own credential settings
// rather than borrowing another block's, so that the state can be read
// (state pull, show) from the block alone.
type Backend struct {
	// Type is the label: "azurerm".
	Type           string
	StorageAccount string
	Container      string
	Key            string
	// Endpoint overrides https://ACCOUNT.blob.core.windows.net (Azurite,
	// sovereign clouds).
	Endpoint string
	// SASToken and AccessKey are secrets, for those who cannot use Entra
	// ID; they are scrubbed from every diagnostic.
	SASToken  string
	AccessKey string
	// LeaseSeconds is the lock's lease (15..60); 0 for the default.
	LeaseSeconds int
	// Unknown is set when a value is not known (milink validate without
	// every variable): the block was checked, not resolved.
	Unknown   bool
	DeclRange hcl.Range
}

var backendSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "storage_account", Required: true},
	{Name: "container", Required: true},
	{Name: "key"},
	{Name: "endpoint"},
	{Name: "sas_token"},
	{Name: "access_key"},
	{Name: "lease_seconds"},
}}

// BackendTypes are the labels a backend block may have.
var BackendTypes = []string{"azurerm"}

// decodeBackend reads the backend block, if any: at most one, of a known
// type, with its values.
func (l *loader) decodeBackend(blocks []*hcl.Block) *Backend {
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate backend block",
			Detail:   fmt.Sprintf("A configuration has one backend; another was declared at %s.", blocks[0].DefRange),
			Subject:  b.DefRange.Ptr(),
		})
	}
	b := blocks[0]
	if b.Labels[0] != "azurerm" {
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported backend type",
			Detail:   fmt.Sprintf("milink stores state in a local file (no backend block) or in Azure Blob Storage (backend \"azurerm\"), not %q.", b.Labels[0]),
			Subject:  b.LabelRanges[0].Ptr(),
		}
		if s := suggest(b.Labels[0], BackendTypes); s != "" {
			d.Detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		l.diags = append(l.diags, d)
		return nil
	}
	content, diags := b.Body.Content(backendSchema)
	l.diags = append(l.diags, diags...)
	be := &Backend{Type: b.Labels[0], DeclRange: b.DefRange}
	str := func(name string, dst *string, secret bool) {
		a, ok := content.Attributes[name]
		if !ok {
			return
		}
		v, diags := a.Expr.Value(l.ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			return
		}
		v, _ = unmarked(v)
		if !v.IsWhollyKnown() {
			be.Unknown = true
			return
		}
		sv, err := convert.Convert(v, cty.String)
		if err != nil || sv.IsNull() {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid backend setting",
				Detail:   fmt.Sprintf("%s must be a string.", name),
				Subject:  a.Expr.Range().Ptr(),
			})
			return
		}
		*dst = sv.AsString()
		if secret && *dst != "" {
			l.addSecret(*dst)
		}
	}
	str("storage_account", &be.StorageAccount, false)
	str("container", &be.Container, false)
	str("key", &be.Key, false)
	str("endpoint", &be.Endpoint, false)
	str("sas_token", &be.SASToken, true)
	str("access_key", &be.AccessKey, true)
	if a, ok := content.Attributes["lease_seconds"]; ok {
		v, diags := a.Expr.Value(l.ctx)
		l.diags = append(l.diags, diags...)
		v, _ = unmarked(v)
		switch {
		case diags.HasErrors():
		case !v.IsWhollyKnown():
			be.Unknown = true
		default:
			n, err := convert.Convert(v, cty.Number)
			var i int64
			if err == nil && !n.IsNull() {
				i, _ = n.AsBigFloat().Int64()
			}
			if err != nil || n.IsNull() || i < 15 || i > 60 {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid backend setting",
					Detail:   "lease_seconds must be a whole number from 15 to 60 (Azure's bounds for a lease).",
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				be.LeaseSeconds = int(i)
			}
		}
	}
	if be.SASToken != "" && be.AccessKey != "" {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Conflicting backend credentials",
			Detail:   "Give sas_token or access_key, not both (or neither, to sign in with Entra ID through DefaultAzureCredential).",
			Subject:  b.DefRange.Ptr(),
		})
	}
	if be.Endpoint != "" {
		if u, err := url.Parse(be.Endpoint); err == nil && u.RawQuery != "" {
			// A SAS pasted into the URL: never echo it.
			l.addSecret(u.RawQuery)
		}
		if u, err := url.Parse(be.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			a := content.Attributes["endpoint"]
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid backend setting",
				Detail:   "endpoint must be the blob service's URL, such as https://ACCOUNT.blob.core.usgovcloudapi.net or http://127.0.0.1:10000/devstoreaccount1 for Azurite, without a query (put a SAS in sas_token).",
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	return be
}
