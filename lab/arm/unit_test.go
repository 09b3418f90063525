package arm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func openServer(t *testing.T) *Server {
	t.Helper()
	s, err := Open(Config{Dir: t.TempDir(), ManagedInstanceAddress: "127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// do sends one request to the server's handler, without TLS.
func do(t *testing.T, s *Server, method, path, token, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.route(w, r)
	var m map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, w.Body)
		}
	}
	return w.Code, m, w.Header()
}

func errCode(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

func TestTokenEndpointErrors(t *testing.T) {
	s := openServer(t)
	info := s.Info()
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	good := []string{"grant_type", "client_credentials", "client_id", info.ClientID, "client_secret", info.ClientSecret, "scope", Audience + "/.default"}
	with := func(k, v string) []string {
		out := append([]string(nil), good...)
		for i := 0; i < len(out); i += 2 {
			if out[i] == k {
				out[i+1] = v
				return out
			}
		}
		return append(out, k, v)
	}
	for _, tc := range []struct {
		name, tenant, body string
		status             int
		aadsts             float64
	}{
		{"ok", info.TenantID, form(good...), 200, 0},
		{"scope with openid", info.TenantID, form(with("scope", Audience+"/.default openid profile offline_access")...), 200, 0},
		{"wrong secret", info.TenantID, form(with("client_secret", "x")...), 401, 7000215},
		{"no secret", info.TenantID, form(with("client_secret", "")...), 401, 7000218},
		{"unknown client", info.TenantID, form(with("client_id", "11111111-1111-1111-1111-111111111111")...), 400, 700016},
		{"unknown tenant", "22222222-2222-2222-2222-222222222222", form(good...), 400, 90002},
		{"grant", info.TenantID, form(with("grant_type", "password")...), 400, 70003},
		{"no grant", info.TenantID, form(with("grant_type", "")...), 400, 900144},
		{"scope without .default", info.TenantID, form(with("scope", "https://management.azure.com/user_impersonation")...), 400, 1002012},
		{"other resource", info.TenantID, form(with("scope", "https://vault.azure.net/.default")...), 400, 500011},
		{"no scope", info.TenantID, form(with("scope", "")...), 400, 90014},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m, _ := do(t, s, "POST", "/"+tc.tenant+"/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, m)
			}
			if tc.aadsts == 0 {
				if m["access_token"] == "" || m["token_type"] != "Bearer" {
					t.Errorf("token response: %v", m)
				}
				return
			}
			codes, _ := m["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tc.aadsts {
				t.Errorf("error_codes %v, want %v", m["error_codes"], tc.aadsts)
			}
			if d, _ := m["error_description"].(string); strings.Contains(d, info.ClientSecret) {
				t.Error("the error shows the secret")
			}
		})
	}
	// The log hides the secret in the form.
	for _, e := range s.Log() {
		if strings.Contains(e.Body, info.ClientSecret) || (strings.Contains(e.Path, "/token") && !strings.Contains(e.Body, "client_secret=REDACTED")) {
			t.Errorf("log entry shows or loses the secret field: %+v", e)
		}
	}
}

func TestEntraDiscovery(t *testing.T) {
	s := openServer(t)
	info := s.Info()
	code, m, _ := do(t, s, "GET", "/"+info.TenantID+"/v2.0/.well-known/openid-configuration", "", "", "")
	if code != 200 || m["issuer"] != s.base+"/"+info.TenantID+"/v2.0" || m["token_endpoint"] != s.base+"/"+info.TenantID+"/oauth2/v2.0/token" {
		t.Errorf("openid-configuration %d: %v", code, m)
	}
	code, m, _ = do(t, s, "GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=x", "", "", "")
	if code != 200 || m["tenant_discovery_endpoint"] == nil {
		t.Errorf("instance discovery %d: %v", code, m)
	}
	code, m, _ = do(t, s, "GET", "/"+info.TenantID+"/discovery/v2.0/keys", "", "", "")
	if keys, _ := m["keys"].([]any); code != 200 || len(keys) != 1 {
		t.Errorf("keys %d: %v", code, m)
	}
}

func TestResourceManagerAuth(t *testing.T) {
	s := openServer(t)
	info := s.Info()
	good, _, err := s.IssueToken()
	if err != nil {
		t.Fatal(err)
	}
	forged := func(mutate func(*claims)) string {
		c, err := s.verifyJWT(good)
		if err != nil {
			t.Fatal(err)
		}
		mutate(&c)
		tok, err := s.signJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	path := info.ManagedInstanceID + "?api-version=2021-05-01-preview"
	for _, tc := range []struct {
		name, token, path string
		status            int
		code              string
	}{
		{"ok", good, path, 200, ""},
		{"no token", "", path, 401, "AuthenticationFailed"},
		{"bad signature", tampered, path, 401, "InvalidAuthenticationToken"},
		{"garbage", "abc", path, 401, "InvalidAuthenticationToken"},
		{"expired", forged(func(c *claims) { c.Exp = time.Now().Add(-time.Minute).Unix() }), path, 401, "ExpiredAuthenticationToken"},
		{"audience", forged(func(c *claims) { c.Aud = "https://vault.azure.net" }), path, 401, "InvalidAuthenticationTokenAudience"},
		{"tenant", forged(func(c *claims) { c.TID = "33333333-3333-3333-3333-333333333333" }), path, 401, "InvalidAuthenticationTokenTenant"},
		{"no api-version", good, info.ManagedInstanceID, 400, "MissingApiVersionParameter"},
		{"unknown api-version", good, info.ManagedInstanceID + "?api-version=1999-01-01", 400, "NoRegisteredProviderFound"},
		{"subscription", good, strings.Replace(path, info.SubscriptionID, "44444444-4444-4444-4444-444444444444", 1), 404, "SubscriptionNotFound"},
		{"resource group", good, strings.Replace(path, ResourceGroup, "other-rg", 1), 404, "ResourceGroupNotFound"},
		{"rule of a missing NSG", good, s.nsgID("nope") + "/securityRules/r?api-version=2024-05-01", 404, "ParentResourceNotFound"},
		{"missing rule", good, info.NSGID + "/securityRules/r?api-version=2024-05-01", 404, "NotFound"},
		{"missing NSG", good, s.nsgID("nope") + "?api-version=2024-05-01", 404, "ResourceNotFound"},
		{"subnet", good, info.SubnetID + "?api-version=2024-05-01", 200, ""},
		{"VM NSG", good, info.SQLServerNSGID + "?api-version=2024-05-01", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m, h := do(t, s, "GET", tc.path, tc.token, "", "")
			if code != tc.status || errCode(m) != tc.code {
				t.Errorf("%d %s, want %d %s: %v", code, errCode(m), tc.status, tc.code, m)
			}
			if code == 401 && !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("401 without a challenge: %q", h.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestValidateRule(t *testing.T) {
	p := func(i int32) *int32 { return &i }
	base := func() ruleProps {
		return ruleProps{Protocol: "tcp", SourcePortRange: "*", DestinationPortRanges: []string{"5022", "11000-11999"},
			SourceAddressPrefix: "10.0.0.4", DestinationAddressPrefix: "10.0.1.0/24", Access: "allow", Priority: p(300), Direction: "inbound"}
	}
	for _, tc := range []struct {
		name   string
		change func(*ruleProps)
		code   string
	}{
		{"ok", func(*ruleProps) {}, ""},
		{"service tag", func(r *ruleProps) { r.SourceAddressPrefix = "VirtualNetwork" }, ""},
		{"prefix list", func(r *ruleProps) {
			r.SourceAddressPrefix = ""
			r.SourceAddressPrefixes = []string{"10.0.0.4", "10.0.0.0/8"}
		}, ""},
		{"tag in a list", func(r *ruleProps) {
			r.SourceAddressPrefix = ""
			r.SourceAddressPrefixes = []string{"VirtualNetwork", "10.0.0.4"}
		}, "SecurityRuleInvalidAddressPrefix"},
		{"protocol", func(r *ruleProps) { r.Protocol = "Sctp" }, "SecurityRuleInvalidProtocol"},
		{"access", func(r *ruleProps) { r.Access = "Maybe" }, "SecurityRuleInvalidAccess"},
		{"direction", func(r *ruleProps) { r.Direction = "Sideways" }, "SecurityRuleInvalidDirection"},
		{"no priority", func(r *ruleProps) { r.Priority = nil }, "SecurityRuleInvalidPriority"},
		{"priority 99", func(r *ruleProps) { r.Priority = p(99) }, "SecurityRuleInvalidPriority"},
		{"priority 4096", func(r *ruleProps) { r.Priority = p(4096) }, ""},
		{"priority 4097", func(r *ruleProps) { r.Priority = p(4097) }, "SecurityRuleInvalidPriority"},
		{"description 140", func(r *ruleProps) { r.Description = strings.Repeat("é", 140) }, ""},
		{"description 141", func(r *ruleProps) { r.Description = strings.Repeat("é", 141) }, "SecurityRuleDescriptionTooLong"},
		{"both port forms", func(r *ruleProps) { r.DestinationPortRange = "5022" }, "SecurityRuleParameterContainsMultipleValues"},
		{"no ports", func(r *ruleProps) { r.DestinationPortRanges = nil }, "SecurityRuleParameterIsNullOrEmpty"},
		{"reversed range", func(r *ruleProps) { r.DestinationPortRanges = []string{"12000-11000"} }, "SecurityRuleInvalidPortRange"},
		{"port too big", func(r *ruleProps) { r.DestinationPortRanges = []string{"65536"} }, "SecurityRuleInvalidPortRange"},
		{"bad prefix", func(r *ruleProps) { r.DestinationAddressPrefix = "10.0.0.0/33" }, "SecurityRuleInvalidAddressPrefix"},
		{"no destination", func(r *ruleProps) { r.DestinationAddressPrefix = "" }, "SecurityRuleParameterIsNullOrEmpty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.change(&r)
			e := validateRule("rule", &r)
			got := ""
			if e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Errorf("got %q, want %q (%v)", got, tc.code, e)
			}
			if e == nil && (r.Protocol != "Tcp" || r.Access != "Allow" || r.Direction != "Inbound") {
				t.Errorf("not canonical: %s %s %s", r.Protocol, r.Access, r.Direction)
			}
		})
	}
}

func TestRedactBody(t *testing.T) {
	for _, tc := range []struct{ ct, in, secret string }{
		{"application/json", `{"properties":{"privateBlob":"MIIKAAAA","certPassword":"p\"w"}}`, "MIIKAAAA"},
		{"application/json", `{"properties":{"privateBlob":"x","certPassword":"p\"w"}}`, `p\"w`},
		{"application/x-www-form-urlencoded", "client_id=a&client_secret=s3cr3t&grant_type=client_credentials", "s3cr3t"},
	} {
		got := redactBody(tc.ct, []byte(tc.in))
		if strings.Contains(got, tc.secret) || !strings.Contains(got, "REDACTED") {
			t.Errorf("redactBody(%s) = %s", tc.in, got)
		}
	}
}

func TestFaultChangeApply(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	code := "Conflict"
	f := FaultChange{Throttle: n(2), FailOperation: &code}.Apply(Faults{ServerError: 1})
	if f.Throttle != 2 || f.ServerError != 1 || f.FailOperation != "Conflict" {
		t.Errorf("%+v", f)
	}
	f = FaultChange{Clear: true, ExpiredTokens: n(1)}.Apply(f)
	if f != (Faults{ExpiredTokens: 1}) {
		t.Errorf("after clear: %+v", f)
	}
}

// The managed instance's rules, the port and the identities survive a
// restart; a taken port is replaced by another.
func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, ManagedInstanceAddress: "127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Info()
	// Keep the port busy: the next Open must take another.
	s2, err := Open(Config{Dir: dir, ManagedInstanceAddress: "127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if s2.URL() == s.URL() {
		t.Error("two servers on one port")
	}
	s2.Close()
	s.Close()
	s3, err := Open(Config{Dir: dir, ManagedInstanceAddress: "127.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	got := s3.Info()
	if got.ClientSecret != first.ClientSecret || got.TenantID != first.TenantID || got.SubscriptionID != first.SubscriptionID || got.CAFile != first.CAFile {
		t.Errorf("identities changed: %+v, then %+v", first, got)
	}
	if s3.subnetPrefix() != "127.0.0.9/32" {
		t.Errorf("subnet follows mi01's address: %s", s3.subnetPrefix())
	}
}
