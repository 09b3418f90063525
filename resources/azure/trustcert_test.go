package azure

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
)

// fakeSQL is a SQL Server target answering CERTENCODED from a map.
type fakeSQL struct {
	mu      sync.Mutex
	certs   map[string][]byte
	queries []string
}

func (f *fakeSQL) Address() string { return "sql_server.sql01" }
func (f *fakeSQL) Close() error    { return nil }
func (f *fakeSQL) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return fakeSQLObs{}, nil
}

func (f *fakeSQL) Query(_ context.Context, batch string) ([][]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, batch)
	for name, der := range f.certs {
		if batch == CertEncodedSQL(name) {
			return [][]any{{der}}, nil
		}
	}
	return [][]any{{nil}}, nil
}

type fakeSQLObs struct{}

func (fakeSQLObs) Summary() resources.TargetSummary { return resources.TargetSummary{} }
func (fakeSQLObs) Values() map[string]cty.Value {
	return map[string]cty.Value{"server_name": cty.StringVal(`SQL01\PROD`), "product_version": cty.StringVal("16.0.4135.4")}
}

func TestTrustCertificate(t *testing.T) {
	var lw *linkWorld
	m, rec := openLinkTest(t, newWorld(), &lw)
	ctx := context.Background()
	sql := &fakeSQL{certs: map[string][]byte{}}
	cfg := &TrustConfig{Address: "mi_trust_certificate.sql01"}
	others := map[string]resources.OtherTarget{"sql_server": {Target: sql, Observed: fakeSQLObs{}}}
	var prior *resources.Prior
	plan := func() resources.Change {
		t.Helper()
		req := resources.DiffRequest{Address: cfg.Address, Config: cfg, Target: m, Others: others, Prior: prior}
		r, diags := trustImpl{}.Read(ctx, req)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		req.Read = r
		ch, diags := trustImpl{}.Diff(req)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		ch.Address = cfg.Address
		return ch
	}
	apply := func(ch resources.Change) {
		t.Helper()
		res, err := trustImpl{}.Apply(ctx, resources.ApplyRequest{Change: ch, Config: cfg, Target: m, Others: map[string]resources.Target{"sql_server": sql}})
		if err != nil {
			t.Fatal(err)
		}
		prior = &resources.Prior{Attributes: res.Attributes}
	}

	// The certificate is made later in the same apply: thumbprint unknown.
	ch := plan()
	if ch.Action != resources.Create || !ch.IsUnknown("thumbprint") || ch.After["certificate"] != "Cert_SQL01_PROD_endpoint" {
		t.Fatalf("before the certificate exists: %+v", ch)
	}
	der := []byte{0x30, 0x82, 0x01, 0x22, 0x01}
	sql.certs["Cert_SQL01_PROD_endpoint"] = der
	apply(ch)
	if prior.Attributes["thumbprint"] != HexBlob(Thumbprint(der)) || prior.Attributes["created"] != true {
		t.Errorf("state: %v", prior.Attributes)
	}
	if ch := plan(); ch.Action != resources.NoOp {
		t.Errorf("second plan: %s %s", ch.Action, ch.Reason)
	}
	// Recreated on SQL Server under the same name: a new thumbprint.
	der2 := []byte{0x30, 0x82, 0x01, 0x22, 0x02}
	sql.certs["Cert_SQL01_PROD_endpoint"] = der2
	ch = plan()
	if ch.Action != resources.Update || !strings.Contains(ch.Reason, "replaced") {
		t.Fatalf("changed certificate: %s %s", ch.Action, ch.Reason)
	}
	var steps []string
	for _, s := range ch.Steps {
		steps = append(steps, s.Kind+" on "+s.On+": "+s.Text)
	}
	rec.reset()
	apply(ch)
	// Apply again after a crash: nothing is uploaded twice.
	n := len(lw.trust)
	apply(ch)
	if len(lw.trust) != n || lw.nops != 3 {
		t.Errorf("re-apply uploaded again: %d operations", lw.nops)
	}
	del := trustImpl{}.PlanDelete(*prior, m)
	del.Action = resources.Delete
	if _, err := (trustImpl{}).Apply(ctx, resources.ApplyRequest{Change: del, Target: m}); err != nil {
		t.Fatal(err)
	}
	if len(lw.trust) != 0 {
		t.Errorf("after the delete: %v", lw.trust)
	}
	for _, s := range del.Steps {
		steps = append(steps, s.Kind+" on "+s.On+": "+s.Text)
	}
	out := strings.ReplaceAll(strings.Join(steps, "\n\n")+"\n\n--- sent ---\n"+string(rec.text()), testSub, "SUBSCRIPTION")
	golden.Check(t, "testdata/golden/trust-certificate.txt", []byte(out))

	// Found, not uploaded by milink: the delete leaves it.
	lw.trust["Cert_SQL01_PROD_endpoint"] = der2
	keep := trustImpl{}.PlanDelete(resources.Prior{Attributes: map[string]any{"name": "Cert_SQL01_PROD_endpoint"}}, m)
	if len(keep.Steps) != 0 || !strings.Contains(keep.Reason, "stays") {
		t.Errorf("not milink's: %+v", keep)
	}
}
