package arm

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
)

// These tests drive the lab's Azure with the real Azure SDK for Go clients
// (azidentity, armsql, armnetwork) over HTTPS, trusting the lab's CA.

type imported struct {
	mu    sync.Mutex
	certs [][]byte
}

func (im *imported) add(der []byte, _ *rsa.PrivateKey) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.certs = append(im.certs, der)
	return nil
}

func startServer(t *testing.T, dir string, im *imported) *Server {
	t.Helper()
	cfg := Config{Dir: dir, ManagedInstanceAddress: "127.0.0.3", Logf: t.Logf}
	if im != nil {
		cfg.ImportCertificate = im.add
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

// clients are the SDK clients milink uses, pointed at the lab.
type clients struct {
	cred  *azidentity.ClientSecretCredential
	mi    *armsql.ManagedInstancesClient
	tde   *armsql.ManagedInstanceTdeCertificatesClient
	subn  *armnetwork.SubnetsClient
	nsg   *armnetwork.SecurityGroupsClient
	rules *armnetwork.SecurityRulesClient
}

func httpClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func newClients(t *testing.T, info Info, tenant, client, secret string) clients {
	t.Helper()
	hc := httpClient(t, info.CAFile)
	cloudCfg := cloud.Configuration{
		ActiveDirectoryAuthorityHost: info.Authority,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: info.ResourceManager, Audience: info.Audience},
		},
	}
	copts := policy.ClientOptions{Cloud: cloudCfg, Transport: hc,
		Retry: policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second}}
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: copts, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	aopts := &arm.ClientOptions{ClientOptions: copts, DisableRPRegistration: true}
	var c clients
	c.cred = cred
	if c.mi, err = armsql.NewManagedInstancesClient(info.SubscriptionID, cred, aopts); err != nil {
		t.Fatal(err)
	}
	if c.tde, err = armsql.NewManagedInstanceTdeCertificatesClient(info.SubscriptionID, cred, aopts); err != nil {
		t.Fatal(err)
	}
	if c.subn, err = armnetwork.NewSubnetsClient(info.SubscriptionID, cred, aopts); err != nil {
		t.Fatal(err)
	}
	if c.nsg, err = armnetwork.NewSecurityGroupsClient(info.SubscriptionID, cred, aopts); err != nil {
		t.Fatal(err)
	}
	if c.rules, err = armnetwork.NewSecurityRulesClient(info.SubscriptionID, cred, aopts); err != nil {
		t.Fatal(err)
	}
	return c
}

func labClients(t *testing.T, s *Server) clients {
	info := s.Info()
	return newClients(t, info, info.TenantID, info.ClientID, info.ClientSecret)
}

var poll = &runtime.PollUntilDoneOptions{Frequency: 50 * time.Millisecond}

func rule5022(prio int32) armnetwork.SecurityRule {
	return armnetwork.SecurityRule{Properties: &armnetwork.SecurityRulePropertiesFormat{
		Protocol:                 to.Ptr(armnetwork.SecurityRuleProtocolTCP),
		SourcePortRange:          to.Ptr("*"),
		DestinationPortRanges:    []*string{to.Ptr("5022"), to.Ptr("11000-11999")},
		SourceAddressPrefix:      to.Ptr("127.0.0.2"),
		DestinationAddressPrefix: to.Ptr("127.0.0.3/32"),
		Access:                   to.Ptr(armnetwork.SecurityRuleAccessAllow),
		Priority:                 to.Ptr(prio),
		Direction:                to.Ptr(armnetwork.SecurityRuleDirectionInbound),
		Description:              to.Ptr("managed by milink"),
	}}
}

func respErr(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want an *azcore.ResponseError, got %T: %v", err, err)
	}
	return re
}

func TestSDKManagedInstanceAndSubnet(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	c := labClients(t, s)
	ctx := context.Background()
	mi, err := c.mi.Get(ctx, ResourceGroup, "mi01", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := mi.Properties
	if *p.FullyQualifiedDomainName != "127.0.0.3" || *p.State != "Ready" || *p.Collation != "SQL_Latin1_General_CP1_CI_AS" ||
		*mi.SKU.Tier != "GeneralPurpose" || *mi.ID != s.Info().ManagedInstanceID {
		t.Errorf("managed instance: %+v", p)
	}
	// The subnet ID comes apart into what SubnetsClient.Get needs.
	rid, err := arm.ParseResourceID(*p.SubnetID)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := c.subn.Get(ctx, rid.ResourceGroupName, rid.Parent.Name, rid.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *sn.Properties.AddressPrefix != "127.0.0.3/32" || *sn.Properties.NetworkSecurityGroup.ID != s.Info().NSGID {
		t.Errorf("subnet: prefix %s, nsg %s", *sn.Properties.AddressPrefix, *sn.Properties.NetworkSecurityGroup.ID)
	}
	_, err = c.mi.Get(ctx, ResourceGroup, "mi02", nil)
	if re := respErr(t, err); re.StatusCode != 404 || re.ErrorCode != "ResourceNotFound" {
		t.Errorf("mi02: %d %s", re.StatusCode, re.ErrorCode)
	}
	_, err = c.mi.Get(ctx, "no-such-rg", "mi01", nil)
	if re := respErr(t, err); re.StatusCode != 404 || re.ErrorCode != "ResourceGroupNotFound" {
		t.Errorf("rg: %d %s", re.StatusCode, re.ErrorCode)
	}
}

func TestSDKSecurityRules(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	c := labClients(t, s)
	ctx := context.Background()

	g, err := c.nsg.Get(ctx, ResourceGroup, MINSGName, nil)
	if err != nil {
		t.Fatal(err)
	}
	owned := 0
	for _, r := range g.Properties.SecurityRules {
		if strings.HasPrefix(*r.Name, managedInstanceRulePrefix+"mi-") {
			owned++
		}
	}
	if owned == 0 || len(g.Properties.DefaultSecurityRules) != 6 {
		t.Fatalf("NSG: %d managed-instance rules, %d default rules", owned, len(g.Properties.DefaultSecurityRules))
	}

	poller, err := c.rules.BeginCreateOrUpdate(ctx, ResourceGroup, MINSGName, "milink-in-5022", rule5022(200), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := poller.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatal(err)
	}
	if *created.Properties.ProvisioningState != armnetwork.ProvisioningStateSucceeded || *created.Properties.Priority != 200 ||
		len(created.Properties.DestinationPortRanges) != 2 {
		t.Errorf("created: %+v", created.Properties)
	}

	// Same direction and priority as a managed-instance rule: refused.
	_, err = c.rules.BeginCreateOrUpdate(ctx, ResourceGroup, MINSGName, "milink-clash", rule5022(100), nil)
	if re := respErr(t, err); re.StatusCode != 400 || re.ErrorCode != "SecurityRuleConflict" {
		t.Errorf("conflict: %d %s", re.StatusCode, re.ErrorCode)
	}
	for _, bad := range []struct {
		prio int32
		desc string
		code string
	}{
		{99, "", "SecurityRuleInvalidPriority"},
		{4097, "", "SecurityRuleInvalidPriority"},
		{300, strings.Repeat("d", 141), "SecurityRuleDescriptionTooLong"},
	} {
		r := rule5022(bad.prio)
		if bad.desc != "" {
			r.Properties.Description = &bad.desc
		}
		_, err = c.rules.BeginCreateOrUpdate(ctx, ResourceGroup, MINSGName, "milink-bad", r, nil)
		if re := respErr(t, err); re.ErrorCode != bad.code {
			t.Errorf("priority %d: %s, want %s", bad.prio, re.ErrorCode, bad.code)
		}
	}
	// The managed instance's own rules are not ours to change.
	_, err = c.rules.BeginDelete(ctx, ResourceGroup, MINSGName, managedInstanceRulePrefix+"mi-internal-in", nil)
	if re := respErr(t, err); re.ErrorCode != "NetworkIntentPolicyViolation" {
		t.Errorf("delete owned rule: %s", re.ErrorCode)
	}

	// The rule persists across a restart of the lab's Azure.
	s.Close()
	s2 := startServer(t, dir, nil)
	if s2.URL() != s.URL() {
		t.Errorf("port changed across restart: %s, then %s", s.URL(), s2.URL())
	}
	got, err := c.rules.Get(ctx, ResourceGroup, MINSGName, "milink-in-5022", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Properties.SourceAddressPrefix != "127.0.0.2" {
		t.Errorf("rule after restart: %+v", got.Properties)
	}
	var names []string
	pager := c.rules.NewListPager(ResourceGroup, MINSGName, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Value {
			names = append(names, *r.Name)
		}
	}
	if !strings.Contains(strings.Join(names, ","), "milink-in-5022") {
		t.Errorf("list: %v", names)
	}

	dp, err := c.rules.BeginDelete(ctx, ResourceGroup, MINSGName, "milink-in-5022", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	_, err = c.rules.Get(ctx, ResourceGroup, MINSGName, "milink-in-5022", nil)
	if re := respErr(t, err); re.StatusCode != 404 {
		t.Errorf("after delete: %d %s", re.StatusCode, re.ErrorCode)
	}
	_, err = c.rules.Get(ctx, ResourceGroup, "no-nsg", "x", nil)
	if re := respErr(t, err); re.ErrorCode != "ParentResourceNotFound" {
		t.Errorf("no nsg: %s", re.ErrorCode)
	}
	// The log shows what was done, without the secret.
	var puts, deletes int
	for _, e := range s2.Log() {
		if strings.Contains(e.Body, s2.Info().ClientSecret) {
			t.Errorf("the log shows the client secret: %+v", e)
		}
		if e.Changed && e.Method == "PUT" {
			puts++
		}
		if e.Changed && e.Method == "DELETE" {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("log: %d changing DELETEs", deletes)
	}
}

func TestSDKCredentialErrors(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	info := s.Info()
	ctx := context.Background()
	for _, tc := range []struct {
		name, tenant, client, secret, want string
	}{
		{"wrong secret", info.TenantID, info.ClientID, "not-the-secret", "AADSTS7000215"},
		{"unknown client", info.TenantID, "00000000-0000-0000-0000-000000000001", info.ClientSecret, "AADSTS700016"},
		{"wrong tenant", "00000000-0000-0000-0000-000000000002", info.ClientID, info.ClientSecret, "AADSTS90002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClients(t, info, tc.tenant, tc.client, tc.secret)
			_, err := c.mi.Get(ctx, ResourceGroup, "mi01", nil)
			var af *azidentity.AuthenticationFailedError
			if !errors.As(err, &af) {
				t.Fatalf("want AuthenticationFailedError, got %T: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name %s: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), info.ClientSecret) {
				t.Errorf("error shows the secret")
			}
		})
	}
}

func TestSDKFaults(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	c := labClients(t, s)
	ctx := context.Background()

	t.Run("429 retried", func(t *testing.T) {
		s.SetFaults(Faults{Throttle: 2, RetryAfter: 1})
		if _, err := c.mi.Get(ctx, ResourceGroup, "mi01", nil); err != nil {
			t.Fatal(err)
		}
		if st := s.Status(); st.Counters.Throttled != 2 || st.Faults.Throttle != 0 {
			t.Errorf("throttled %d, left %d", st.Counters.Throttled, st.Faults.Throttle)
		}
	})
	t.Run("500 retried", func(t *testing.T) {
		s.SetFaults(Faults{ServerError: 2})
		if _, err := c.mi.Get(ctx, ResourceGroup, "mi01", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("500 beyond retries", func(t *testing.T) {
		s.SetFaults(Faults{ServerError: 10})
		_, err := c.mi.Get(ctx, ResourceGroup, "mi01", nil)
		if re := respErr(t, err); re.StatusCode != 500 || re.ErrorCode != "InternalServerError" {
			t.Errorf("%d %s", re.StatusCode, re.ErrorCode)
		}
		s.SetFaults(Faults{})
	})
	t.Run("operation fails", func(t *testing.T) {
		s.SetFaults(Faults{FailOperation: "AnotherOperationInProgress"})
		p, err := c.rules.BeginCreateOrUpdate(ctx, ResourceGroup, MINSGName, "milink-failing", rule5022(300), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.PollUntilDone(ctx, poll)
		if re := respErr(t, err); re.ErrorCode != "AnotherOperationInProgress" {
			t.Errorf("code %s", re.ErrorCode)
		}
		// The change was not made.
		_, err = c.rules.Get(ctx, ResourceGroup, MINSGName, "milink-failing", nil)
		if re := respErr(t, err); re.StatusCode != 404 {
			t.Errorf("failed rule exists: %d", re.StatusCode)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		s.SetFaults(Faults{ExpiredTokens: 1})
		fresh := labClients(t, s) // a new credential asks for a new token
		_, err := fresh.mi.Get(ctx, ResourceGroup, "mi01", nil)
		if re := respErr(t, err); re.StatusCode != 401 || re.ErrorCode != "ExpiredAuthenticationToken" {
			t.Errorf("%d %s", re.StatusCode, re.ErrorCode)
		}
	})
}
