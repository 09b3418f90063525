package azure

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
	"github.com/milink/milink/state"
)

// fakeSQLOpener opens the fake SQL Server as the sql_server target.
type fakeSQLOpener struct{ sql *fakeSQL }

func (o fakeSQLOpener) Open(context.Context, resources.Env, string, any) (resources.Target, error) {
	return o.sql, nil
}

// TestTrustThroughThePlanner: the mi_trust_certificate block loaded,
// planned, applied, planned again (nothing), and removed (deleted, as
// milink uploaded it), by the real loader and planner.
func TestTrustThroughThePlanner(t *testing.T) {
	w := newWorld()
	rec := &recorder{}
	lw := newLinkWorld(w.transport())
	o := options{transport: lw, cred: &azfake.TokenCredential{}, policies: []policy.Policy{rec}, retry: &policy.RetryOptions{MaxRetries: -1}}
	az, mi := *azureKind, *managedInstanceKind
	az.Impl, mi.Impl = accountOpener{opts: o}, miOpener{opts: o}
	sql := &fakeSQL{certs: map[string][]byte{"Cert_SQL01_PROD_endpoint": {0x30, 0x82, 0x01, 0x0a, 0x07}}}
	sqlKind := &resources.Kind{Type: sqlserver.KindServer, Role: resources.RoleTarget, Schema: &hcl.BodySchema{},
		Decode: func(*lang.Body, resources.BlockInfo) any { return struct{}{} }, Impl: fakeSQLOpener{sql}}
	e := &runEnv{t: t, dir: t.TempDir(), reg: resources.NewRegistry(sqlKind, &az, &mi, nsgRuleKind, trustCertKind)}
	e.backend = state.NewLocal(filepath.Join(e.dir, "milink.state.json"))
	withTrust := planConfig + `
sql_server "sql01" {}

mi_trust_certificate "sql01" {
  managed_instance = managed_instance.mi01
  sql_server       = sql_server.sql01
}
`
	e.write(withTrust)
	p := e.apply()
	if ch := p.Change("mi_trust_certificate.sql01"); ch == nil || ch.Action != resources.Create || ch.Target != "managed_instance.mi01" {
		t.Fatalf("first plan: %s", actions(p))
	}
	if _, ok := lw.trust["Cert_SQL01_PROD_endpoint"]; !ok {
		t.Fatalf("not uploaded: %v", lw.trust)
	}
	p, _, _, _ = e.plan()
	if ch := p.Change("mi_trust_certificate.sql01"); ch == nil || ch.Action != resources.NoOp {
		t.Fatalf("second plan: %s", actions(p))
	}
	e.write(planConfig + "\nsql_server \"sql01\" {}\n")
	p = e.apply()
	if got := actions(p); !strings.Contains(got, "delete mi_trust_certificate.sql01") {
		t.Fatalf("after removing the block: %s", got)
	}
	if len(lw.trust) != 0 {
		t.Errorf("still trusted: %v", lw.trust)
	}
}
