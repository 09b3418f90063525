package arm

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
)

// The link's resources driven over HTTPS by the real SDK: armsql v1.2.0's
// clients for the certificates (they speak 2021-11-01-preview), azcore's
// arm.Client, pipeline and poller for the distributed availability groups
// at 2025-01-01, as milink's own small model does.

type linkClients struct {
	trust    *armsql.ServerTrustCertificatesClient
	endpoint *armsql.EndpointCertificatesClient
	arm      *arm.Client
}

func newLinkClients(t *testing.T, s *Server) linkClients {
	t.Helper()
	info := s.Info()
	c := labClients(t, s)
	copts := policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: info.Authority,
			Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: info.ResourceManager, Audience: info.Audience}},
		},
		Transport: httpClient(t, info.CAFile),
		Retry:     policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}
	aopts := &arm.ClientOptions{ClientOptions: copts, DisableRPRegistration: true}
	var lc linkClients
	var err error
	if lc.trust, err = armsql.NewServerTrustCertificatesClient(info.SubscriptionID, c.cred, aopts); err != nil {
		t.Fatal(err)
	}
	if lc.endpoint, err = armsql.NewEndpointCertificatesClient(info.SubscriptionID, c.cred, aopts); err != nil {
		t.Fatal(err)
	}
	if lc.arm, err = arm.NewClient("milink-lab-test", "v0.0.0", c.cred, aopts); err != nil {
		t.Fatal(err)
	}
	return lc
}

// dagModel is the part of a distributed availability group the test reads.
type dagModel struct {
	Name       string `json:"name"`
	Properties struct {
		ReplicationMode string `json:"replicationMode"`
		PartnerLinkRole string `json:"partnerLinkRole"`
		Databases       []struct {
			DatabaseName string `json:"databaseName"`
			ReplicaState string `json:"replicaState"`
		} `json:"databases"`
	} `json:"properties"`
}

// dagCall sends one request for the link named name and, for a change,
// polls its operation to the end, as runtime.Poller does for any client.
func dagCall[T any](ctx context.Context, t *testing.T, lc linkClients, s *Server, method, name string, body any) (T, error) {
	t.Helper()
	var zero T
	u := runtime.JoinPaths(lc.arm.Endpoint(), s.miID(), "distributedAvailabilityGroups", name)
	req, err := runtime.NewRequest(ctx, method, u)
	if err != nil {
		t.Fatal(err)
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", LinkAPIVersion)
	req.Raw().URL.RawQuery = q.Encode()
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := lc.arm.Pipeline().Do(req)
	if err != nil {
		return zero, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent) {
		return zero, runtime.NewResponseError(resp)
	}
	if method == http.MethodGet {
		var v T
		err := runtime.UnmarshalAsJSON(resp, &v)
		return v, err
	}
	p, err := runtime.NewPoller[T](resp, lc.arm.Pipeline(), nil)
	if err != nil {
		return zero, err
	}
	return p.PollUntilDone(ctx, poll)
}

func TestSDKLinkCertificates(t *testing.T) {
	f := newFakeLink(t)
	s := startLinkServer(t, f)
	lc := newLinkClients(t, s)
	ctx := context.Background()

	ep, err := lc.endpoint.Get(ctx, ResourceGroup, "mi01", "DATABASE_MIRRORING", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimPrefix(*ep.Properties.PublicBlob, "0x"); !strings.EqualFold(got, hex.EncodeToString(f.endpoint)) {
		t.Errorf("endpoint certificate: %s", *ep.Properties.PublicBlob)
	}

	der := testCert(t, "sql01")
	p, err := lc.trust.BeginCreateOrUpdate(ctx, ResourceGroup, "mi01", "Cert_sql01_endpoint",
		armsql.ServerTrustCertificate{Properties: &armsql.ServerTrustCertificateProperties{PublicBlob: to.Ptr(hex.EncodeToString(der))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := p.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatal(err)
	}
	if *created.Properties.Thumbprint != Thumbprint(der) || *created.Properties.CertificateName != "Cert_sql01_endpoint" {
		t.Errorf("created: %+v", created.Properties)
	}
	_, err = lc.trust.BeginCreateOrUpdate(ctx, ResourceGroup, "mi01", "key-only",
		armsql.ServerTrustCertificate{Properties: &armsql.ServerTrustCertificateProperties{PublicBlob: to.Ptr("0x3059301306072A8648CE3D0201")}}, nil)
	if re := respErr(t, err); re.StatusCode != 400 || re.ErrorCode != "InvalidPublicBlob" {
		t.Errorf("key only: %d %s", re.StatusCode, re.ErrorCode)
	}
	pager := lc.trust.NewListByInstancePager(ResourceGroup, "mi01", nil)
	var n int
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Errorf("list: %d certificates", n)
	}
	dp, err := lc.trust.BeginDelete(ctx, ResourceGroup, "mi01", "Cert_sql01_endpoint", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	_, err = lc.trust.Get(ctx, ResourceGroup, "mi01", "Cert_sql01_endpoint", nil)
	if re := respErr(t, err); re.StatusCode != 404 {
		t.Errorf("after delete: %d", re.StatusCode)
	}
}

func startLinkServer(t *testing.T, link LinkBackend) *Server {
	t.Helper()
	s, err := Open(Config{Dir: t.TempDir(), ManagedInstanceAddress: "127.0.0.3", Logf: t.Logf, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSDKLinkDistributedAvailabilityGroup(t *testing.T) {
	f := newFakeLink(t)
	s := startLinkServer(t, f)
	lc := newLinkClients(t, s)
	ctx := context.Background()
	body := map[string]any{"properties": map[string]any{
		"partnerAvailabilityGroupName": "AG_payroll", "partnerEndpoint": "TCP://127.0.0.2:5022", "instanceAvailabilityGroupName": "AG_payroll_MI",
		"instanceLinkRole": "Secondary", "failoverMode": "Manual", "seedingMode": "Automatic", "replicationMode": "Async",
		"databases": []any{map[string]any{"databaseName": "payroll"}},
	}}

	// Throttled twice on the way: the pipeline retries.
	s.SetFaults(Faults{Throttle: 2})
	got, err := dagCall[dagModel](ctx, t, lc, s, http.MethodPut, "payroll", body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "payroll" || got.Properties.PartnerLinkRole != "Primary" || len(got.Properties.Databases) != 1 ||
		got.Properties.Databases[0].ReplicaState != "CreatingLink" {
		t.Errorf("created: %+v", got)
	}
	got, err = dagCall[dagModel](ctx, t, lc, s, http.MethodPatch, "payroll", map[string]any{"properties": map[string]any{"replicationMode": "Sync"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Properties.ReplicationMode != "Sync" {
		t.Errorf("after PATCH: %+v", got)
	}
	// The database of a single-database link is fixed.
	_, err = dagCall[dagModel](ctx, t, lc, s, http.MethodPatch, "payroll", map[string]any{"properties": map[string]any{
		"databases": []any{map[string]any{"databaseName": "sales"}}}})
	if re := respErr(t, err); re.StatusCode != 400 || re.ErrorCode != "InvalidParameterValue" || !strings.Contains(re.Error(), "single-database") {
		t.Errorf("PATCH databases: %v", err)
	}
	// A refusal of the simulation is the SDK's ResponseError with its code.
	f.createErr = &LinkError{Status: 409, Code: "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists", Message: "AG_payroll is linked"}
	_, err = dagCall[dagModel](ctx, t, lc, s, http.MethodPut, "payroll2", body)
	if re := respErr(t, err); re.StatusCode != 409 || re.ErrorCode != "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists" {
		t.Errorf("refused: %v", err)
	}
	f.createErr = nil
	// A failed operation: the poller reports its code.
	s.SetFaults(Faults{FailOperation: "ManagedInstanceLinkConnectivityIsNotEstablished"})
	_, err = dagCall[dagModel](ctx, t, lc, s, http.MethodPut, "payroll3", body)
	if re := respErr(t, err); re.ErrorCode != "ManagedInstanceLinkConnectivityIsNotEstablished" {
		t.Errorf("failed operation: %v", err)
	}
	if _, ok := f.Link("payroll3"); ok {
		t.Error("the failed operation created the link")
	}
	// 500s beyond the retries come through.
	s.SetFaults(Faults{ServerError: 10})
	_, err = dagCall[dagModel](ctx, t, lc, s, http.MethodGet, "payroll", nil)
	if re := respErr(t, err); re.StatusCode != 500 {
		t.Errorf("500: %v", err)
	}
	s.SetFaults(Faults{})

	if _, err := dagCall[struct{}](ctx, t, lc, s, http.MethodDelete, "payroll", nil); err != nil {
		t.Fatal(err)
	}
	_, err = dagCall[dagModel](ctx, t, lc, s, http.MethodGet, "payroll", nil)
	if re := respErr(t, err); re.StatusCode != 404 || re.ErrorCode != "ResourceNotFound" {
		t.Errorf("after delete: %v", err)
	}
	// Every request is in the log, polls included.
	var puts, patches, polls int
	for _, e := range s.Log() {
		switch {
		case e.Method == "PUT" && strings.Contains(e.Path, "distributedAvailabilityGroups"):
			puts++
		case e.Method == "PATCH":
			patches++
		case strings.Contains(e.Path, "/operations/"):
			polls++
		}
	}
	if puts < 5 || patches != 2 || polls < 3 {
		t.Errorf("log: %d PUTs, %d PATCHes, %d polls", puts, patches, polls)
	}
}
