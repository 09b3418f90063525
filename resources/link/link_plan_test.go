package link

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
	"github.com/milink/milink/state"
)

// linkTargetKind is a test target kind whose opener returns t.
func linkTargetKind(typ string, t resources.Target) *resources.Kind {
	return &resources.Kind{Type: typ, Role: resources.RoleTarget, Schema: &hcl.BodySchema{},
		Decode: func(*lang.Body, resources.BlockInfo) any { return struct{}{} }, Impl: linkOpener{t}}
}

type linkOpener struct{ t resources.Target }

func (o linkOpener) Open(context.Context, resources.Env, string, any) (resources.Target, error) {
	return o.t, nil
}

// obsTarget gives the fakes an observation the planner can show.
type linkObsSQL struct{ *linkFakeSQL }

func (o linkObsSQL) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return linkSQLObs{"16.0.4135.4", "CU15", "Developer Edition (64-bit)"}, nil
}

type linkObsMI struct{ *linkFakeMI }

func (o linkObsMI) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return linkSQLObs{}, nil
}

const linkConfigText = `
sql_server "sql01" {}
managed_instance "mi01" {}

managed_instance_link "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  databases        = ["payroll"]
  wait_for         = "seeded"
  wait_timeout     = "1m"
}
`

// TestLinkThroughThePlanner: the link loaded, planned and applied by the
// real loader and planner; the second plan holds only the live status
// (a notable no-op, in -json too); removing the block drops the link.
func TestLinkThroughThePlanner(t *testing.T) {
	r := newLinkRig(t)
	dir := t.TempDir()
	// The link alone, with fake targets: its parts are other tests'.
	alone := *LinkKind
	alone.Expand = nil
	reg := resources.NewRegistry(linkTargetKind(sqlserver.KindServer, linkObsSQL{r.sql}), linkTargetKind(azure.KindManagedInstance, linkObsMI{r.mi}), &alone)
	backend := state.NewLocal(filepath.Join(dir, "milink.state.json"))
	write := func(src string) {
		if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	build := func() (*plan.Plan, *config.Config, *state.State, *plan.Session) {
		t.Helper()
		cfg, _, diags := config.Load(dir, reg, config.Vars{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		st, err := backend.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sess := plan.NewSession(resources.Env{})
		t.Cleanup(sess.Close)
		p, diags := plan.Build(context.Background(), cfg, st, sess, plan.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return p, cfg, st, sess
	}
	apply := func() *plan.Plan {
		t.Helper()
		p, cfg, st, sess := build()
		if err := plan.Apply(context.Background(), p, cfg, st, backend, sess, linkNopEvents{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(linkConfigText)
	r.mi.script = []azure.LinkDatabase{{ReplicaState: "Seeding", SeedingProgress: "40%", ConnectedState: "CONNECTED"},
		{ReplicaState: "LinkSynchronizing", ConnectedState: "CONNECTED", SynchronizationHealth: "HEALTHY", LastHardenedLSN: "37000000012800001",
			PartnerCertName: "Cert_sql01_endpoint", PartnerCertExpiry: time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)}}
	p := apply()
	if ch := p.Change("managed_instance_link.payroll"); ch == nil || ch.Action != resources.Create || ch.Target != "managed_instance.mi01" {
		t.Fatalf("first plan: %+v", p.Changes)
	}
	p, _, _, _ = build()
	ch := p.Change("managed_instance_link.payroll")
	if ch == nil || ch.Action != resources.NoOp || !ch.Notable || !strings.HasPrefix(ch.Reason, "live: payroll: LinkSynchronizing") || p.HasChanges() {
		t.Fatalf("second plan: %+v", ch)
	}
	data, _ := json.Marshal(p)
	if !strings.Contains(string(data), `"replica_state":"LinkSynchronizing"`) || !strings.Contains(string(data), `"sql_end_of_log_lsn":"37000000012800001"`) {
		t.Errorf("-json lacks the live status: %s", data)
	}
	write("sql_server \"sql01\" {}\nmanaged_instance \"mi01\" {}\n")
	p = apply()
	if ch := p.Change("managed_instance_link.payroll"); ch == nil || ch.Action != resources.Delete || !strings.Contains(ch.Reason, "KEEPS its copy") {
		t.Fatalf("after removing the block: %+v", p.Changes)
	}
	if len(r.mi.links) != 0 {
		t.Errorf("link not dropped: %v", r.mi.links)
	}
}

type linkNopEvents struct{}

func (linkNopEvents) Start(resources.Change)                      {}
func (linkNopEvents) Progress(resources.Change, string)           {}
func (linkNopEvents) Done(resources.Change, time.Duration, error) {}
func (linkNopEvents) Skipped(resources.Change, string)            {}
