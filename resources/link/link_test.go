package link

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// decodeLinkText decodes a link block body written in HCL, with the targets
// as objects.
func decodeLinkText(t *testing.T, src string) (*LinkConfig, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "main.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"sql_server":       cty.ObjectVal(map[string]cty.Value{"sql01": cty.ObjectVal(map[string]cty.Value{"server_name": cty.StringVal("sql01")})}),
		"managed_instance": cty.ObjectVal(map[string]cty.Value{"mi01": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("mi01")})}),
		"availability_group": cty.ObjectVal(map[string]cty.Value{
			"sales": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("AG_existing")})}),
		"endpoint_certificate": cty.ObjectVal(map[string]cty.Value{"mine": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("c")})}),
	}}
	sink := &lang.Sink{}
	b := lang.Decode(sink, f.Body, LinkKind.Schema, ctx, hcl.Range{Filename: "main.hcl"}, true)
	c := decodeLink(b, resources.BlockInfo{Address: "managed_instance_link.payroll", Name: "payroll"}).(*LinkConfig)
	return c, linkSinkDiags(sink)
}

const linkBase = `
sql_server       = sql_server.sql01
managed_instance = managed_instance.mi01
`

func TestDecodeLink(t *testing.T) {
	c, diags := decodeLinkText(t, linkBase+`databases = ["payroll"]`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if c.Name != "payroll" || c.AvailabilityGroup != "AG_payroll" || c.InstanceAvailabilityGroup != "AG_payroll_MI" ||
		c.Replication != "Async" || c.FailoverMode != "Manual" || c.WaitFor != "connected" || c.InitialPrimary != "sql_server" || c.WaitTimeout != defaultWaitTimeout {
		t.Errorf("defaults: %+v", c)
	}
	c, diags = decodeLinkText(t, linkBase+`databases = ["payroll"]
availability_group = availability_group.sales
replication = "SYNC"
failover_mode = "none"
wait_for = "seeded"
wait_timeout = "30s"`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if c.AvailabilityGroup != "AG_existing" || c.Replication != "Sync" || c.FailoverMode != "None" || c.WaitFor != "seeded" || c.WaitTimeout != 30*time.Second {
		t.Errorf("set: %+v", c)
	}
	for _, tc := range []struct{ body, want string }{
		{`databases = ["a", "b"]`, "One database per link"},
		{`databases = []`, "No database"},
		{`databases = ["a", "A"]` + "\nmulti_database = true", "Duplicate database"},
		{`databases = ["a"]` + "\nreplication = \"asynch\"", `Did you mean "async"?`},
		{`databases = ["a"]` + "\nfailover_mode = \"auto\"", `"failover_mode" must be one of`},
		{`databases = ["a"]` + "\nwait_for = \"synced\"", `"wait_for" must be one of`},
		{`databases = ["a"]` + "\ninitial_primary = \"azure\"", `"initial_primary" must be one of`},
		{`databases = ["a", "b"]` + "\nmulti_database = true\ninitial_primary = \"managed_instance\"", "single-database links only"},
		{`databases = ["a"]` + "\npartner_endpoint = \"10.0.0.4:5022\"", "TCP://<IP address"},
		{`databases = ["a"]` + "\nname = \"1bad\"", "Invalid link name"},
		{`databases = ["a"]` + "\nendpoint_certificate = \"Cert_x\"", "endpoint_certificate = endpoint_certificate.NAME"},
		{`databases = ["a"]` + "\navailability_group = \"AG_a\"\ninstance_availability_group = \"ag_a\"", "need different names"},
		{`databases = ["a"]` + "\nwait_timeout = \"soon\"", "Invalid duration"},
	} {
		_, diags := decodeLinkText(t, linkBase+tc.body)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s: %v", tc.body, diags)
		}
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Filename != "main.hcl" {
				t.Errorf("%s: a diagnostic without its place: %v", tc.body, d)
			}
		}
	}
	if _, diags := decodeLinkText(t, linkBase+`databases = ["a"]
endpoint_certificate = endpoint_certificate.mine`); diags.HasErrors() {
		t.Errorf("a pointer: %v", diags)
	}
}

func linkDiagText(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		out = append(out, d.Summary+": "+d.Detail)
	}
	return strings.Join(out, "\n")
}

func linkSinkDiags(s *lang.Sink) hcl.Diagnostics { return s.Diags }

// linkFakeMI is the managed instance as the link sees it: links held in a
// map, changing state on each read as a script says.
type linkFakeMI struct {
	mu     sync.Mutex
	links  map[string]*azure.Link
	format string
	calls  []string
	// script: the states a link's database goes through, one per read.
	script []azure.LinkDatabase
	reads  int
	fail   error
}

func (f *linkFakeMI) Address() string { return "managed_instance.mi01" }
func (f *linkFakeMI) Name() string    { return "mi01" }
func (f *linkFakeMI) FQDN() string    { return "mi01.abc.database.windows.net" }
func (f *linkFakeMI) ResourceID() string {
	return "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Sql/managedInstances/mi01"
}
func (f *linkFakeMI) Close() error { return nil }
func (f *linkFakeMI) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return nil, nil
}

func (f *linkFakeMI) Link(_ context.Context, name string) (*azure.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "GET "+name)
	l, ok := f.links[name]
	if !ok {
		return nil, nil
	}
	if len(f.script) > 0 {
		i := min(f.reads, len(f.script)-1)
		f.reads++
		d := f.script[i]
		d.Name = l.Databases[0]
		l.DatabaseStates = []azure.LinkDatabase{d}
	}
	cp := *l
	return &cp, nil
}

func (f *linkFakeMI) CreateLink(_ context.Context, name string, spec azure.LinkSpec) (*azure.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "PUT "+name)
	if f.fail != nil {
		return nil, f.fail
	}
	l := &azure.Link{Name: name, LinkSpec: spec, DAGID: "id"}
	for _, d := range spec.Databases {
		l.DatabaseStates = append(l.DatabaseStates, azure.LinkDatabase{Name: d, ReplicaState: "CreatingLink", ConnectedState: "DISCONNECTED"})
	}
	f.links[name] = l
	cp := *l
	return &cp, nil
}

func (f *linkFakeMI) SetLinkReplicationMode(_ context.Context, name, mode string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "PATCH "+name+" "+mode)
	f.links[name].ReplicationMode = mode
	return nil
}

func (f *linkFakeMI) DeleteLink(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DELETE "+name)
	delete(f.links, name)
	return nil
}

func (f *linkFakeMI) DatabaseFormat(context.Context) (string, error) { return f.format, nil }

// linkFakeSQL answers the DAG status reads.
type linkFakeSQL struct {
	endOfLog string
	noDAG    bool
	err      error
	multiDB  int
}

func (f *linkFakeSQL) Address() string { return "sql_server.sql01" }
func (f *linkFakeSQL) Server() *sqlserver.Server {
	return &sqlserver.Server{Name: "sql01", Address: "10.0.0.4"}
}
func (f *linkFakeSQL) Close() error { return nil }
func (f *linkFakeSQL) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return nil, nil
}

func (f *linkFakeSQL) Query(_ context.Context, batch string) ([][]any, error) {
	if f.err != nil {
		return nil, f.err
	}
	guid := []byte{1, 2, 3}
	switch batch {
	case linkAGsSQL:
		if f.noDAG {
			return nil, nil
		}
		return [][]any{{"AG_payroll", []byte{9}, false, "NONE"}, {"payroll", guid, true, "NONE"}}, nil
	case linkReplicasSQL:
		return [][]any{
			{guid, []byte{7}, true, int64(1), "PRIMARY", "ONLINE", "CONNECTED", "HEALTHY", nil, nil},
			{guid, []byte{8}, false, int64(2), "SECONDARY", nil, "CONNECTED", "HEALTHY", int64(0), nil},
		}, nil
	case MultiDBSQL:
		return [][]any{{int64(f.multiDB)}}, nil
	case linkDatabasesSQL:
		return [][]any{{guid, []byte{7}, int64(5), "payroll", true, true, "SYNCHRONIZED", "HEALTHY", []byte(f.endOfLog), []byte(f.endOfLog), int64(0), int64(0)}}, nil
	}
	return nil, fmt.Errorf("unexpected batch %q", batch)
}

// linkSQLObs is the SQL Server's observation the gates read.
type linkSQLObs struct{ version, level, edition string }

func (linkSQLObs) Summary() resources.TargetSummary { return resources.TargetSummary{} }
func (o linkSQLObs) Values() map[string]cty.Value {
	return map[string]cty.Value{"product_version": cty.StringVal(o.version), "update_level": cty.StringVal(o.level),
		"edition": cty.StringVal(o.edition), "server_name": cty.StringVal("sql01")}
}

type linkRig struct {
	t     *testing.T
	mi    *linkFakeMI
	sql   *linkFakeSQL
	obs   linkSQLObs
	prior *resources.Prior
}

func newLinkRig(t *testing.T) *linkRig {
	return &linkRig{t: t, mi: &linkFakeMI{links: map[string]*azure.Link{}, format: "SQLServer2022"}, sql: &linkFakeSQL{endOfLog: "37000000012800001"},
		obs: linkSQLObs{"16.0.4135.4", "CU15", "Developer Edition (64-bit)"}}
}

func (r *linkRig) plan(c *LinkConfig) (resources.Change, hcl.Diagnostics) {
	r.t.Helper()
	req := resources.DiffRequest{Address: c.Address, Config: c, Target: r.mi, Prior: r.prior,
		Others: map[string]resources.OtherTarget{"sql_server": {Target: r.sql, Observed: r.obs}}}
	read, diags := linkImpl{}.Read(context.Background(), req)
	if diags.HasErrors() {
		return resources.Change{}, diags
	}
	req.Read = read
	ch, d2 := linkImpl{}.Diff(req)
	ch.Address = c.Address
	return ch, append(diags, d2...)
}

func (r *linkRig) apply(c *LinkConfig, ch resources.Change) ([]string, error) {
	var progress []string
	res, err := linkImpl{}.Apply(context.Background(), resources.ApplyRequest{Change: ch, Config: c, Target: r.mi,
		Others: map[string]resources.Target{"sql_server": r.sql}, Progress: func(s string) { progress = append(progress, s) }})
	if err == nil && ch.Action != resources.Delete {
		r.prior = &resources.Prior{Attributes: res.Attributes}
	}
	return progress, err
}

func testLinkConfig() *LinkConfig {
	return &LinkConfig{Address: "managed_instance_link.payroll", Name: "payroll", Databases: []string{"payroll"},
		Replication: "Async", FailoverMode: "Manual", WaitFor: "seeded", WaitTimeout: time.Minute,
		AvailabilityGroup: "AG_payroll", InstanceAvailabilityGroup: "AG_payroll_MI", InitialPrimary: "sql_server"}
}

func init() { linkPollEvery = time.Millisecond }

func linkStepsText(ch resources.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s\n", ch.Action.Symbol(), ch.Address, ch.Reason)
	for _, s := range ch.Steps {
		fmt.Fprintf(&b, "  %s on %s: %s\n", s.Kind, s.On, s.Text)
	}
	return b.String()
}

func TestLinkLifecycle(t *testing.T) {
	r := newLinkRig(t)
	c := testLinkConfig()
	linkNow = func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { linkNow = time.Now })
	var out strings.Builder

	ch, diags := r.plan(c)
	if diags.HasErrors() || ch.Action != resources.Create {
		t.Fatalf("first plan: %s %v", ch.Action, diags)
	}
	out.WriteString(linkStepsText(ch))
	r.mi.script = []azure.LinkDatabase{
		{ReplicaState: "CreatingLink", ConnectedState: "DISCONNECTED"},
		{ReplicaState: "Seeding", SeedingProgress: "30%", ConnectedState: "CONNECTED"},
		{ReplicaState: "Seeding", SeedingProgress: "100%", ConnectedState: "CONNECTED"},
		{ReplicaState: "LinkSynchronizing", SeedingProgress: "100%", ConnectedState: "CONNECTED", SynchronizationHealth: "HEALTHY",
			LastHardenedLSN: "37000000012800001", PartnerCertName: "Cert_sql01_endpoint", PartnerCertExpiry: "2026-12-10T00:00:00Z"},
	}
	progress, err := r.apply(c, ch)
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString("progress:\n  " + strings.Join(progress, "\n  ") + "\n")
	if _, ok := r.prior.Attributes["status"]; ok || r.prior.Attributes["name"] != "payroll" {
		t.Errorf("state: %v", r.prior.Attributes)
	}

	// The second plan: nothing but the live status, and the expiry warning.
	ch, diags = r.plan(c)
	if ch.Action != resources.NoOp || !ch.Notable || len(ch.Steps) != 0 {
		t.Fatalf("second plan: %s", linkStepsText(ch))
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "expires in 9 days") {
		t.Errorf("warnings: %v", diags)
	}
	out.WriteString(linkStepsText(ch))
	st, _ := ch.After["status"].([]any)
	if len(st) != 1 || st[0].(map[string]any)["sql_end_of_log_lsn"] != "37000000012800001" {
		t.Errorf("status: %v", ch.After["status"])
	}

	// Replication async → sync: the PATCH.
	c.Replication = "Sync"
	ch, _ = r.plan(c)
	if ch.Action != resources.Update {
		t.Fatalf("sync: %s", linkStepsText(ch))
	}
	out.WriteString(linkStepsText(ch))
	if _, err := r.apply(c, ch); err != nil {
		t.Fatal(err)
	}
	if r.mi.links["payroll"].ReplicationMode != "Sync" {
		t.Error("not patched")
	}

	// Another database: a new link, never an edit.
	c.Databases = []string{"payroll2"}
	ch, _ = r.plan(c)
	if ch.Action != resources.Update || !strings.HasPrefix(ch.Reason, "replace:") {
		t.Fatalf("database changed: %s", linkStepsText(ch))
	}
	out.WriteString(linkStepsText(ch))
	r.mi.calls = nil
	if _, err := r.apply(c, ch); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.mi.calls, ", "); !strings.HasPrefix(got, "GET payroll, DELETE payroll, PUT payroll") {
		t.Errorf("replace calls: %s", got)
	}

	// Something Azure cannot change: refused.
	c.FailoverMode = "None"
	if _, diags := r.plan(c); !diags.HasErrors() || !strings.Contains(linkDiagText(diags), "failover_mode Manual → None") {
		t.Errorf("failover mode: %v", diags)
	}
	c.FailoverMode = "Manual"

	// Dropped: loud.
	del := linkImpl{}.PlanDelete(*r.prior, r.mi)
	del.Address, del.Action = c.Address, resources.Delete
	out.WriteString(linkStepsText(del))
	if !strings.Contains(del.Reason, "KEEPS its copy") {
		t.Error(del.Reason)
	}
	golden.Check(t, "testdata/golden/link-plans.txt", []byte(out.String()))
}

func TestLinkWaitStops(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waitFor string
		script  []azure.LinkDatabase
		timeout time.Duration
		want    string
	}{
		{"init error", "connected", []azure.LinkDatabase{{ReplicaState: "LinkInitError", MostRecentLinkError: "41973: certificate not found"}}, time.Minute,
			"LinkInitError (41973: certificate not found): the managed instance does not trust SQL Server's endpoint certificate"},
		{"creation error", "seeded", []azure.LinkDatabase{{ReplicaState: "Seeding", SeedingProgress: "10%"}, {ReplicaState: "LinkCreationError", MostRecentLinkError: "1412: log"}}, time.Minute,
			"a log backup ran on SQL Server while seeding"},
		{"timeout", "seeded", []azure.LinkDatabase{{ReplicaState: "Seeding", SeedingProgress: "45%", ConnectedState: "CONNECTED"}}, 20 * time.Millisecond,
			`wait_for = "seeded" not reached within 20ms: payroll Seeding 45% CONNECTED`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLinkRig(t)
			c := testLinkConfig()
			c.WaitFor, c.WaitTimeout = tc.waitFor, tc.timeout
			ch, _ := r.plan(c)
			r.mi.script = tc.script
			_, err := r.apply(c, ch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.name == "creation error" {
				// Seeding failed for good: the next plan makes the link again.
				ch, _ = r.plan(c)
				if ch.Action != resources.Update || !strings.HasPrefix(ch.Reason, "recreate:") || len(ch.Steps) != 3 || !strings.Contains(ch.Steps[0].Text, "DELETE") {
					t.Fatalf("plan after 1412: %s", linkStepsText(ch))
				}
				r.mi.script = []azure.LinkDatabase{{ReplicaState: "LinkCreationError", MostRecentLinkError: "1412: log"}, {ReplicaState: "LinkSynchronizing", ConnectedState: "CONNECTED"}}
				r.mi.reads, r.mi.calls = 0, nil
				if _, err := r.apply(c, ch); err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(r.mi.calls, ", "); !strings.HasPrefix(got, "GET payroll, DELETE payroll, PUT payroll") {
					t.Errorf("recreate calls: %s", got)
				}
				return
			}
			// Once fixed, the next plan waits again from where it stopped,
			// and apply does not create the link twice.
			r.mi.script = []azure.LinkDatabase{{ReplicaState: "CreatingLink", ConnectedState: "DISCONNECTED"}, {ReplicaState: "LinkSynchronizing", ConnectedState: "CONNECTED"}}
			r.mi.reads = 0
			ch, _ = r.plan(c)
			if ch.Action != resources.Update || len(ch.Steps) != 1 || ch.Steps[0].Kind != "wait" || !strings.Contains(ch.Reason, "has not reached") {
				t.Fatalf("plan after the stop: %s", linkStepsText(ch))
			}
			r.mi.calls = nil
			if _, err := r.apply(c, ch); err != nil {
				t.Fatal(err)
			}
			for _, call := range r.mi.calls {
				if strings.HasPrefix(call, "PUT") {
					t.Errorf("created twice: %v", r.mi.calls)
				}
			}
		})
	}
	// Azure's refusal keeps its message.
	r := newLinkRig(t)
	c := testLinkConfig()
	ch, _ := r.plan(c)
	r.mi.fail = errors.New("managed_instance.mi01: creating the link payroll: Azure answered RemoteDatabaseExists")
	if _, err := r.apply(c, ch); err == nil || !strings.Contains(err.Error(), "RemoteDatabaseExists") {
		t.Errorf("refused: %v", err)
	}
}

func TestLinkGates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obs     linkSQLObs
		format  string
		primary bool
		multi   bool
		want    string
	}{
		{"2022 CU10 MI primary", linkSQLObs{"16.0.4095.4", "CU10", "Enterprise Edition"}, "SQLServer2022", true, false, ""},
		{"2022 CU9 MI primary", linkSQLObs{"16.0.4085.2", "CU9", "Enterprise Edition"}, "SQLServer2022", true, false, "needs SQL Server 2022 CU10 or SQL Server 2025"},
		{"2019 MI primary", linkSQLObs{"15.0.4312.2", "CU20", "Enterprise Edition"}, "SQLServer2022", true, false, "needs SQL Server 2022 CU10"},
		{"always up to date", linkSQLObs{"16.0.4135.4", "CU15", "Enterprise Edition"}, "AlwaysUpToDate", true, false, "needs the managed instance's update policy SQLServer2022; managed_instance.mi01 has AlwaysUpToDate"},
		{"2025 policy", linkSQLObs{"17.0.1000.7", "", "Enterprise Edition"}, "SQLServer2022", true, false, "update policy SQLServer2025"},
		{"multi on CU27", linkSQLObs{"16.0.4300.1", "CU27", "Developer Edition (64-bit)"}, "", false, true, ""},
		{"multi off", linkSQLObs{"16.0.4300.1", "CU27", "Developer Edition (64-bit)"}, "off", false, true, "EXEC sys.sp_multidb_milink 1 on every replica"},
		{"multi on CU20", linkSQLObs{"16.0.4205.1", "CU20", "Developer Edition (64-bit)"}, "", false, true, "multi_database = true (preview) needs SQL Server 2022 CU27 or SQL Server 2025 CU9"},
		{"multi on Standard", linkSQLObs{"17.0.4000.1", "CU9", "Standard Edition"}, "", false, true, "Enterprise and Developer"},
		{"plain link on 2016", linkSQLObs{"13.0.7000.253", "", "Standard Edition"}, "", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLinkRig(t)
			r.obs, r.mi.format = tc.obs, tc.format
			if tc.format != "off" {
				r.sql.multiDB = 1
			}
			c := testLinkConfig()
			if tc.primary {
				c.InitialPrimary = "managed_instance"
			}
			c.MultiDatabase = tc.multi
			ch, diags := r.plan(c)
			if tc.want == "" {
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				if tc.primary && !strings.Contains(ch.Steps[0].Text, `"instanceLinkRole":"Primary"`) {
					t.Errorf("MI primary body: %s", ch.Steps[0].Text)
				}
				return
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Errorf("got %v, want %q", diags, tc.want)
			}
		})
	}
}

func TestSameLSN(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"37000000012800001", "37000000012800001", true},
		{"037000000012800001", "37000000012800001", true},
		{"37000000012800001", "37000000012900001", false},
		{"", "", false},
		{"0", "0", false},
		{"1e5", "1e5", false},
	} {
		if SameLSN(tc.a, tc.b) != tc.same {
			t.Errorf("SameLSN(%q, %q) = %v", tc.a, tc.b, !tc.same)
		}
	}
	if linkCell([]byte("37000000012800001")) != "37000000012800001" || linkCell(float64(1e20)) != "100000000000000000000" {
		t.Error("linkCell")
	}
}

func TestCheckLinkDelete(t *testing.T) {
	mk := func() (*linkRig, resources.Prior) {
		r := newLinkRig(t)
		c := testLinkConfig()
		c.WaitFor = "created"
		ch, _ := r.plan(c)
		if _, err := r.apply(c, ch); err != nil {
			t.Fatal(err)
		}
		r.mi.script = []azure.LinkDatabase{{ReplicaState: "LinkSynchronizing", LastHardenedLSN: "37000000012800001", LastBackupLSN: "37000000010000001"}}
		return r, *r.prior
	}
	lookup := func(r *linkRig) func(string) (resources.Target, bool) {
		return func(a string) (resources.Target, bool) { return r.sql, a == "sql_server.sql01" }
	}
	ctx := context.Background()

	r, prior := mk()
	if _, diags := CheckLinkDelete(ctx, prior, r.mi, false, lookup(r)); diags.HasErrors() {
		t.Errorf("caught up: %v", diags)
	}
	r.sql.endOfLog = "37000000013000001"
	_, diags := CheckLinkDelete(ctx, prior, r.mi, false, lookup(r))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "hardened LSN 37000000012800001, SQL Server's log ends at 37000000013000001") ||
		!strings.Contains(diags.Error(), "-force-delete managed_instance_link.payroll") {
		t.Errorf("LSNs differ: %v", diags)
	}
	ch, diags := CheckLinkDelete(ctx, prior, r.mi, true, lookup(r))
	if diags.HasErrors() || !strings.Contains(ch.Reason, "FORCED despite") {
		t.Errorf("forced: %v %s", diags, ch.Reason)
	}
	// The managed instance is primary, with no backup yet.
	r, prior = mk()
	r.mi.links["payroll"].InstanceLinkRole = "Primary"
	r.mi.script[0].LastBackupLSN = ""
	_, diags = CheckLinkDelete(ctx, prior, r.mi, false, lookup(r))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "is the primary") || !strings.Contains(diags.Error(), "no full backup") {
		t.Errorf("MI primary: %v", diags)
	}
	// SQL Server unreachable: cannot compare, refused.
	r, prior = mk()
	r.sql.err = errors.New("connection refused")
	if _, diags = CheckLinkDelete(ctx, prior, r.mi, false, lookup(r)); !diags.HasErrors() || !strings.Contains(diags.Error(), "cannot be compared") {
		t.Errorf("unreachable: %v", diags)
	}
	// Gone already: nothing to do.
	r, prior = mk()
	delete(r.mi.links, "payroll")
	if ch, diags := CheckLinkDelete(ctx, prior, r.mi, false, lookup(r)); diags.HasErrors() || len(ch.Steps) != 0 {
		t.Errorf("gone: %v %+v", diags, ch)
	}
}

func TestExpandLink(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"defaults", linkBase + `databases = ["payroll"]`},
		{"named", linkBase + `databases = ["payroll"]
name = "link-${var.env}"
partner_endpoint = "TCP://10.0.0.4:5022"
replication = "sync"
adopt_endpoint = true`},
		{"pointers", linkBase + `databases = ["payroll"]
availability_group = availability_group.sales
endpoint_certificate = endpoint_certificate.mine
distributed_availability_group = distributed_availability_group.x
initial_primary = "managed_instance"`},
		{"mi primary", linkBase + `databases = ["payroll"]
initial_primary = "managed_instance"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte(tc.body)
			f, diags := hclsyntax.ParseConfig(src, "main.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			attrs, _ := f.Body.JustAttributes()
			synths, deps := ExpandLink("payroll", "payroll", attrs, hcl.Range{Filename: "main.hcl"})
			var b strings.Builder
			for _, s := range synths {
				fmt.Fprintf(&b, "%s depends_on %v\n", s.Addr(), s.DependsOn)
				var names []string
				for n := range s.Attrs {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintf(&b, "  %s = %s\n", n, linkExprText(s.Attrs[n], src))
				}
			}
			fmt.Fprintf(&b, "link depends_on %v\n", deps)
			golden.Check(t, "testdata/golden/link-expand-"+strings.ReplaceAll(tc.name, " ", "-")+".txt", []byte(b.String()))
		})
	}
}

// linkExprText is an expression's source (the link's own), or what a
// synthesised one evaluates to.
func linkExprText(e hcl.Expression, src []byte) string {
	r := e.Range()
	mine := r.End.Byte <= r.Start.Byte
	if x, ok := e.(*hclsyntax.TemplateExpr); ok && len(x.Parts) > 0 && x.Parts[0].Range().End.Byte <= x.Parts[0].Range().Start.Byte {
		var parts []string
		for _, p := range x.Parts {
			parts = append(parts, linkExprText(p, src))
		}
		return "template(" + strings.Join(parts, ", ") + ")"
	}
	if _, trav := e.(*hclsyntax.ScopeTraversalExpr); !trav && !mine && r.End.Byte <= len(src) {
		return string(r.SliceBytes(src))
	}
	switch x := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return lang.ValueText(x.Val) + " (literal)"
	case *hclsyntax.TupleConsExpr:
		return "[] (literal)"
	case *hclsyntax.ScopeTraversalExpr:
		var s []string
		for _, st := range x.Traversal {
			switch tt := st.(type) {
			case hcl.TraverseRoot:
				s = append(s, tt.Name)
			case hcl.TraverseAttr:
				s = append(s, tt.Name)
			}
		}
		return strings.Join(s, ".")
	}
	return fmt.Sprintf("%T", e)
}
