package azure

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
)

func TestCanonSets(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
		ports    bool
		bad      bool
	}{
		{in: []string{"11000-11999", "5022", "5022"}, want: []string{"5022", "11000-11999"}, ports: true},
		{in: []string{" 5022 ", "1433"}, want: []string{"1433", "5022"}, ports: true},
		{in: []string{"5022", "*"}, want: []string{"*"}, ports: true},
		{in: []string{"11999-11000"}, ports: true, bad: true},
		{in: []string{"70000"}, ports: true, bad: true},
		{in: []string{"10.0.0.4/32", "10.0.1.7/24", "10.0.0.4"}, want: []string{"10.0.0.4", "10.0.1.0/24"}},
		{in: []string{"VirtualNetwork", "*"}, want: []string{"*", "VirtualNetwork"}},
		{in: []string{"10.0.0.0/33"}, bad: true},
		{in: []string{"not an address"}, bad: true},
	} {
		var got []string
		var err error
		if tc.ports {
			got, err = canonPorts(tc.in)
		} else {
			got, err = canonAddresses(tc.in)
		}
		if (err != nil) != tc.bad {
			t.Errorf("%v: error %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && !sameSet(got, tc.want) {
			t.Errorf("%v → %v, want %v", tc.in, got, tc.want)
		}
	}
}

// linkIn is the usual rule: inbound to the managed instance's subnet from
// the SQL Server.
func linkIn() *RuleConfig {
	return &RuleConfig{Address: "nsg_rule.link_in", RuleName: "milink-link_in", Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
		Sources: []string{"10.0.0.4"}, PriorityMin: DefaultPriorityMin, PriorityMax: DefaultPriorityMax,
		Description: descriptionPrefix + "nsg_rule.link_in for the managed instance link"}
}

func linkOut() *RuleConfig {
	return &RuleConfig{Address: "nsg_rule.link_out", RuleName: "milink-link_out", Direction: "Outbound", Access: "Allow", Protocol: "Tcp",
		Destinations: []string{"10.0.0.4"}, PriorityMin: DefaultPriorityMin, PriorityMax: DefaultPriorityMax,
		Description: descriptionPrefix + "nsg_rule.link_out for the managed instance link"}
}

// planRules refreshes and diffs the rules, in order.
func planRules(t *testing.T, m *ManagedInstance, prior map[string]map[string]any, rules ...*RuleConfig) ([]resources.Change, hcl.Diagnostics) {
	t.Helper()
	var res []resources.Instance
	for _, r := range rules {
		res = append(res, resources.Instance{Address: r.Address, Type: KindNSGRule, Config: r})
	}
	obs, diags := m.Refresh(context.Background(), res)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var out []resources.Change
	var all hcl.Diagnostics
	for _, r := range rules {
		req := resources.DiffRequest{Address: r.Address, Config: r, Target: m, Observed: obs}
		if p, ok := prior[r.Address]; ok {
			req.Prior = &resources.Prior{Attributes: p}
		}
		ch, diags := nsgRuleImpl{}.Diff(req)
		all = append(all, diags...)
		ch.Address = r.Address
		out = append(out, ch)
	}
	return out, all
}

func apply(t *testing.T, m *ManagedInstance, chs []resources.Change) map[string]map[string]any {
	t.Helper()
	state := map[string]map[string]any{}
	for _, ch := range chs {
		if ch.Action == resources.NoOp {
			state[ch.Address] = ch.Before
			continue
		}
		res, err := nsgRuleImpl{}.Apply(context.Background(), resources.ApplyRequest{Change: ch, Target: m, Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		if ch.Action != resources.Delete {
			state[ch.Address] = res.Attributes
		}
	}
	return state
}

func TestNSGRuleLifecycle(t *testing.T) {
	w := newWorld()
	m, rec := openTest(t, w)
	chs, diags := planRules(t, m, nil, linkIn(), linkOut())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, ch := range chs {
		if ch.Action != resources.Create {
			t.Fatalf("%s: %s, want create", ch.Address, ch.Action)
		}
	}
	in, out := chs[0].After, chs[1].After
	if in["priority"] != 1000 || out["priority"] != 1000 {
		t.Errorf("priorities %v and %v, want 1000 each (per direction)", in["priority"], out["priority"])
	}
	if got := in["destination_addresses"].([]any); len(got) != 1 || got[0] != "10.0.1.0/24" {
		t.Errorf("inbound destination %v, want the subnet", got)
	}
	if got := in["ports"].([]any); len(got) != 2 || got[1] != "11000-11999" {
		t.Errorf("inbound ports %v", got)
	}
	if got := out["ports"].([]any); len(got) != 1 || got[0] != "5022" {
		t.Errorf("outbound ports %v", got)
	}
	var steps []string
	for _, ch := range chs {
		steps = append(steps, ch.Steps[0].Text)
	}
	golden.Check(t, "testdata/golden/nsg-create.plan.txt", []byte(strings.Join(steps, "\n\n")+"\n"))

	rec.reset()
	state := apply(t, m, chs)
	golden.Check(t, "testdata/golden/nsg-create.txt", rec.text())

	// Converged: nothing to do.
	chs, diags = planRules(t, m, state, linkIn(), linkOut())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, ch := range chs {
		if ch.Action != resources.NoOp {
			t.Fatalf("second plan: %s %s (%s)", ch.Address, ch.Action, ch.Reason)
		}
	}

	// Drift: someone widened the ports and moved the rule; milink puts it back.
	w.mu.Lock()
	r := w.nsgs["nsg-mi"]["milink-link_in"]
	r.Properties.DestinationPortRanges = nil
	r.Properties.DestinationPortRange = strPtr("*")
	w.mu.Unlock()
	chs, _ = planRules(t, m, state, linkIn(), linkOut())
	if chs[0].Action != resources.Update || !strings.Contains(chs[0].Reason, "ports [*] → [5022, 11000-11999]") {
		t.Fatalf("drift: %s %q", chs[0].Action, chs[0].Reason)
	}
	state = apply(t, m, chs)
	if chs, _ = planRules(t, m, state, linkIn(), linkOut()); chs[0].Action != resources.NoOp {
		t.Fatalf("after the repair: %s %s", chs[0].Action, chs[0].Reason)
	}

	// Removal deletes the rule milink created, and only it.
	del := nsgRuleImpl{}.PlanDelete(resources.Prior{Attributes: state["nsg_rule.link_out"]}, m)
	del.Address, del.Action = "nsg_rule.link_out", resources.Delete
	rec.reset()
	apply(t, m, []resources.Change{del})
	golden.Check(t, "testdata/golden/nsg-delete.txt", rec.text())
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.nsgs["nsg-mi"]["milink-link_out"]; ok {
		t.Error("the outbound rule is still there")
	}
	if _, ok := w.nsgs["nsg-mi"]["milink-link_in"]; !ok {
		t.Error("the inbound rule was deleted too")
	}
	if len(w.nsgs["nsg-mi"]) != 5 {
		t.Errorf("NSG holds %d rules, want the managed instance's 4 and milink's 1", len(w.nsgs["nsg-mi"]))
	}
}

func strPtr(s string) *string { return &s }

func TestNSGRulePriorities(t *testing.T) {
	w := newWorld()
	// Someone else's rule holds 1000 inbound.
	w.put("nsg-mi", "allow-rdp", ruleSpec{dir: "Inbound", prio: 1000, src: "*", dst: "*", port: "3389"})
	m, _ := openTest(t, w)

	a, b := linkIn(), linkIn()
	b.Address, b.RuleName = "nsg_rule.second", "milink-second"
	chs, diags := planRules(t, m, nil, a, b)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if chs[0].After["priority"] != 1001 || chs[1].After["priority"] != 1002 {
		t.Errorf("priorities %v, %v; want 1001, 1002 (lowest free, one each)", chs[0].After["priority"], chs[1].After["priority"])
	}

	for _, tc := range []struct {
		name string
		cfg  func() *RuleConfig
		want string
	}{
		{"taken by the managed instance", func() *RuleConfig { r := linkIn(); r.Priority = 101; return r },
			"priority 101 is already taken by Microsoft.Sql-managedInstances_UseOnly_mi-allow_misubnet_inbound"},
		{"taken by another rule", func() *RuleConfig { r := linkIn(); r.Priority = 1000; return r }, "taken by allow-rdp"},
		{"range full", func() *RuleConfig { r := linkIn(); r.PriorityMin, r.PriorityMax = 1000, 1000; return r },
			"no free priority from 1000 to 1000 among the inbound rules of network security group nsg-mi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := planRules(t, m, nil, tc.cfg())
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) || !strings.Contains(diags.Error(), "nsg_rule.link_in") {
				t.Errorf("diagnostics %q, want %q naming the block", diags.Error(), tc.want)
			}
		})
	}
	// The other direction's priorities are another space.
	out := linkOut()
	out.Priority = 101
	if _, diags := planRules(t, m, nil, out); diags.HasErrors() {
		t.Errorf("outbound 101 is free: %s", diags.Error())
	}
}

func TestNSGRuleNotOwned(t *testing.T) {
	w := newWorld()
	w.put("nsg-mi", "milink-link_in", ruleSpec{dir: "Inbound", prio: 1500, src: "*", dst: "*", port: "5022", desc: "made by hand"})
	m, _ := openTest(t, w)
	_, diags := planRules(t, m, nil, linkIn())
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "milink did not create") {
		t.Errorf("taking over a rule milink did not create: %v", diags)
	}
}

func TestNSGRuleOnNamedNSG(t *testing.T) {
	m, _ := openTest(t, newWorld())
	r := &RuleConfig{Address: "nsg_rule.vm_in", RuleName: "milink-vm_in", NSGID: testVMNSG, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
		Destinations: []string{"10.0.0.4"}, PriorityMin: DefaultPriorityMin, PriorityMax: DefaultPriorityMax, Description: descriptionPrefix + "x"}
	chs, diags := planRules(t, m, nil, r)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	a := chs[0].After
	if a["network_security_group_id"] != testVMNSG {
		t.Errorf("on %v", a["network_security_group_id"])
	}
	if src := a["source_addresses"].([]any); src[0] != "10.0.1.0/24" {
		t.Errorf("source %v, want the managed instance's subnet", src)
	}
	if p := a["ports"].([]any); len(p) != 1 || p[0] != "5022" {
		t.Errorf("ports %v, want 5022 toward SQL Server", p)
	}
}

func TestNSGRuleDeleteOnlyMilinks(t *testing.T) {
	w := newWorld()
	m, _ := openTest(t, w)
	state := apply(t, m, mustPlan(t, m, linkIn()))
	// Someone replaced milink's rule by one of their own, same name.
	w.mu.Lock()
	w.nsgs["nsg-mi"]["milink-link_in"].Properties.Description = strPtr("ours now")
	w.mu.Unlock()
	del := nsgRuleImpl{}.PlanDelete(resources.Prior{Attributes: state["nsg_rule.link_in"]}, m)
	del.Address, del.Action = "nsg_rule.link_in", resources.Delete
	_, err := nsgRuleImpl{}.Apply(context.Background(), resources.ApplyRequest{Change: del, Target: m})
	if err == nil || !strings.Contains(err.Error(), "no longer milink's") {
		t.Fatalf("deleting a rule that is no longer milink's: %v", err)
	}
	if _, ok := w.nsgs["nsg-mi"]["milink-link_in"]; !ok {
		t.Error("the rule was deleted")
	}
}

func mustPlan(t *testing.T, m *ManagedInstance, rules ...*RuleConfig) []resources.Change {
	t.Helper()
	chs, diags := planRules(t, m, nil, rules...)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return chs
}
