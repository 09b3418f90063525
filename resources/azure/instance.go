package azure

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
	"github.com/hashicorp/hcl/v2"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

type miOpener struct{ opts options }

func (o miOpener) Open(_ context.Context, _ resources.Env, address string, cfg any) (resources.Target, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("%s: not a managed_instance configuration", address)
	}
	return openManagedInstance(c, o.opts)
}

// ManagedInstance is an open managed_instance target: Resource Manager
// clients for the instance and its network, and, opened on first use, a
// TDS connection to the instance itself (ARM has no GET for what the
// instance holds, such as its certificates).
type ManagedInstance struct {
	c    *Config
	opts options
	cred azcore.TokenCredential
	mis  *armsql.ManagedInstancesClient
	tde  *armsql.ManagedInstanceTdeCertificatesClient
	// link is the client of the link calls (armlink.go), at LinkAPIVersion.
	link  *arm.Client
	netMu sync.Mutex
	nets  map[string]*netClients // by subscription ID

	// obs is the last refresh's observation (the FQDN for TDS).
	obsMu sync.Mutex
	obs   *Observed

	dbMu sync.Mutex
	db   *sql.DB
}

type netClients struct {
	subnets *armnetwork.SubnetsClient
	nsgs    *armnetwork.SecurityGroupsClient
	rules   *armnetwork.SecurityRulesClient
}

func openManagedInstance(c *Config, o options) (*ManagedInstance, error) {
	cred, err := c.Azure.credential(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", c.Address, c.Azure.redact(err.Error()))
	}
	co, err := c.Azure.clientOptions(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Address, err)
	}
	m := &ManagedInstance{c: c, opts: o, cred: cred, nets: map[string]*netClients{}}
	if m.mis, err = armsql.NewManagedInstancesClient(c.Azure.SubscriptionID, cred, co); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Address, err)
	}
	if m.tde, err = armsql.NewManagedInstanceTdeCertificatesClient(c.Azure.SubscriptionID, cred, co); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Address, err)
	}
	if m.link, err = newLinkClient(cred, co); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Address, err)
	}
	return m, nil
}

// network returns the network clients of a subscription (an NSG may live
// in another subscription than the managed instance).
func (m *ManagedInstance) network(sub string) (*netClients, error) {
	m.netMu.Lock()
	defer m.netMu.Unlock()
	if n, ok := m.nets[sub]; ok {
		return n, nil
	}
	co, err := m.c.Azure.clientOptions(m.opts)
	if err != nil {
		return nil, err
	}
	f, err := armnetwork.NewClientFactory(sub, m.cred, co)
	if err != nil {
		return nil, err
	}
	n := &netClients{subnets: f.NewSubnetsClient(), nsgs: f.NewSecurityGroupsClient(), rules: f.NewSecurityRulesClient()}
	m.nets[sub] = n
	return n, nil
}

// Address is managed_instance.NAME.
func (m *ManagedInstance) Address() string { return m.c.Address }

// Config is the configuration the target was opened with.
func (m *ManagedInstance) Config() *Config { return m.c }

// Close ends the TDS connection, if one was opened.
func (m *ManagedInstance) Close() error {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if m.db != nil {
		err := m.db.Close()
		m.db = nil
		return err
	}
	return nil
}

// Observed is what a refresh read of the managed instance and its network.
type Observed struct {
	c              *Config
	ID             string
	FQDN           string
	State          string
	ServiceTier    string
	Location       string
	Collation      string
	SubnetID       string
	SubnetPrefixes []string
	NSGID          string // the NSG on the subnet, "" when none
	// NSGs are the network security groups the nsg_rule blocks act on,
	// by lower-cased ID, with their rules.
	NSGs map[string]*NSG
	// nsgErr says why an NSG could not be read, by lower-cased ID.
	nsgErr map[string]error

	alloc *allocator
}

// NSG is a network security group as read, with its separate rules.
type NSG struct {
	ID    string
	Rules map[string]*Rule // by lower-cased name
}

// Summary is the plan's header for the instance.
func (o *Observed) Summary() resources.TargetSummary {
	name := strings.TrimPrefix(o.c.Address, KindManagedInstance+".")
	return resources.TargetSummary{
		Address: o.c.Address, Type: KindManagedInstance, Name: name, Where: o.FQDN,
		Facts: map[string]string{"state": o.State, "service_tier": o.ServiceTier, "subnet_prefixes": strings.Join(o.SubnetPrefixes, ", ")},
	}
}

// Values are the attributes expressions may refer to:
// managed_instance.mi01.subnet_prefixes, .fqdn, .nsg_id ...
func (o *Observed) Values() map[string]cty.Value {
	prefixes := cty.ListValEmpty(cty.String)
	if len(o.SubnetPrefixes) > 0 {
		var vs []cty.Value
		for _, p := range o.SubnetPrefixes {
			vs = append(vs, cty.StringVal(p))
		}
		prefixes = cty.ListVal(vs)
	}
	return map[string]cty.Value{
		"id":              cty.StringVal(o.ID),
		"name":            cty.StringVal(o.c.Name),
		"resource_group":  cty.StringVal(o.c.ResourceGroup),
		"subscription_id": cty.StringVal(o.c.Azure.SubscriptionID),
		"fqdn":            cty.StringVal(o.FQDN),
		"state":           cty.StringVal(o.State),
		"service_tier":    cty.StringVal(o.ServiceTier),
		"location":        cty.StringVal(o.Location),
		"collation":       cty.StringVal(o.Collation),
		"subnet_id":       cty.StringVal(o.SubnetID),
		"subnet_prefixes": prefixes,
		"nsg_id":          cty.StringVal(o.NSGID),
	}
}

// Refresh reads the managed instance, its subnet, and the NSGs the
// nsg_rule blocks on it act on (the subnet's, and any named one).
func (m *ManagedInstance) Refresh(ctx context.Context, res []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	o, err := m.refresh(ctx, res)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + m.c.Address,
			Detail:   m.c.Azure.redact(err.Error()),
			Subject:  m.c.DeclRange.Ptr(),
		}}
	}
	m.obsMu.Lock()
	m.obs = o
	m.obsMu.Unlock()
	return o, nil
}

func (m *ManagedInstance) refresh(ctx context.Context, res []resources.Instance) (*Observed, error) {
	got, err := m.mis.Get(ctx, m.c.ResourceGroup, m.c.Name, nil)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("%s: the managed instance %q does not exist in resource group %q of subscription %s (%s)",
				m.c.Address, m.c.Name, m.c.ResourceGroup, m.c.Azure.SubscriptionID, azureCode(err))
		}
		return nil, armError(m.c.Address, "reading the managed instance", m.c.Azure, err)
	}
	o := &Observed{c: m.c, ID: deref(got.ID), Location: deref(got.Location), NSGs: map[string]*NSG{}, nsgErr: map[string]error{}}
	if got.SKU != nil {
		o.ServiceTier = deref(got.SKU.Tier)
	}
	if p := got.Properties; p != nil {
		o.FQDN = deref(p.FullyQualifiedDomainName)
		o.State = deref(p.State)
		o.Collation = deref(p.Collation)
		o.SubnetID = deref(p.SubnetID)
	}
	if o.SubnetID == "" {
		return nil, fmt.Errorf("%s: Azure reports no subnet for the managed instance", m.c.Address)
	}
	sid, err := arm.ParseResourceID(o.SubnetID)
	if err != nil || sid.Parent == nil {
		return nil, fmt.Errorf("%s: the managed instance's subnet ID %q cannot be parsed", m.c.Address, o.SubnetID)
	}
	net, err := m.network(sid.SubscriptionID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.c.Address, err)
	}
	sub, err := net.subnets.Get(ctx, sid.ResourceGroupName, sid.Parent.Name, sid.Name, nil)
	if err != nil {
		return nil, armError(m.c.Address, "reading the managed instance's subnet", m.c.Azure, err)
	}
	if p := sub.Properties; p != nil {
		if p.AddressPrefix != nil && *p.AddressPrefix != "" {
			o.SubnetPrefixes = append(o.SubnetPrefixes, *p.AddressPrefix)
		}
		for _, x := range p.AddressPrefixes {
			if x != nil && *x != "" && !contains(o.SubnetPrefixes, *x) {
				o.SubnetPrefixes = append(o.SubnetPrefixes, *x)
			}
		}
		if p.NetworkSecurityGroup != nil {
			o.NSGID = deref(p.NetworkSecurityGroup.ID)
		}
	}
	// The NSGs the rules need: read each once, concurrently would gain
	// little (one or two), so in order.
	want := map[string]string{}
	if o.NSGID != "" {
		want[strings.ToLower(o.NSGID)] = o.NSGID
	}
	for _, r := range res {
		if cfg, ok := r.Config.(*RuleConfig); ok && cfg.NSGID != "" {
			want[strings.ToLower(cfg.NSGID)] = cfg.NSGID
		}
	}
	ids := make([]string, 0, len(want))
	for k := range want {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	for _, k := range ids {
		nsg, err := m.readNSG(ctx, want[k])
		if err != nil {
			o.nsgErr[k] = err
			continue
		}
		o.NSGs[k] = nsg
	}
	o.alloc = newAllocator(o, res)
	return o, nil
}

// readNSG reads a network security group and its separate rules.
func (m *ManagedInstance) readNSG(ctx context.Context, id string) (*NSG, error) {
	rid, err := arm.ParseResourceID(id)
	if err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Network/networkSecurityGroups") {
		return nil, fmt.Errorf("%q is not a network security group ID", id)
	}
	net, err := m.network(rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	got, err := net.nsgs.Get(ctx, rid.ResourceGroupName, rid.Name, nil)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("the network security group %s does not exist (%s)", id, azureCode(err))
		}
		return nil, armError("", "reading the network security group "+rid.Name, m.c.Azure, err)
	}
	nsg := &NSG{ID: deref(got.ID), Rules: map[string]*Rule{}}
	if nsg.ID == "" {
		nsg.ID = id
	}
	if got.Properties != nil {
		for _, r := range got.Properties.SecurityRules {
			if r == nil || r.Name == nil {
				continue
			}
			rule := ruleFromSDK(r)
			nsg.Rules[strings.ToLower(rule.Name)] = rule
		}
	}
	return nsg, nil
}

// observed is the last refresh's observation.
func (m *ManagedInstance) observed() *Observed {
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	return m.obs
}

// ImportTDECertificate uploads a certificate with its private key (a
// PKCS#12 blob and its password) to the managed instance: the
// tdeCertificates POST, a long-running operation polled to completion.
// Neither the blob nor the password appears in any error or log.
func (m *ManagedInstance) ImportTDECertificate(ctx context.Context, pfx []byte, password string) error {
	if len(pfx) == 0 {
		return fmt.Errorf("%s: uploading the TDE certificate: no PKCS#12 data", m.c.Address)
	}
	blob := base64.StdEncoding.EncodeToString(pfx)
	params := armsql.TdeCertificate{Properties: &armsql.TdeCertificateProperties{PrivateBlob: to.Ptr(blob), CertPassword: to.Ptr(password)}}
	poller, err := m.tde.BeginCreate(ctx, m.c.ResourceGroup, m.c.Name, params, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, &runtimePollOptions)
	}
	if err != nil {
		msg := armError(m.c.Address, "uploading the TDE certificate", m.c.Azure, err).Error()
		for _, secret := range []string{blob, password} {
			if len(secret) >= 4 {
				msg = strings.ReplaceAll(msg, secret, resources.Redacted)
			}
		}
		return errors.New(msg)
	}
	return nil
}

// HasCertificate reports whether the managed instance holds a certificate
// with this SHA-1 thumbprint in master.sys.certificates, read over TDS.
func (m *ManagedInstance) HasCertificate(ctx context.Context, thumbprint []byte) (bool, error) {
	db, err := m.sqlDB()
	if err != nil {
		return false, err
	}
	var n int
	err = db.QueryRowContext(ctx, hasCertificateSQL, sql.Named("thumbprint", thumbprint)).Scan(&n)
	if err != nil {
		return false, m.sqlError("reading master.sys.certificates", err)
	}
	return n > 0, nil
}

// hasCertificateSQL is what HasCertificate sends (a parameter, not text).
const hasCertificateSQL = "SELECT COUNT(*) FROM master.sys.certificates WHERE thumbprint = @thumbprint"

// sqlDB opens the TDS connection on first use, to the address configured
// or the FQDN the refresh read.
func (m *ManagedInstance) sqlDB() (*sql.DB, error) {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if m.db != nil {
		return m.db, nil
	}
	if m.c.User == "" && !m.c.Entra {
		return nil, fmt.Errorf("%s: no authentication block: milink cannot log in to the managed instance", m.c.Address)
	}
	host := m.c.SQLAddress
	if host == "" {
		if o := m.observed(); o != nil {
			host = o.FQDN
		}
	}
	if host == "" {
		return nil, fmt.Errorf("%s: the managed instance's address is not known (refresh it first, or set address)", m.c.Address)
	}
	s := &sqlserver.Server{
		Name: strings.TrimPrefix(m.c.Address, KindManagedInstance+"."), Address: host, Port: m.c.Port,
		Auth: sqlserver.Auth{Method: "sql", User: m.c.User, Password: m.c.Password}, Encrypt: m.c.Encrypt,
		TrustServerCertificate: m.c.TrustServerCertificate, ConnectTimeout: time.Duration(m.c.ConnectTimeoutSeconds) * time.Second,
	}
	var connector *mssql.Connector
	var err error
	if m.c.Entra {
		s.Auth = sqlserver.Auth{Method: "entra"}
		connector, err = mssql.NewConnectorWithAccessTokenProvider(sqlserver.DSN(s), func(ctx context.Context) (string, error) {
			tok, err := m.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{sqlserver.SQLScope}})
			if err != nil {
				return "", fmt.Errorf("a Microsoft Entra token for Azure SQL: %s", m.c.Azure.redact(err.Error()))
			}
			return tok.Token, nil
		})
	} else {
		connector, err = mssql.NewConnector(sqlserver.DSN(s))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", m.c.Address, m.redactSQL(err.Error()))
	}
	m.db = sql.OpenDB(connector)
	m.db.SetMaxOpenConns(1)
	return m.db, nil
}

// sqlError keeps SQL Server's number and message, never the password.
func (m *ManagedInstance) sqlError(what string, err error) error {
	var se mssql.Error
	if errors.As(err, &se) {
		first := se
		if len(se.All) > 0 {
			first = se.All[0]
		}
		return fmt.Errorf("%s: %s: %s (SQL Server error %d)", m.c.Address, what, m.redactSQL(strings.TrimPrefix(first.Message, "login error: ")), first.Number)
	}
	return errors.New(m.redactSQL(fmt.Sprintf("%s: %s: %v", m.c.Address, what, err)))
}

func (m *ManagedInstance) redactSQL(msg string) string {
	if len(m.c.Password) >= 4 {
		msg = strings.ReplaceAll(msg, m.c.Password, resources.Redacted)
	}
	return m.c.Azure.redact(msg)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func contains(xs []string, x string) bool {
	for _, e := range xs {
		if strings.EqualFold(e, x) {
			return true
		}
	}
	return false
}
