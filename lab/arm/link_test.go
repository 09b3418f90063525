package arm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLink is a LinkBackend that remembers what it was asked; the lab's
// simulation (package lab) is tested on its own.
type fakeLink struct {
	mu        sync.Mutex
	endpoint  []byte
	certs     map[string][]byte
	links     map[string]LinkStatus
	createErr error // CreateLink's answer, when set
	putErr    error
	calls     []string
}

func newFakeLink(t *testing.T) *fakeLink {
	return &fakeLink{endpoint: testCert(t, "mi01 endpoint"), certs: map[string][]byte{}, links: map[string]LinkStatus{}}
}

func (f *fakeLink) call(s string) {
	f.calls = append(f.calls, s)
}

func (f *fakeLink) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeLink) EndpointCertificate() ([]byte, error) { return f.endpoint, nil }
func (f *fakeLink) TrustCertificates() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string][]byte{}
	for k, v := range f.certs {
		m[k] = v
	}
	return m
}
func (f *fakeLink) PutTrustCertificate(name string, der []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("put " + name)
	if f.putErr != nil {
		return f.putErr
	}
	f.certs[name] = der
	return nil
}
func (f *fakeLink) DeleteTrustCertificate(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("delete " + name)
	_, ok := f.certs[name]
	delete(f.certs, name)
	return ok, nil
}
func (f *fakeLink) CreateLink(spec LinkSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("create " + spec.Name)
	if f.createErr != nil {
		return f.createErr
	}
	st := LinkStatus{LinkSpec: spec, ID: "6b2b8d3e-0000-4000-8000-000000000001"}
	for _, d := range spec.Databases {
		st.Databases = append(st.Databases, LinkDatabase{Name: d, ReplicaState: "CreatingLink", SynchronizationHealth: "NOT_HEALTHY", ConnectedState: "DISCONNECTED"})
	}
	f.links[spec.Name] = st
	return nil
}
func (f *fakeLink) Link(name string) (LinkStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.links[name]
	return st, ok
}
func (f *fakeLink) Links() []LinkStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []LinkStatus
	for _, st := range f.links {
		out = append(out, st)
	}
	return out
}
func (f *fakeLink) SetReplicationMode(name, mode string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("mode " + name + " " + mode)
	st := f.links[name]
	st.ReplicationMode = mode
	f.links[name] = st
	return nil
}
func (f *fakeLink) DeleteLink(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("droplink " + name)
	_, ok := f.links[name]
	delete(f.links, name)
	return ok, nil
}

// setState moves a link's databases along, as the simulation would.
func (f *fakeLink) setState(name string, d LinkDatabase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.links[name]
	st.Databases = []LinkDatabase{d}
	f.links[name] = st
}

// testCert is a self-signed certificate's DER.
func testCert(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func openLinkServer(t *testing.T, link LinkBackend) (*Server, string) {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), ManagedInstanceAddress: "127.0.0.3", Logf: t.Logf}
	if link != nil {
		cfg.Link = link
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tok, _, err := s.IssueToken()
	if err != nil {
		t.Fatal(err)
	}
	return s, tok
}

func linkPath(s *Server, rest, version string) string {
	return s.miID() + "/" + rest + "?api-version=" + version
}

const dagBody = `{"properties":{"partnerAvailabilityGroupName":"AG_payroll","partnerEndpoint":"TCP://127.0.0.2:5022",
	"instanceAvailabilityGroupName":"AG_payroll_MI","instanceLinkRole":"Secondary","failoverMode":"Manual","seedingMode":"Automatic",
	"replicationMode":"Async","databases":[{"databaseName":"payroll"}]}}`

func TestLinkWithoutSimulation(t *testing.T) {
	s, tok := openLinkServer(t, nil)
	for _, p := range []string{"serverTrustCertificates", "serverTrustCertificates/c", "endpointCertificates/DATABASE_MIRRORING",
		"distributedAvailabilityGroups", "distributedAvailabilityGroups/payroll"} {
		code, m, _ := do(t, s, "GET", linkPath(s, p, LinkAPIVersion), tok, "", "")
		if code != http.StatusNotImplemented || errCode(m) != "NotImplemented" {
			t.Errorf("%s: %d %v", p, code, m)
		}
	}
}

func TestLinkAPIVersions(t *testing.T) {
	f := newFakeLink(t)
	s, tok := openLinkServer(t, f)
	for _, tc := range []struct {
		path, version string
		status        int
		code          string
	}{
		{"endpointCertificates/DATABASE_MIRRORING", LinkAPIVersion, 200, ""},
		{"endpointCertificates/DATABASE_MIRRORING", "2021-11-01-preview", 200, ""},
		{"serverTrustCertificates", "2021-11-01-preview", 200, ""},
		{"serverTrustCertificates", "2020-02-02-preview", 400, "NoRegisteredProviderFound"},
		{"serverTrustCertificates", "2030-01-01", 400, "NoRegisteredProviderFound"},
		{"distributedAvailabilityGroups", LinkAPIVersion, 200, ""},
		// The old body is not spoken: refused rather than misread.
		{"distributedAvailabilityGroups", "2021-11-01-preview", 400, "NoRegisteredProviderFound"},
		{"distributedAvailabilityGroups/x/failover", LinkAPIVersion, 405, "MethodNotAllowed"},
		{"hybridLink", LinkAPIVersion, 404, "InvalidResourceType"},
	} {
		code, m, _ := do(t, s, "GET", linkPath(s, tc.path, tc.version), tok, "", "")
		if code != tc.status || errCode(m) != tc.code {
			t.Errorf("GET %s at %s: %d %s, want %d %s", tc.path, tc.version, code, errCode(m), tc.status, tc.code)
		}
	}
	code, m, _ := do(t, s, "GET", strings.Replace(linkPath(s, "serverTrustCertificates", LinkAPIVersion), "/mi01/", "/mi02/", 1), tok, "", "")
	if code != 404 || errCode(m) != "ParentResourceNotFound" {
		t.Errorf("mi02: %d %v", code, m)
	}
	code, m, _ = do(t, s, "POST", linkPath(s, "distributedAvailabilityGroups/x/failover", LinkAPIVersion), tok, "application/json", `{"failoverType":"Planned"}`)
	if code != 501 || errCode(m) != "NotImplemented" {
		t.Errorf("failover: %d %v", code, m)
	}
}

func TestEndpointCertificates(t *testing.T) {
	f := newFakeLink(t)
	s, tok := openLinkServer(t, f)
	code, m, _ := do(t, s, "GET", linkPath(s, "endpointCertificates/database_mirroring", LinkAPIVersion), tok, "", "")
	props, _ := m["properties"].(map[string]any)
	if code != 200 || m["name"] != "DATABASE_MIRRORING" || m["type"] != typeEndpoint || props["publicBlob"] != "0x"+strings.ToUpper(hex.EncodeToString(f.endpoint)) {
		t.Errorf("GET: %d %v", code, m)
	}
	code, m, _ = do(t, s, "GET", linkPath(s, "endpointCertificates", LinkAPIVersion), tok, "", "")
	if v, _ := m["value"].([]any); code != 200 || len(v) != 1 {
		t.Errorf("LIST: %d %v", code, m)
	}
	code, m, _ = do(t, s, "GET", linkPath(s, "endpointCertificates/SERVICE_BROKER", LinkAPIVersion), tok, "", "")
	if code != 404 || errCode(m) != "ResourceNotFound" {
		t.Errorf("SERVICE_BROKER: %d %v", code, m)
	}
	code, m, _ = do(t, s, "PUT", linkPath(s, "endpointCertificates/DATABASE_MIRRORING", LinkAPIVersion), tok, "application/json", `{}`)
	if code != 405 {
		t.Errorf("PUT: %d %v", code, m)
	}
}

func TestServerTrustCertificates(t *testing.T) {
	f := newFakeLink(t)
	s, tok := openLinkServer(t, f)
	der := testCert(t, "sql01 endpoint")
	upper := strings.ToUpper(hex.EncodeToString(der))
	sum := sha1.Sum(der)
	thumb := "0x" + strings.ToUpper(hex.EncodeToString(sum[:]))
	path := linkPath(s, "serverTrustCertificates/Cert_sql01_endpoint", LinkAPIVersion)
	put := func(p, blob string) (int, map[string]any, http.Header) {
		return do(t, s, "PUT", p, tok, "application/json", `{"properties":{"publicBlob":"`+blob+`"}}`)
	}

	code, m, h := put(path, "0x"+upper)
	if code != 202 || h.Get("Azure-AsyncOperation") == "" || h.Get("Location") == "" {
		t.Fatalf("PUT: %d %v %v", code, m, h)
	}
	code, m, _ = do(t, s, "GET", h.Get("Azure-AsyncOperation")[len(s.base):], tok, "", "")
	if code != 200 || m["status"] != "Succeeded" {
		t.Errorf("operation: %d %v", code, m)
	}
	code, m, _ = do(t, s, "GET", path, tok, "", "")
	props, _ := m["properties"].(map[string]any)
	if code != 200 || props["thumbprint"] != thumb || props["certificateName"] != "Cert_sql01_endpoint" || props["publicBlob"] != "0x"+upper {
		t.Errorf("GET: %d %v", code, m)
	}
	// The same certificate again, in lower case without 0x: nothing to do.
	code, _, h = put(path, hex.EncodeToString(der))
	if code != 200 || h.Get("Azure-AsyncOperation") != "" {
		t.Errorf("PUT again: %d", code)
	}
	// Another certificate under the name: refused, the name is taken.
	code, m, _ = put(path, hex.EncodeToString(testCert(t, "other")))
	if code != 409 || errCode(m) != "ServerTrustCertificateAlreadyExists" {
		t.Errorf("PUT another: %d %v", code, m)
	}
	if got := f.Calls(); len(got) != 1 || got[0] != "put Cert_sql01_endpoint" {
		t.Errorf("backend calls: %v", got)
	}

	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	other := linkPath(s, "serverTrustCertificates/other", LinkAPIVersion)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"only the public key", other, `{"properties":{"publicBlob":"0x` + hex.EncodeToString(c.RawSubjectPublicKeyInfo) + `"}}`, 400, "InvalidPublicBlob"},
		{"trailing bytes", other, `{"properties":{"publicBlob":"0x` + upper + `00"}}`, 400, "InvalidPublicBlob"},
		{"not hex", other, `{"properties":{"publicBlob":"0xZZ"}}`, 400, "InvalidPublicBlob"},
		{"odd hex", other, `{"properties":{"publicBlob":"0x` + upper[1:] + `"}}`, 400, "InvalidPublicBlob"},
		{"no blob", other, `{"properties":{}}`, 400, "InvalidParameterValue"},
		{"no properties", other, `{}`, 400, "InvalidParameterValue"},
		{"empty body", other, ``, 400, "InvalidRequestContent"},
		{"not JSON", other, `{"properties":`, 400, "InvalidRequestContent"},
		{"bad name", linkPath(s, "serverTrustCertificates/a:b", LinkAPIVersion), `{"properties":{"publicBlob":"` + upper + `"}}`, 400, "InvalidResourceName"},
	} {
		code, m, _ := do(t, s, "PUT", tc.path, tok, "application/json", tc.body)
		if code != tc.status || errCode(m) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, errCode(m), tc.status, tc.code)
		}
	}
	if len(f.Calls()) != 1 {
		t.Errorf("refused PUTs reached the backend: %v", f.Calls())
	}

	// The backend's refusal is answered at once, with its code and status.
	f.putErr = &LinkError{Status: 409, Code: "CertificateAlreadyTrusted", Message: "same thumbprint"}
	code, m, _ = put(other, upper2(t))
	if code != 409 || errCode(m) != "CertificateAlreadyTrusted" {
		t.Errorf("backend refusal: %d %v", code, m)
	}
	// Any other failure fails the operation, without telling why.
	f.putErr = errors.New("engine exploded with a secret")
	code, _, h = put(other, upper2(t))
	if code != 202 {
		t.Fatalf("PUT with a failing backend: %d", code)
	}
	code, m, _ = do(t, s, "GET", h.Get("Azure-AsyncOperation")[len(s.base):], tok, "", "")
	if e, _ := m["error"].(map[string]any); code != 200 || m["status"] != "Failed" || e["code"] != "InternalServerError" || strings.Contains(e["message"].(string), "secret") {
		t.Errorf("failed operation: %d %v", code, m)
	}
	f.putErr = nil

	code, m, _ = do(t, s, "GET", linkPath(s, "serverTrustCertificates", "2021-11-01-preview"), tok, "", "")
	if v, _ := m["value"].([]any); code != 200 || len(v) != 1 {
		t.Errorf("LIST: %d %v", code, m)
	}
	code, _, h = do(t, s, "DELETE", strings.Replace(path, "Cert_sql01", "CERT_SQL01", 1), tok, "", "")
	if code != 202 || h.Get("Location") == "" {
		t.Errorf("DELETE: %d", code)
	}
	if _, ok := f.TrustCertificates()["Cert_sql01_endpoint"]; ok {
		t.Error("DELETE left the certificate")
	}
	code, m, _ = do(t, s, "GET", path, tok, "", "")
	if code != 404 || errCode(m) != "ResourceNotFound" {
		t.Errorf("GET after DELETE: %d %v", code, m)
	}
	code, _, _ = do(t, s, "DELETE", path, tok, "", "")
	if code != 204 {
		t.Errorf("DELETE again: %d", code)
	}
	// The log has each request, the changes marked.
	var changed int
	for _, e := range s.Log() {
		if e.Changed {
			changed++
		}
	}
	if changed != 2 {
		t.Errorf("%d changes logged, want the PUT and the DELETE", changed)
	}
}

func upper2(t *testing.T) string { return strings.ToUpper(hex.EncodeToString(testCert(t, "x"))) }

func TestParseDAGPut(t *testing.T) {
	full := map[string]string{
		"partnerAvailabilityGroupName": `"AG_payroll"`, "partnerEndpoint": `"TCP://sql01.lab:5022"`,
		"instanceAvailabilityGroupName": `"AG_payroll_MI"`, "instanceLinkRole": `"secondary"`, "failoverMode": `"manual"`,
		"seedingMode": `"Automatic"`, "replicationMode": `"sync"`, "databases": `[{"databaseName":"payroll"}]`,
	}
	body := func(change map[string]string) string {
		var parts []string
		for k, v := range full {
			if nv, ok := change[k]; ok {
				v = nv
			}
			if v != "" {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return `{"properties":{` + strings.Join(parts, ",") + `}}`
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
		code   string
	}{
		{"ok", nil, ""},
		{"defaults", map[string]string{"instanceLinkRole": "", "failoverMode": "", "seedingMode": "", "replicationMode": ""}, ""},
		{"IPv6 partner", map[string]string{"partnerEndpoint": `"tcp://[::1]:5022"`}, ""},
		{"no partner AG", map[string]string{"partnerAvailabilityGroupName": ""}, "InvalidParameterValue"},
		{"blank instance AG", map[string]string{"instanceAvailabilityGroupName": `" "`}, "InvalidParameterValue"},
		{"long AG", map[string]string{"partnerAvailabilityGroupName": `"` + strings.Repeat("a", 129) + `"`}, "InvalidParameterValue"},
		{"no endpoint", map[string]string{"partnerEndpoint": ""}, "InvalidParameterValue"},
		{"endpoint without port", map[string]string{"partnerEndpoint": `"TCP://sql01"`}, "InvalidParameterValue"},
		{"endpoint port 0", map[string]string{"partnerEndpoint": `"TCP://sql01:0"`}, "InvalidParameterValue"},
		{"endpoint scheme", map[string]string{"partnerEndpoint": `"https://sql01:5022"`}, "InvalidParameterValue"},
		{"endpoint with Server=", map[string]string{"partnerEndpoint": `"tcp://sql01:5022;Server=[x]"`}, "InvalidParameterValue"},
		{"role", map[string]string{"instanceLinkRole": `"Tertiary"`}, "InvalidParameterValue"},
		{"failover", map[string]string{"failoverMode": `"Automatic"`}, "InvalidParameterValue"},
		{"seeding", map[string]string{"seedingMode": `"Sometimes"`}, "InvalidParameterValue"},
		{"replication", map[string]string{"replicationMode": `"SYNCHRONOUS_COMMIT"`}, "InvalidParameterValue"},
		{"no databases", map[string]string{"databases": ""}, "InvalidParameterValue"},
		{"empty databases", map[string]string{"databases": `[]`}, "InvalidParameterValue"},
		{"nameless database", map[string]string{"databases": `[{}]`}, "InvalidParameterValue"},
		{"twice", map[string]string{"databases": `[{"databaseName":"a"},{"databaseName":"A"}]`}, "InvalidParameterValue"},
		{"databases wrong type", map[string]string{"databases": `"payroll"`}, "InvalidRequestContent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, e := parseDAGPut("payroll", []byte(body(tc.change)))
			got := ""
			if e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Fatalf("got %q, want %q (%v)", got, tc.code, e)
			}
			if tc.name == "ok" && (sp.InstanceLinkRole != "Secondary" || sp.FailoverMode != "Manual" || sp.ReplicationMode != "Sync" ||
				sp.PartnerAG != "AG_payroll" || sp.InstanceAG != "AG_payroll_MI" || len(sp.Databases) != 1 || sp.Name != "payroll") {
				t.Errorf("spec: %+v", sp)
			}
			if tc.name == "defaults" && (sp.InstanceLinkRole != "Secondary" || sp.FailoverMode != "None" || sp.SeedingMode != "Automatic" || sp.ReplicationMode != "Async") {
				t.Errorf("defaults: %+v", sp)
			}
		})
	}
}

func TestDAGNames(t *testing.T) {
	for name, ok := range map[string]bool{"payroll": true, "_x": true, "#t": true, "a@b#c$d_9": true, "9lives": false, "pay-roll": false,
		"": false, "a b": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false, "é": false} {
		if dagNameOK(name) != ok {
			t.Errorf("dagNameOK(%q) = %v", name, !ok)
		}
	}
}

func TestDistributedAvailabilityGroups(t *testing.T) {
	f := newFakeLink(t)
	s, tok := openLinkServer(t, f)
	path := linkPath(s, "distributedAvailabilityGroups/payroll", LinkAPIVersion)
	opStatus := func(h http.Header) map[string]any {
		t.Helper()
		_, m, _ := do(t, s, "GET", h.Get("Azure-AsyncOperation")[len(s.base):], tok, "", "")
		return m
	}

	code, m, _ := do(t, s, "GET", path, tok, "", "")
	if code != 404 || errCode(m) != "ResourceNotFound" {
		t.Errorf("GET before: %d %v", code, m)
	}
	code, m, _ = do(t, s, "PUT", linkPath(s, "distributedAvailabilityGroups/pay-roll", LinkAPIVersion), tok, "application/json", dagBody)
	if code != 400 || errCode(m) != "InvalidResourceName" {
		t.Errorf("bad name: %d %v", code, m)
	}
	// A refusal of the simulation comes back at once with its code.
	f.createErr = &LinkError{Status: 409, Code: "RemoteDatabaseExists", Message: "Database 'payroll' already exists on mi01."}
	code, m, _ = do(t, s, "PUT", path, tok, "application/json", dagBody)
	if code != 409 || errCode(m) != "RemoteDatabaseExists" {
		t.Errorf("refused: %d %v", code, m)
	}
	f.createErr = &LinkError{Code: "UnableToResolveRemoteServer", Message: "no such host"} // no status: 400
	code, m, _ = do(t, s, "PUT", path, tok, "application/json", dagBody)
	if code != 400 || errCode(m) != "UnableToResolveRemoteServer" {
		t.Errorf("refused without status: %d %v", code, m)
	}
	// One with status 202 is accepted and fails as an operation.
	f.createErr = &LinkError{Status: 202, Code: "ManagedInstanceLinkConnectivityIsNotEstablished", Message: "no replication"}
	code, m, h := do(t, s, "PUT", path, tok, "application/json", dagBody)
	if st := opStatus(h); code != 202 || st["status"] != "Failed" || errCode(st) != "ManagedInstanceLinkConnectivityIsNotEstablished" {
		t.Errorf("async refusal: %d %v %v", code, m, st)
	}
	f.createErr = nil

	code, _, h = do(t, s, "PUT", path, tok, "application/json", dagBody)
	if code != 202 || opStatus(h)["status"] != "Succeeded" {
		t.Fatalf("PUT: %d", code)
	}
	f.setState("payroll", LinkDatabase{Name: "payroll", ReplicaState: "Seeding", SeedingProgress: "30%", SynchronizationHealth: "NOT_HEALTHY",
		ConnectedState: "CONNECTED", LastHardenedLSN: "37000000012800001", LastReceivedLSN: "37000000012800001",
		LastHardenedTime: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), MostRecentLinkError: "41973: certificate not found",
		PartnerCertName: "Cert_sql01_endpoint", PartnerCertExpiry: time.Date(2027, 11, 30, 0, 0, 0, 0, time.UTC),
		SendLagSeconds: 3, RedoLagSeconds: 1, InstanceReplicaID: "i-1", PartnerReplicaID: "p-1"})
	code, m, _ = do(t, s, "GET", path, tok, "", "")
	props, _ := m["properties"].(map[string]any)
	dbs, _ := props["databases"].([]any)
	if code != 200 || m["type"] != typeDAG || props["distributedAvailabilityGroupName"] != "payroll" || props["partnerLinkRole"] != "Primary" ||
		props["replicationMode"] != "Async" || props["failoverMode"] != "Manual" || props["partnerEndpoint"] != "TCP://127.0.0.2:5022" || len(dbs) != 1 {
		t.Fatalf("GET: %d %v", code, m)
	}
	db := dbs[0].(map[string]any)
	cert, _ := db["partnerAuthCertValidity"].(map[string]any)
	if db["replicaState"] != "Seeding" || db["seedingProgress"] != "30%" || db["lastHardenedLsn"] != "37000000012800001" ||
		db["lastHardenedTime"] != "2026-11-30T12:00:00Z" || db["mostRecentLinkError"] != "41973: certificate not found" ||
		cert["certificateName"] != "Cert_sql01_endpoint" || cert["expiryDate"] != "2027-11-30T00:00:00Z" ||
		db["instanceSendReplicationLagSeconds"] != float64(3) || db["instanceReplicaId"] != "i-1" {
		t.Errorf("database: %v", db)
	}
	code, m, _ = do(t, s, "GET", linkPath(s, "distributedAvailabilityGroups", LinkAPIVersion), tok, "", "")
	if v, _ := m["value"].([]any); code != 200 || len(v) != 1 {
		t.Errorf("LIST: %d %v", code, m)
	}

	// PUT again: the same link is nothing to do; another replication mode
	// is a change of mode; anything else is refused.
	code, _, h = do(t, s, "PUT", path, tok, "application/json", dagBody)
	if code != 200 || h.Get("Azure-AsyncOperation") != "" {
		t.Errorf("same PUT: %d", code)
	}
	code, m, _ = do(t, s, "PUT", path, tok, "application/json", strings.Replace(dagBody, "AG_payroll_MI", "AG_other", 1))
	if code != 400 || errCode(m) != "InvalidParameterValue" {
		t.Errorf("PUT with another MI AG: %d %v", code, m)
	}
	code, _, _ = do(t, s, "PUT", path, tok, "application/json", strings.Replace(dagBody, `"Async"`, `"Sync"`, 1))
	if code != 202 {
		t.Errorf("PUT with Sync: %d", code)
	}

	for _, tc := range []struct{ name, body, code string }{
		{"databases", `{"properties":{"databases":[{"databaseName":"sales"}]}}`, "InvalidParameterValue"},
		{"more databases", `{"properties":{"databases":[{"databaseName":"payroll"},{"databaseName":"sales"}]}}`, "InvalidParameterValue"},
		{"failover mode", `{"properties":{"failoverMode":"None"}}`, "InvalidParameterValue"},
		{"partner", `{"properties":{"partnerEndpoint":"TCP://10.0.0.1:5022"}}`, "InvalidParameterValue"},
		{"mode", `{"properties":{"replicationMode":"Fast"}}`, "InvalidParameterValue"},
		{"no properties", `{}`, "InvalidParameterValue"},
	} {
		code, m, _ := do(t, s, "PATCH", path, tok, "application/json", tc.body)
		if code != 400 || errCode(m) != tc.code {
			t.Errorf("PATCH %s: %d %v", tc.name, code, m)
		}
	}
	// Repeating what is there is allowed.
	code, _, h = do(t, s, "PATCH", path, tok, "application/json", `{"properties":{"replicationMode":"async","databases":[{"databaseName":"PAYROLL"}],"failoverMode":"Manual"}}`)
	if code != 202 || opStatus(h)["status"] != "Succeeded" {
		t.Errorf("PATCH async: %d", code)
	}
	code, _, _ = do(t, s, "PATCH", linkPath(s, "distributedAvailabilityGroups/nope", LinkAPIVersion), tok, "application/json", `{"properties":{"replicationMode":"Sync"}}`)
	if code != 404 {
		t.Errorf("PATCH missing: %d", code)
	}

	// An armed fail-operation fails the next operation without a change.
	s.SetFaults(Faults{FailOperation: "ManagedInstanceLinkConnectivityIsNotEstablished"})
	code, _, h = do(t, s, "DELETE", path, tok, "", "")
	if st := opStatus(h); code != 202 || st["status"] != "Failed" || st["error"].(map[string]any)["code"] != "ManagedInstanceLinkConnectivityIsNotEstablished" {
		t.Errorf("failed DELETE: %d %v", code, st)
	}
	if _, ok := f.Link("payroll"); !ok {
		t.Error("the failed DELETE dropped the link")
	}
	code, _, h = do(t, s, "DELETE", path, tok, "", "")
	if code != 202 || opStatus(h)["status"] != "Succeeded" {
		t.Errorf("DELETE: %d", code)
	}
	code, _, _ = do(t, s, "DELETE", path, tok, "", "")
	if code != 204 {
		t.Errorf("DELETE again: %d", code)
	}
	want := []string{"create payroll", "create payroll", "create payroll", "create payroll", "mode payroll Sync", "mode payroll Async", "droplink payroll"}
	if got := f.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("backend calls:\n got %v\nwant %v", got, want)
	}
}
