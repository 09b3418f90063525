package azure

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// The configuration a user writes, planned and applied through the
// loader and the planner, against the SDK's fakes.
const planConfig = `
variable "client_secret" {
  type      = string
  sensitive = true
}

azure "main" {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  tenant_id       = "11111111-1111-1111-1111-111111111111"
  client_id       = "22222222-2222-2222-2222-222222222222"
  client_secret   = var.client_secret
}

managed_instance "mi01" {
  azure          = azure.main
  resource_group = "rg-link"
  name           = "mi01"
}

nsg_rule "link_in" {
  managed_instance = managed_instance.mi01
  source_addresses = ["10.0.0.4"]
}
`

const outRule = `
nsg_rule "link_out" {
  managed_instance      = managed_instance.mi01
  direction             = "outbound"
  destination_addresses = ["10.0.0.4"]
  priority_range        = [1100, 1199]
}

nsg_rule "uses_values" {
  managed_instance      = managed_instance.mi01
  name                  = "milink-${managed_instance.mi01.name}-probe"
  source_addresses      = managed_instance.mi01.subnet_prefixes
  destination_addresses = managed_instance.mi01.subnet_prefixes
  ports                 = ["1433"]
}
`

const secret = "Very-Secret-Client-Value-42"

// fakeRegistry is the Azure kinds with their targets on the fakes.
func fakeRegistry(w *world, rec *recorder) *resources.Registry {
	o := options{transport: w.transport(), cred: &azfake.TokenCredential{}, policies: []policy.Policy{rec}, retry: &policy.RetryOptions{MaxRetries: -1}}
	az, mi := *azureKind, *managedInstanceKind
	az.Impl, mi.Impl = accountOpener{opts: o}, miOpener{opts: o}
	return resources.NewRegistry(&az, &mi, nsgRuleKind)
}

type runEnv struct {
	t       *testing.T
	dir     string
	reg     *resources.Registry
	backend state.Backend
}

func (e *runEnv) write(src string) {
	if err := os.WriteFile(filepath.Join(e.dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *runEnv) plan() (*plan.Plan, *config.Config, *state.State, *plan.Session) {
	e.t.Helper()
	cfg, _, diags := config.Load(e.dir, e.reg, config.Vars{Args: []string{"client_secret=" + secret}})
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	st, err := e.backend.Load(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	sess := plan.NewSession(resources.Env{})
	e.t.Cleanup(sess.Close)
	p, diags := plan.Build(context.Background(), cfg, st, sess, plan.Options{})
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	return p, cfg, st, sess
}

func (e *runEnv) apply() *plan.Plan {
	e.t.Helper()
	p, cfg, st, sess := e.plan()
	if err := plan.Apply(context.Background(), p, cfg, st, e.backend, sess, nopEvents{}); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type nopEvents struct{}

func (nopEvents) Start(resources.Change)                      {}
func (nopEvents) Progress(resources.Change, string)           {}
func (nopEvents) Done(resources.Change, time.Duration, error) {}
func (nopEvents) Skipped(resources.Change, string)            {}

func actions(p *plan.Plan) string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, string(c.Action)+" "+c.Address)
	}
	return strings.Join(out, ", ")
}

func TestPlanApplyThroughThePlanner(t *testing.T) {
	w := newWorld()
	rec := &recorder{}
	e := &runEnv{t: t, dir: t.TempDir(), reg: fakeRegistry(w, rec)}
	e.backend = state.NewLocal(filepath.Join(e.dir, "milink.state.json"))
	e.write(planConfig + outRule)

	p := e.apply()
	if got, want := actions(p), "create nsg_rule.link_in, create nsg_rule.link_out, create nsg_rule.uses_values"; got != want {
		t.Fatalf("first plan: %s\nwant %s", got, want)
	}
	if ch := p.Change("nsg_rule.link_out"); ch.After["priority"] != 1100 {
		t.Errorf("link_out priority %v, want 1100 (its range)", ch.After["priority"])
	}
	if ch := p.Change("nsg_rule.uses_values"); ch.After["name"] != "milink-mi01-probe" || ch.After["priority"] != 1001 {
		t.Errorf("uses_values: %v", ch.After)
	}
	p, _, _, _ = e.plan()
	for _, c := range p.Changes {
		if c.Action != resources.NoOp {
			t.Fatalf("second plan not empty: %s: %s", actions(p), c.Reason)
		}
	}
	// Removing a block deletes its rule, and only it.
	e.write(planConfig)
	p = e.apply()
	if got := actions(p); !strings.Contains(got, "delete nsg_rule.link_out") || !strings.Contains(got, "delete nsg_rule.uses_values") || strings.Contains(got, "delete nsg_rule.link_in") {
		t.Fatalf("after removing blocks: %s", got)
	}
	if n := len(w.nsgs["nsg-mi"]); n != 5 {
		t.Errorf("nsg-mi holds %d rules, want 5", n)
	}
	// Secrets stay out of the plan and the state.
	data, _ := json.Marshal(p)
	st, _ := os.ReadFile(filepath.Join(e.dir, "milink.state.json"))
	for what, text := range map[string]string{"plan": string(data), "state": string(st), "calls": string(rec.text())} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s shows the client secret", what)
		}
	}
	if !strings.Contains(string(data), `"managed_instance.mi01"`) || !strings.Contains(string(data), "10.0.1.0/24") {
		t.Errorf("the plan lacks the managed instance's values: %s", data)
	}
}
