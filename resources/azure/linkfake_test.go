package azure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// linkWorld is a fake Resource Manager for the link calls at
// LinkAPIVersion (no SDK module has fakes for that body): trust
// certificates, the endpoint certificate, links, each write a long-running
// operation answered 201/202 + Azure-AsyncOperation, InProgress once, then
// its outcome. Other paths go to next (the SDK fakes of world).
type linkWorld struct {
	mu       sync.Mutex
	next     policy.Transporter
	endpoint []byte // the MI's endpoint certificate (DER)
	// blobCase writes the endpoint certificate's hex without 0x, lower
	// case, as the CLI shows it.
	blobCase bool
	trust    map[string][]byte
	links    map[string]*dagJSON
	format   string
	// refuse, when set, is the code the next write is refused with
	// synchronously (status refuseStatus); failOp the code its operation
	// ends with.
	refuse       string
	refuseStatus int
	failOp       string
	ops          map[string]*fakeOp
	nops         int
	// versions are the api-versions the calls came with.
	versions map[string]bool
}

type fakeOp struct {
	polls int
	fail  string
}

func newLinkWorld(next policy.Transporter) *linkWorld {
	return &linkWorld{next: next, trust: map[string][]byte{}, links: map[string]*dagJSON{}, ops: map[string]*fakeOp{},
		format: "SQLServer2022", versions: map[string]bool{}}
}

const fakeHost = "https://management.azure.com"

func respond(req *http.Request, status int, body any, hdr map[string]string) *http.Response {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(data)), ContentLength: int64(len(data))}
}

func armFail(req *http.Request, status int, code string) *http.Response {
	return respond(req, status, map[string]any{"error": map[string]any{"code": code, "message": "fake: " + code}}, map[string]string{"x-ms-error-code": code})
}

func (w *linkWorld) Do(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	const miPath = "/providers/Microsoft.Sql/managedInstances/mi01"
	i := strings.Index(p, miPath)
	if strings.Contains(p, "/fakeoperations/") {
		return w.poll(req)
	}
	if i < 0 || req.URL.Query().Get("api-version") != LinkAPIVersion {
		return w.next.Do(req)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.versions[req.URL.Query().Get("api-version")] = true
	rest := strings.Trim(p[i+len(miPath):], "/")
	parts := strings.Split(rest, "/")
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	write := req.Method == http.MethodPut || req.Method == http.MethodPatch || req.Method == http.MethodDelete
	if write && w.refuse != "" {
		code, st := w.refuse, w.refuseStatus
		w.refuse = ""
		return armFail(req, st, code), nil
	}
	switch {
	case rest == "":
		return respond(req, http.StatusOK, map[string]any{"name": "mi01", "properties": map[string]any{"databaseFormat": w.format}}, nil), nil
	case rest == "endpointCertificates/DATABASE_MIRRORING":
		blob := HexBlob(w.endpoint)
		if w.blobCase {
			blob = strings.ToLower(blob[2:])
		}
		return respond(req, http.StatusOK, map[string]any{"name": "DATABASE_MIRRORING", "type": "Microsoft.Sql/managedInstances/endpointCertificates",
			"properties": map[string]any{"publicBlob": blob}}, nil), nil
	case rest == "serverTrustCertificates":
		var list []any
		for n, der := range w.trust {
			list = append(list, w.trustJSON(n, der))
		}
		return respond(req, http.StatusOK, map[string]any{"value": list}, nil), nil
	case len(parts) == 2 && parts[0] == "serverTrustCertificates":
		name := parts[1]
		switch req.Method {
		case http.MethodGet:
			der, ok := w.trust[name]
			if !ok {
				return armFail(req, http.StatusNotFound, "ResourceNotFound"), nil
			}
			return respond(req, http.StatusOK, w.trustJSON(name, der), nil), nil
		case http.MethodPut:
			var b trustCertJSON
			if json.Unmarshal(body, &b) != nil {
				return armFail(req, http.StatusBadRequest, "InvalidParameterValue"), nil
			}
			der, err := ParseHexBlob(b.Properties.PublicBlob)
			if err != nil || !strings.HasPrefix(b.Properties.PublicBlob, "0x") {
				return armFail(req, http.StatusBadRequest, "InvalidParameterValue"), nil
			}
			w.trust[name] = der
			return w.started(req, http.StatusCreated), nil
		case http.MethodDelete:
			if _, ok := w.trust[name]; !ok {
				return respond(req, http.StatusNoContent, nil, nil), nil
			}
			delete(w.trust, name)
			return w.started(req, http.StatusAccepted), nil
		}
	case len(parts) == 2 && parts[0] == "distributedAvailabilityGroups":
		name := parts[1]
		switch req.Method {
		case http.MethodGet:
			d, ok := w.links[name]
			if !ok {
				return armFail(req, http.StatusNotFound, "ResourceNotFound"), nil
			}
			return respond(req, http.StatusOK, d, nil), nil
		case http.MethodPut:
			var b dagJSON
			if json.Unmarshal(body, &b) != nil || b.Properties.PartnerAvailabilityGroupName == "" {
				return armFail(req, http.StatusBadRequest, "InvalidParameterValue"), nil
			}
			if _, ok := w.links[name]; ok {
				return armFail(req, http.StatusConflict, "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists"), nil
			}
			b.Name, b.Type = name, "Microsoft.Sql/managedInstances/distributedAvailabilityGroups"
			b.Properties.DistributedAvailabilityGroupName = name
			b.Properties.DistributedAvailabilityGroupID = "0b9a4b0e-5a4c-4bb5-9d57-000000000001"
			b.Properties.PartnerLinkRole = "Primary"
			for i := range b.Properties.Databases {
				b.Properties.Databases[i].ReplicaState = "CreatingLink"
				b.Properties.Databases[i].ConnectedState = "DISCONNECTED"
				b.Properties.Databases[i].SynchronizationHealth = "NOT_HEALTHY"
			}
			if w.failOp == "" {
				w.links[name] = &b
			}
			return w.started(req, http.StatusCreated), nil
		case http.MethodPatch:
			d, ok := w.links[name]
			if !ok {
				return armFail(req, http.StatusNotFound, "ResourceNotFound"), nil
			}
			var b dagJSON
			_ = json.Unmarshal(body, &b)
			d.Properties.ReplicationMode = b.Properties.ReplicationMode
			return w.started(req, http.StatusAccepted), nil
		case http.MethodDelete:
			if _, ok := w.links[name]; !ok {
				return respond(req, http.StatusNoContent, nil, nil), nil
			}
			delete(w.links, name)
			return w.started(req, http.StatusAccepted), nil
		}
	}
	return armFail(req, http.StatusNotFound, "InvalidResourceType"), nil
}

func (w *linkWorld) trustJSON(name string, der []byte) map[string]any {
	return map[string]any{
		"id":   "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Sql/managedInstances/mi01/serverTrustCertificates/" + name,
		"name": name, "type": "Microsoft.Sql/managedInstances/serverTrustCertificates",
		"properties": map[string]any{"publicBlob": HexBlob(der), "thumbprint": HexBlob(Thumbprint(der)), "certificateName": name},
	}
}

// started answers a write with its operation (w.mu held).
func (w *linkWorld) started(req *http.Request, status int) *http.Response {
	w.nops++
	id := fmt.Sprintf("op%d", w.nops)
	w.ops[id] = &fakeOp{fail: w.failOp}
	w.failOp = ""
	return respond(req, status, nil, map[string]string{
		"Azure-AsyncOperation": fakeHost + "/subscriptions/" + testSub + "/providers/Microsoft.Sql/locations/westeurope/fakeoperations/" + id + "?api-version=" + LinkAPIVersion,
		"Retry-After-Ms":       "5",
	})
}

func (w *linkWorld) poll(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	op, ok := w.ops[id]
	if !ok {
		return armFail(req, http.StatusNotFound, "ResourceNotFound"), nil
	}
	op.polls++
	if op.polls == 1 {
		return respond(req, http.StatusOK, map[string]any{"status": "InProgress"}, map[string]string{"Retry-After-Ms": "5"}), nil
	}
	if op.fail != "" {
		return respond(req, http.StatusOK, map[string]any{"status": "Failed", "error": map[string]any{"code": op.fail, "message": "fake: " + op.fail}}, nil), nil
	}
	return respond(req, http.StatusOK, map[string]any{"status": "Succeeded"}, nil), nil
}

// openLinkTest opens mi01 against the fakes, the link calls answered by
// a linkWorld.
func openLinkTest(t interface {
	Helper()
	Fatal(...any)
	Cleanup(func())
}, w *world, lw **linkWorld) (*ManagedInstance, *recorder) {
	t.Helper()
	rec := &recorder{}
	*lw = newLinkWorld(w.transport())
	c := &Config{Address: "managed_instance.mi01", ResourceGroup: testRG, Name: "mi01",
		Azure: &Settings{Address: "azure.main", SubscriptionID: testSub, Cloud: "public"}}
	m, err := openManagedInstance(c, options{transport: *lw, cred: &azfake.TokenCredential{}, policies: []policy.Policy{rec},
		retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, rec
}
