package config

import (
	"strings"
	"testing"
)

func TestBackendBlock(t *testing.T) {
	const secret = "sv=2024&sig=TopSecretSignature"
	for _, tc := range []struct {
		name, src string
		vars      Vars
		want      Backend
		err       string
	}{
		{name: "none", src: ``},
		{
			name: "azurerm",
			src: `backend "azurerm" {
  storage_account = "acct"
  container       = "state"
  key             = "eu.milink.state.json"
  endpoint        = "http://127.0.0.1:10000/devstoreaccount1"
  lease_seconds   = 15
}`,
			want: Backend{Type: "azurerm", StorageAccount: "acct", Container: "state", Key: "eu.milink.state.json", Endpoint: "http://127.0.0.1:10000/devstoreaccount1", LeaseSeconds: 15},
		},
		{
			name: "sas from a sensitive variable",
			src: `variable "sas" {
  sensitive = true
}
backend "azurerm" {
  storage_account = "acct"
  container       = "state"
  sas_token       = var.sas
}`,
			vars: Vars{Args: []string{"sas=" + secret}},
			want: Backend{Type: "azurerm", StorageAccount: "acct", Container: "state", SASToken: secret},
		},
		{name: "unknown type", src: `backend "s3" {}`, err: "Unsupported backend type"},
		{name: "missing container", src: `backend "azurerm" { storage_account = "a" }`, err: `"container" is required`},
		{name: "two", src: "backend \"azurerm\" {\n storage_account = \"a\"\n container = \"c\"\n}\nbackend \"azurerm\" {\n storage_account = \"a\"\n container = \"c\"\n}", err: "Duplicate backend block"},
		{name: "lease", src: `backend "azurerm" {
  storage_account = "a"
  container = "c"
  lease_seconds = 5
}`, err: "15 to 60"},
		{name: "endpoint with a query", src: `backend "azurerm" {
  storage_account = "a"
  container = "c"
  endpoint = "https://a.blob.core.windows.net/?` + secret + `"
}`, err: "without a query"},
		{name: "both credentials", src: `backend "azurerm" {
  storage_account = "a"
  container = "c"
  sas_token = "x"
  access_key = "y"
}`, err: "not both"},
		{name: "misspelt attribute", src: `backend "azurerm" {
  storage_acount = "a"
  container = "c"
}`, err: "storage_acount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, src, diags, _ := loadSrc(t, tc.src, tc.vars)
			text := render(t, src, diags)
			if strings.Contains(text, "TopSecretSignature") {
				t.Errorf("a diagnostic shows the secret:\n%s", text)
			}
			if tc.err != "" {
				if !diags.HasErrors() || !strings.Contains(text, tc.err) {
					t.Fatalf("diagnostics = %s, want %q", text, tc.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(text)
			}
			if tc.want.Type == "" {
				if cfg.Backend != nil {
					t.Errorf("Backend = %+v, want nil", cfg.Backend)
				}
				return
			}
			got := *cfg.Backend
			got.DeclRange = tc.want.DeclRange
			if got != tc.want {
				t.Errorf("Backend = %+v, want %+v", got, tc.want)
			}
		})
	}
}
