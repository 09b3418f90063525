package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
	sqlfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql/fake"

	"github.com/milink/milink/resources"
)

const (
	testSub    = "00000000-0000-0000-0000-000000000001"
	testRG     = "rg-link"
	testSubnet = "/subscriptions/" + testSub + "/resourceGroups/rg-link/providers/Microsoft.Network/virtualNetworks/vnet-mi/subnets/mi-subnet"
	testNSG    = "/subscriptions/" + testSub + "/resourceGroups/rg-link/providers/Microsoft.Network/networkSecurityGroups/nsg-mi"
	testVMNSG  = "/subscriptions/" + testSub + "/resourceGroups/rg-link/providers/Microsoft.Network/networkSecurityGroups/nsg-sql01"
)

// world is the Azure the SDK's fake servers answer from: one managed
// instance, its subnet, and NSGs holding rules.
type world struct {
	mu   sync.Mutex
	mi   bool
	nsgs map[string]map[string]*armnetwork.SecurityRule // by NSG name, rule name
	// tdeFail, when set, is the error code the upload's operation ends with.
	tdeFail string
	// uploaded counts the certificates uploaded.
	uploaded int
}

func newWorld() *world {
	w := &world{mi: true, nsgs: map[string]map[string]*armnetwork.SecurityRule{"nsg-mi": {}, "nsg-sql01": {}}}
	// The managed instance's own rules, as Azure creates them.
	for i, n := range []string{"allow_management_inbound", "allow_misubnet_inbound", "allow_health_probe_inbound"} {
		w.put("nsg-mi", "Microsoft.Sql-managedInstances_UseOnly_mi-"+n, ruleSpec{dir: "Inbound", prio: 100 + i, src: "*", dst: "10.0.1.0/24", port: "*"})
	}
	w.put("nsg-mi", "Microsoft.Sql-managedInstances_UseOnly_mi-allow_misubnet_outbound", ruleSpec{dir: "Outbound", prio: 100, src: "10.0.1.0/24", dst: "*", port: "*"})
	return w
}

type ruleSpec struct {
	dir, src, dst, port, desc string
	prio                      int
}

func (w *world) put(nsg, name string, s ruleSpec) {
	w.nsgs[nsg][name] = &armnetwork.SecurityRule{
		ID:   to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s/securityRules/%s", testSub, testRG, nsg, name)),
		Name: to.Ptr(name),
		Properties: &armnetwork.SecurityRulePropertiesFormat{
			Direction: to.Ptr(armnetwork.SecurityRuleDirection(s.dir)), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
			Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Priority: to.Ptr(int32(s.prio)),
			SourceAddressPrefix: to.Ptr(s.src), DestinationAddressPrefix: to.Ptr(s.dst),
			SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr(s.port), Description: to.Ptr(s.desc),
		},
	}
}

// transport routes each request to the fake server of its provider.
func (w *world) transport() policy.Transporter {
	sqlT := sqlfake.NewServerFactoryTransport(&sqlfake.ServerFactory{
		ManagedInstancesServer: sqlfake.ManagedInstancesServer{
			Get: func(_ context.Context, rg, name string, _ *armsql.ManagedInstancesClientGetOptions) (resp azfake.Responder[armsql.ManagedInstancesClientGetResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				if !w.mi || rg != testRG || name != "mi01" {
					errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
					return
				}
				resp.SetResponse(http.StatusOK, armsql.ManagedInstancesClientGetResponse{ManagedInstance: armsql.ManagedInstance{
					ID:       to.Ptr("/subscriptions/" + testSub + "/resourceGroups/rg-link/providers/Microsoft.Sql/managedInstances/mi01"),
					Name:     to.Ptr("mi01"),
					Location: to.Ptr("westeurope"),
					SKU:      &armsql.SKU{Name: to.Ptr("GP_Gen5"), Tier: to.Ptr("GeneralPurpose")},
					Properties: &armsql.ManagedInstanceProperties{
						FullyQualifiedDomainName: to.Ptr("mi01.abc123.database.windows.net"),
						State:                    to.Ptr("Ready"), Collation: to.Ptr("SQL_Latin1_General_CP1_CI_AS"),
						SubnetID: to.Ptr(testSubnet),
					},
				}}, nil)
				return
			},
		},
		ManagedInstanceTdeCertificatesServer: sqlfake.ManagedInstanceTdeCertificatesServer{
			BeginCreate: func(_ context.Context, _, _ string, p armsql.TdeCertificate, _ *armsql.ManagedInstanceTdeCertificatesClientBeginCreateOptions) (resp azfake.PollerResponder[armsql.ManagedInstanceTdeCertificatesClientCreateResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				resp.AddNonTerminalResponse(http.StatusAccepted, nil)
				if w.tdeFail != "" {
					resp.SetTerminalError(http.StatusBadRequest, w.tdeFail)
					return
				}
				w.uploaded++
				resp.SetTerminalResponse(http.StatusOK, armsql.ManagedInstanceTdeCertificatesClientCreateResponse{}, nil)
				return
			},
		},
	})
	netT := netfake.NewServerFactoryTransport(&netfake.ServerFactory{
		SubnetsServer: netfake.SubnetsServer{
			Get: func(_ context.Context, _, vnet, subnet string, _ *armnetwork.SubnetsClientGetOptions) (resp azfake.Responder[armnetwork.SubnetsClientGetResponse], errResp azfake.ErrorResponder) {
				resp.SetResponse(http.StatusOK, armnetwork.SubnetsClientGetResponse{Subnet: armnetwork.Subnet{
					ID: to.Ptr(testSubnet), Name: to.Ptr(subnet),
					Properties: &armnetwork.SubnetPropertiesFormat{
						AddressPrefix:        to.Ptr("10.0.1.0/24"),
						NetworkSecurityGroup: &armnetwork.SecurityGroup{ID: to.Ptr(testNSG)},
					},
				}}, nil)
				return
			},
		},
		SecurityGroupsServer: netfake.SecurityGroupsServer{
			Get: func(_ context.Context, rg, name string, _ *armnetwork.SecurityGroupsClientGetOptions) (resp azfake.Responder[armnetwork.SecurityGroupsClientGetResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				rules, ok := w.nsgs[name]
				if !ok {
					errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
					return
				}
				var list []*armnetwork.SecurityRule
				names := make([]string, 0, len(rules))
				for n := range rules {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					r := *rules[n]
					list = append(list, &r)
				}
				resp.SetResponse(http.StatusOK, armnetwork.SecurityGroupsClientGetResponse{SecurityGroup: armnetwork.SecurityGroup{
					ID: to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s", testSub, rg, name)), Name: to.Ptr(name),
					Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: list},
				}}, nil)
				return
			},
		},
		SecurityRulesServer: netfake.SecurityRulesServer{
			BeginCreateOrUpdate: func(_ context.Context, _, nsg, name string, p armnetwork.SecurityRule, _ *armnetwork.SecurityRulesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.SecurityRulesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				p.Name = to.Ptr(name)
				p.ID = to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s/securityRules/%s", testSub, testRG, nsg, name))
				w.nsgs[nsg][name] = &p
				resp.AddNonTerminalResponse(http.StatusCreated, nil)
				resp.SetTerminalResponse(http.StatusOK, armnetwork.SecurityRulesClientCreateOrUpdateResponse{SecurityRule: p}, nil)
				return
			},
			Get: func(_ context.Context, _, nsg, name string, _ *armnetwork.SecurityRulesClientGetOptions) (resp azfake.Responder[armnetwork.SecurityRulesClientGetResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				r, ok := w.nsgs[nsg][name]
				if !ok {
					errResp.SetResponseError(http.StatusNotFound, "NotFound")
					return
				}
				resp.SetResponse(http.StatusOK, armnetwork.SecurityRulesClientGetResponse{SecurityRule: *r}, nil)
				return
			},
			BeginDelete: func(_ context.Context, _, nsg, name string, _ *armnetwork.SecurityRulesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.SecurityRulesClientDeleteResponse], errResp azfake.ErrorResponder) {
				w.mu.Lock()
				defer w.mu.Unlock()
				delete(w.nsgs[nsg], name)
				resp.SetTerminalResponse(http.StatusOK, armnetwork.SecurityRulesClientDeleteResponse{}, nil)
				return
			},
		},
	})
	return routeTransport{sql: sqlT, net: netT}
}

type routeTransport struct{ sql, net policy.Transporter }

func (r routeTransport) Do(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/providers/Microsoft.Sql/") {
		return r.sql.Do(req)
	}
	return r.net.Do(req)
}

// recorder is a per-call policy writing down every call milink makes:
// method, path, api-version and body, secrets redacted. The golden files
// are its output.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	var body []byte
	if b := req.Body(); b != nil {
		body, _ = io.ReadAll(b)
		_ = req.RewindBody()
	}
	line := fmt.Sprintf("%s %s?api-version=%s", raw.Method, raw.URL.Path, raw.URL.Query().Get("api-version"))
	if len(body) > 0 {
		line += "\n" + redactBody(body)
	}
	r.mu.Lock()
	r.calls = append(r.calls, line)
	r.mu.Unlock()
	return req.Next()
}

func (r *recorder) text() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return []byte(strings.Join(r.calls, "\n\n") + "\n")
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// redactBody replaces secret properties, and indents for review.
func redactBody(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "(non-JSON body)"
	}
	var walk func(any)
	walk = func(x any) {
		if m, ok := x.(map[string]any); ok {
			for k, e := range m {
				switch k {
				case "privateBlob", "certPassword", "client_secret":
					m[k] = resources.Redacted
				default:
					walk(e)
				}
			}
		}
	}
	walk(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSpace(buf.String())
}

// openTest opens mi01 against the fakes.
func openTest(t *testing.T, w *world) (*ManagedInstance, *recorder) {
	t.Helper()
	rec := &recorder{}
	c := &Config{Address: "managed_instance.mi01", ResourceGroup: testRG, Name: "mi01",
		Azure: &Settings{Address: "azure.main", SubscriptionID: testSub, Cloud: "public"}}
	m, err := openManagedInstance(c, options{transport: w.transport(), cred: &azfake.TokenCredential{}, policies: []policy.Policy{rec},
		retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, rec
}
