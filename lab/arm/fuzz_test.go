package arm

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// FuzzVerifyJWT: any string is refused or verified without panicking, and
// only what the server signed verifies.
func FuzzVerifyJWT(f *testing.F) {
	s, err := Open(Config{Dir: f.TempDir(), ManagedInstanceAddress: "127.0.0.3"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	good, _, err := s.IssueToken()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("a.b.c")
	f.Add("")
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := s.verifyJWT(tok); err == nil && tok != good {
			// Another encoding of the same signature bytes would be the
			// only way; base64url without padding has a single one.
			t.Errorf("a token the server did not sign verified: %q", tok)
		}
	})
}

// FuzzRulePut: any request body to the rule endpoint is answered without a
// panic, and the rules the NSG then holds keep ARM's invariants.
func FuzzRulePut(f *testing.F) {
	f.Add("r1", `{"properties":{"protocol":"Tcp","sourcePortRange":"*","destinationPortRange":"5022","sourceAddressPrefix":"*","destinationAddressPrefix":"*","access":"Allow","priority":300,"direction":"Inbound"}}`)
	f.Add("r2", `{"properties":{"protocol":"*","sourcePortRanges":["1-2"],"destinationPortRanges":["3"],"sourceAddressPrefixes":["10.0.0.0/8"],"destinationAddressPrefix":"VirtualNetwork","access":"deny","priority":100,"direction":"outbound"}}`)
	f.Add("r3", `{"properties":null}`)
	f.Add("Microsoft.Sql-managedInstances_UseOnly_mi-x", `{}`)
	s, err := Open(Config{Dir: f.TempDir(), ManagedInstanceAddress: "127.0.0.3"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, name, body string) {
		if strings.ContainsAny(name, "/?#% \t\r\n") || name == "" || name == "." || name == ".." {
			return
		}
		r, err := http.NewRequest(http.MethodPut, "https://lab"+s.nsgID(MINSGName)+"/securityRules/"+name+"?api-version=2024-05-01", strings.NewReader(body))
		if err != nil {
			return
		}
		w := &discard{h: http.Header{}}
		s.serveRule(w, r, MINSGName, name, []byte(body))
		s.mu.Lock()
		defer s.mu.Unlock()
		n := s.st.nsg(MINSGName)
		seen := map[string]string{}
		for _, ru := range n.Rules {
			p := ru.Props
			if p.Priority == nil || *p.Priority < 100 || *p.Priority > 4096 {
				t.Fatalf("rule %s has priority %v", ru.Name, p.Priority)
			}
			key := fmt.Sprintf("%s/%d", p.Direction, *p.Priority)
			if other, dup := seen[key]; dup {
				t.Fatalf("rules %s and %s share direction and priority", other, ru.Name)
			}
			seen[key] = ru.Name
		}
	})
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// FuzzOpenPFX: any blob and password are refused or opened, never a panic.
func FuzzOpenPFX(f *testing.F) {
	f.Add("", "")
	f.Add(base64.StdEncoding.EncodeToString([]byte{0x30, 0x82, 0x01, 0x00}), "pw")
	f.Add("not base64!", "x")
	f.Fuzz(func(t *testing.T, blob, password string) {
		der, key, e := openPFX(blob, password)
		if e == nil && (len(der) == 0 || key == nil) {
			t.Fatal("opened without a certificate and key")
		}
		if e != nil && e.Code != "InvalidPrivateBlobOrPassword" {
			t.Fatalf("code %s", e.Code)
		}
	})
}

// FuzzLinkBodies: any body to the link's resources is refused with an ARM
// error or accepted as a spec that keeps the service's rules: canonical
// enumerations, at least one database, a TCP partner endpoint, a whole
// certificate.
func FuzzLinkBodies(f *testing.F) {
	f.Add(`{"properties":{"partnerAvailabilityGroupName":"ag","partnerEndpoint":"TCP://127.0.0.2:5022","instanceAvailabilityGroupName":"miag","databases":[{"databaseName":"payroll"}]}}`)
	f.Add(`{"properties":{"replicationMode":"sync","databases":[{"databaseName":"db"}]}}`)
	f.Add(`{"properties":{"publicBlob":"0x3082"}}`)
	f.Add(`{"properties":{"partnerEndpoint":"tcp://[::1]:1","databases":[{}]}}`)
	f.Add(`null`)
	cur := LinkSpec{Name: "payroll", PartnerAG: "ag", PartnerEndpoint: "TCP://127.0.0.2:5022", InstanceAG: "miag",
		InstanceLinkRole: "Secondary", FailoverMode: "Manual", SeedingMode: "Automatic", ReplicationMode: "Async", Databases: []string{"db"}}
	f.Fuzz(func(t *testing.T, body string) {
		sp, e := parseDAGPut("payroll", []byte(body))
		if e == nil {
			if len(sp.Databases) == 0 || sp.PartnerAG == "" || sp.InstanceAG == "" || !partnerEndpointOK(sp.PartnerEndpoint) ||
				(sp.ReplicationMode != "Async" && sp.ReplicationMode != "Sync") || (sp.FailoverMode != "None" && sp.FailoverMode != "Manual") ||
				(sp.InstanceLinkRole != "Primary" && sp.InstanceLinkRole != "Secondary") || (sp.SeedingMode != "Automatic" && sp.SeedingMode != "Manual") {
				t.Fatalf("accepted %+v", sp)
			}
		} else if e.Status != http.StatusBadRequest || e.Code == "" {
			t.Fatalf("refusal %+v", e)
		}
		mode, e := parseDAGPatch(cur, []byte(body))
		if e == nil && mode != "" && mode != "Async" && mode != "Sync" {
			t.Fatalf("PATCH mode %q", mode)
		}
		if der, e := parseTrustPut([]byte(body)); e == nil {
			if _, err := x509.ParseCertificate(der); err != nil {
				t.Fatalf("accepted a blob that is no certificate: %v", err)
			}
		}
	})
}
