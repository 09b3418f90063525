package azure

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// Kinds returns the Azure kinds: the settings and the managed instance
// (targets), then the NSG rules and the link's trust certificate.
func Kinds() []*resources.Kind {
	return []*resources.Kind{azureKind, managedInstanceKind, nsgRuleKind, trustCertKind}
}

// settingsAttrs are the attributes of an azure block; managed_instance
// blocks read the same names from the block they refer to.
var settingsAttrs = []hcl.AttributeSchema{
	{Name: "subscription_id", Required: true}, {Name: "tenant_id"}, {Name: "client_id"}, {Name: "client_secret"},
	{Name: "cloud"}, {Name: "resource_manager"}, {Name: "audience"}, {Name: "authority"}, {Name: "ca_file"},
}

var azureKind = &resources.Kind{
	Type:      KindAzure,
	Role:      resources.RoleTarget,
	Schema:    &hcl.BodySchema{Attributes: settingsAttrs},
	Decode:    decodeSettings,
	Sensitive: []string{"client_secret"},
	Impl:      accountOpener{},
}

func decodeSettings(b *lang.Body, blk resources.BlockInfo) any {
	s := &Settings{Address: blk.Address, DeclRange: b.Range}
	s.SubscriptionID = b.Required("subscription_id", false, "in an azure block")
	s.TenantID = b.Str("tenant_id", "", false)
	s.ClientID = b.Str("client_id", "", false)
	s.ClientSecret = b.Str("client_secret", "", true)
	s.Cloud = b.OneOf("cloud", "public", Clouds...)
	s.ResourceManager = b.Str("resource_manager", "", false)
	s.Audience = b.Str("audience", "", false)
	s.Authority = b.Str("authority", "", false)
	s.CAFile = b.Str("ca_file", "", false)
	if s.CAFile != "" && !strings.HasPrefix(s.CAFile, "/") {
		// Relative to the configuration, as file() reads.
		if dir, ok := b.Context().Variables["path"]; ok && dir.Type().IsObjectType() && dir.Type().HasAttribute("module") {
			if m := dir.GetAttr("module"); m.IsKnown() && !m.IsNull() {
				s.CAFile = m.AsString() + "/" + s.CAFile
			}
		}
	}
	if b.Unknown("client_secret") || b.Unknown("client_id") || b.Unknown("tenant_id") || b.Unknown("cloud") || b.Unknown("resource_manager") {
		return s
	}
	if s.ClientSecret != "" && (s.ClientID == "" || s.TenantID == "") {
		b.Errorf(b.Attr("client_secret"), "Incomplete client credentials",
			"A client secret needs client_id and tenant_id beside it.")
	}
	if s.ClientSecret == "" && s.ClientID != "" && b.Attr("client_secret") == nil {
		// Not an error: DefaultAzureCredential uses client_id for a
		// user-assigned managed identity or workload identity.
		s.ClientID = strings.TrimSpace(s.ClientID)
	}
	if s.Cloud == "custom" && s.ResourceManager == "" {
		b.Errorf(b.Attr("cloud"), "Missing resource_manager",
			"cloud = \"custom\" needs resource_manager (the Resource Manager endpoint) and authority (the Entra host).")
	}
	for _, name := range []string{"resource_manager", "authority"} {
		if v := b.Str(name, "", false); v != "" && !strings.HasPrefix(v, "https://") {
			b.Errorf(b.Attr(name), "Invalid endpoint", "%s must be an https:// URL: Azure credentials are never sent over plain HTTP.", name)
		}
	}
	return s
}

// settingsFrom reads the settings a managed_instance block refers to
// (azure = azure.main): the azure block's value, its arguments as written.
func settingsFrom(b *lang.Body) (*Settings, bool) {
	v, a, st := b.Value("azure", cty.DynamicPseudoType, false)
	if st != lang.Good {
		return nil, false
	}
	v, _ = lang.Unmarked(v)
	if !v.Type().IsObjectType() || !v.Type().HasAttribute("subscription_id") {
		b.Errorf(a, "Invalid azure reference", "The argument \"azure\" names an azure block: azure = azure.main.")
		return nil, false
	}
	get := func(name string) string {
		if !v.Type().HasAttribute(name) {
			return ""
		}
		x := v.GetAttr(name)
		if !x.IsKnown() || x.IsNull() || x.Type() != cty.String {
			return ""
		}
		return x.AsString()
	}
	s := &Settings{
		SubscriptionID: get("subscription_id"), TenantID: get("tenant_id"),
		ClientID: get("client_id"), ClientSecret: get("client_secret"),
		Cloud: get("cloud"), ResourceManager: get("resource_manager"), Audience: get("audience"),
		Authority: get("authority"), CAFile: get("ca_file"), DeclRange: b.Range,
	}
	if s.Cloud == "" {
		s.Cloud = "public"
	}
	if s.CAFile != "" && !strings.HasPrefix(s.CAFile, "/") {
		if dir, ok := b.Context().Variables["path"]; ok && dir.Type().IsObjectType() && dir.Type().HasAttribute("module") {
			if m := dir.GetAttr("module"); m.IsKnown() && !m.IsNull() {
				s.CAFile = m.AsString() + "/" + s.CAFile
			}
		}
	}
	b.Sink().AddSecret(s.ClientSecret)
	if r, ok := refAddress(a); ok {
		s.Address = r
	}
	return s, true
}

// refAddress is the address an attribute's expression refers to
// (azure.main), when it is a plain reference.
func refAddress(a *hcl.Attribute) (string, bool) {
	for _, tr := range a.Expr.Variables() {
		if tr.RootName() != KindAzure || len(tr) < 2 {
			continue
		}
		if at, ok := tr[1].(hcl.TraverseAttr); ok {
			return KindAzure + "." + at.Name, true
		}
	}
	return "", false
}

// KindManagedInstance is the managed_instance target.
const KindManagedInstance = "managed_instance"

var managedInstanceKind = &resources.Kind{
	Type: KindManagedInstance,
	Role: resources.RoleTarget,
	Schema: &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "azure", Required: true}, {Name: "resource_group"}, {Name: "name"}, {Name: "id"},
			{Name: "address"}, {Name: "port"}, {Name: "encrypt"}, {Name: "trust_server_certificate"},
			{Name: "connect_timeout"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "authentication"}},
	},
	Decode:    decodeManagedInstance,
	Sensitive: []string{"password", "client_secret"},
	Impl:      miOpener{},
}

// Config is a `managed_instance "name"` block.
type Config struct {
	Address       string // managed_instance.mi01
	Azure         *Settings
	ResourceGroup string
	Name          string // the managed instance's name in Azure
	// SQL is how milink logs in over TDS (certificate checks): address
	// (default: the FQDN Azure reports), port (default 1433).
	SQLAddress             string
	Port                   int
	Encrypt                string
	TrustServerCertificate bool
	User, Password         string
	// Entra logs in with a Microsoft Entra token from the azure
	// settings' credential (authentication { method = "entra" }).
	Entra                 bool
	ConnectTimeoutSeconds int
	DeclRange             hcl.Range
}

// ID is the managed instance's resource ID.
func (c *Config) ID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Sql/managedInstances/%s", c.Azure.SubscriptionID, c.ResourceGroup, c.Name)
}

var miAuthSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "method"}, {Name: "user"}, {Name: "password"}}}

func decodeManagedInstance(b *lang.Body, blk resources.BlockInfo) any {
	c := &Config{Address: blk.Address, DeclRange: b.Range}
	s, ok := settingsFrom(b)
	if !ok {
		s = &Settings{Cloud: "public"}
	}
	c.Azure = s
	c.ResourceGroup = b.Str("resource_group", "", false)
	c.Name = b.Str("name", "", false)
	if id := b.Str("id", "", false); id != "" {
		if b.Attr("name") != nil || b.Attr("resource_group") != nil {
			b.Errorf(b.Attr("id"), "Conflicting arguments", "Give either id, or resource_group and name, not both.")
		}
		rid, err := arm.ParseResourceID(id)
		if err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Sql/managedInstances") {
			b.Errorf(b.Attr("id"), "Invalid managed instance ID",
				"The id must be a managed instance's resource ID: /subscriptions/…/resourceGroups/…/providers/Microsoft.Sql/managedInstances/NAME.")
		} else {
			c.ResourceGroup, c.Name = rid.ResourceGroupName, rid.Name
			if ok && s.SubscriptionID != "" && !strings.EqualFold(rid.SubscriptionID, s.SubscriptionID) {
				// The ID wins: the same credential may reach several subscriptions.
				copied := *s
				copied.SubscriptionID = rid.SubscriptionID
				c.Azure = &copied
			}
		}
	} else if !b.Unknown("id") && !b.Unknown("name") && !b.Unknown("resource_group") && (c.Name == "" || c.ResourceGroup == "") {
		b.Errorf(nil, "Missing managed instance name",
			"A managed_instance block names the instance: resource_group and name, or id (its resource ID).")
	}
	c.SQLAddress = b.Str("address", "", false)
	c.Port = b.Int("port", 1433, 1, 65535)
	c.Encrypt = b.OneOf("encrypt", "true", "disable", "false", "true", "strict")
	c.TrustServerCertificate = b.Bool("trust_server_certificate", false)
	c.ConnectTimeoutSeconds = int(b.Duration("connect_timeout", 0).Seconds())
	auths := b.Blocks("authentication")
	if len(auths) > 1 {
		b.Sink().Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate authentication block",
			Detail: "A managed_instance block has at most one authentication block.", Subject: auths[1].DefRange.Ptr()})
	}
	if len(auths) > 0 {
		ab := b.Sub(auths[0], miAuthSchema)
		if ab.OneOf("method", "sql", "sql", "entra") == "entra" {
			// The token comes from the azure settings' credential, the
			// one Resource Manager is called with.
			c.Entra = true
			for _, name := range []string{"user", "password"} {
				if a := ab.Attr(name); a != nil {
					ab.Errorf(a, "Argument not valid with Microsoft Entra", "%q applies to SQL authentication; with method = \"entra\" milink logs in with a token from the azure settings' credential.", name)
				}
			}
		} else {
			c.User = ab.Required("user", false, "for SQL authentication")
			c.Password = ab.Required("password", true, "for SQL authentication")
		}
	}
	return c
}
