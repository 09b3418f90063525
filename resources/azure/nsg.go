package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
)

// KindNSGRule is a security rule milink manages in a network security
// group: on the managed instance's subnet by default, or on a named NSG
// (the SQL Server VM's).
const KindNSGRule = "nsg_rule"

// The link's ports: 5022 for the database mirroring endpoint both ways,
// 11000-11999 for the managed instance's redirect connections.
var (
	linkPorts     = []string{"5022", "11000-11999"}
	endpointPorts = []string{"5022"}
)

// miRulePrefix starts the names of the rules the managed instance owns:
// milink never changes them nor takes their priorities.
const miRulePrefix = "microsoft.sql-managedinstances_useonly_"

// descriptionPrefix starts the description of every rule milink writes:
// how people (and milink) tell whose rule it is.
const descriptionPrefix = "milink: "

// Default priority range, above the managed instance's own rules.
const (
	DefaultPriorityMin = 1000
	DefaultPriorityMax = 1999
)

// RuleConfig is an `nsg_rule "name"` block.
type RuleConfig struct {
	Address  string
	RuleName string // the rule's name in the NSG
	// NSGID is the named NSG (network_security_group_id); "" is the
	// managed instance's subnet's.
	NSGID     string
	Direction string // Inbound or Outbound
	Access    string // Allow or Deny
	Protocol  string // Tcp, Udp, Icmp, Esp, Ah, *
	// Sources, Destinations and Ports are as written; nil takes the
	// default of the side the NSG is on (see defaults).
	Sources, Destinations, Ports []string
	// Priority is fixed when given; otherwise the lowest free in
	// [PriorityMin, PriorityMax] (per direction), kept once chosen.
	Priority                 int
	PriorityMin, PriorityMax int
	Description              string
	DeclRange                hcl.Range
}

var nsgRuleKind = &resources.Kind{
	Type: KindNSGRule,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "managed_instance", Required: true}, {Name: "name"}, {Name: "network_security_group_id"},
		{Name: "direction"}, {Name: "access"}, {Name: "protocol"},
		{Name: "source_addresses"}, {Name: "destination_addresses"}, {Name: "ports"},
		{Name: "priority"}, {Name: "priority_range"}, {Name: "description"},
	}},
	Decode:     decodeRule,
	TargetAttr: "managed_instance", TargetType: KindManagedInstance,
	Identity: func(cfg any) string {
		if r, ok := cfg.(*RuleConfig); ok && r.RuleName != "" {
			nsg := r.NSGID
			if nsg == "" {
				nsg = "(subnet)"
			}
			return nsg + "/" + r.RuleName
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Impl:    nsgRuleImpl{},
}

var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9]$`)
var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func decodeRule(b *lang.Body, blk resources.BlockInfo) any {
	r := &RuleConfig{Address: blk.Address, DeclRange: b.Range}
	def := blk.Name
	if blk.Key != "" {
		def += "-" + blk.Key
	}
	def = "milink-" + strings.Trim(unsafeNameChars.ReplaceAllString(def, "_"), "_.-")
	r.RuleName = b.Str("name", def, false)
	if a := b.Attr("name"); a != nil && !b.Unknown("name") {
		switch {
		case strings.HasPrefix(strings.ToLower(r.RuleName), miRulePrefix):
			b.Errorf(a, "Reserved rule name", "Rules named Microsoft.Sql-managedInstances_UseOnly_… belong to the managed instance; milink never writes them.")
		case !ruleNameRE.MatchString(r.RuleName):
			b.Errorf(a, "Invalid rule name", "An NSG rule name has 1 to 80 letters, digits, underscores, periods and dashes, starts with a letter or digit and ends with a letter, digit or underscore.")
		}
	}
	r.NSGID = b.Str("network_security_group_id", "", false)
	if a := b.Attr("network_security_group_id"); a != nil && r.NSGID != "" {
		if rid, err := arm.ParseResourceID(r.NSGID); err != nil || !strings.EqualFold(rid.ResourceType.String(), "Microsoft.Network/networkSecurityGroups") {
			b.Errorf(a, "Invalid network security group ID",
				"network_security_group_id is an NSG's resource ID: /subscriptions/…/resourceGroups/…/providers/Microsoft.Network/networkSecurityGroups/NAME.")
		}
	}
	r.Direction = title(b.OneOf("direction", "inbound", "inbound", "outbound"))
	r.Access = title(b.OneOf("access", "allow", "allow", "deny"))
	r.Protocol = b.OneOf("protocol", "tcp", "tcp", "udp", "icmp", "esp", "ah", "*")
	if r.Protocol != "*" {
		r.Protocol = title(r.Protocol)
	}
	if b.Attr("source_addresses") != nil {
		r.Sources = nonNil(b.StrList("source_addresses", nil))
	}
	if b.Attr("destination_addresses") != nil {
		r.Destinations = nonNil(b.StrList("destination_addresses", nil))
	}
	if b.Attr("ports") != nil {
		r.Ports = nonNil(b.StrList("ports", nil))
	}
	for _, name := range []string{"source_addresses", "destination_addresses"} {
		list := r.Sources
		if name == "destination_addresses" {
			list = r.Destinations
		}
		if a := b.Attr(name); a != nil && !b.Unknown(name) {
			if len(list) == 0 {
				b.Errorf(a, "Empty address list", "%s needs at least one address, prefix or service tag (or leave it out for the default).", name)
			} else if _, err := canonAddresses(list); err != nil {
				b.Errorf(a, "Invalid address", "%s: %s.", name, err)
			}
		}
	}
	if a := b.Attr("ports"); a != nil && !b.Unknown("ports") {
		if len(r.Ports) == 0 {
			b.Errorf(a, "Empty port list", "ports needs at least one port or range (or leave it out for the link's ports).")
		} else if _, err := canonPorts(r.Ports); err != nil {
			b.Errorf(a, "Invalid port", "ports: %s.", err)
		}
	}
	r.Priority = b.Int("priority", 0, 100, 4096)
	r.PriorityMin, r.PriorityMax = DefaultPriorityMin, DefaultPriorityMax
	if v, a, st := b.Value("priority_range", cty.List(cty.Number), false); st == lang.Good {
		if b.Attr("priority") != nil {
			b.Errorf(a, "Conflicting arguments", "Give priority or priority_range, not both.")
		}
		var n []int
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if x, ok := lang.WholeNumber(e.AsBigFloat(), 100, 4096); ok {
				n = append(n, x)
			}
		}
		if len(n) != 2 || v.LengthInt() != 2 || n[0] > n[1] {
			b.Errorf(a, "Invalid priority range", "priority_range is two priorities from 100 to 4096, lowest first: [1000, 1099].")
		} else {
			r.PriorityMin, r.PriorityMax = n[0], n[1]
		}
	}
	desc := b.Str("description", "nsg_rule."+blk.Name+" for the managed instance link", false)
	r.Description = descriptionPrefix + strings.TrimPrefix(desc, descriptionPrefix)
	if len(r.Description) > 140 {
		b.Errorf(b.Attr("description"), "Description too long", "An NSG rule's description has at most 140 characters, milink's prefix %q included.", descriptionPrefix)
	}
	// The side without a default must be written: which address the SQL
	// Server has is not something milink can guess.
	if !b.Unknown("network_security_group_id") {
		if need := required(r); need != "" && b.Attr(need) == nil {
			b.Errorf(nil, "Missing "+need,
				"%s: an %s rule on %s needs %s: the SQL Server's address(es); the managed instance's subnet is the default of the other side.",
				blk.Address, strings.ToLower(r.Direction), side(r), need)
		}
	}
	return r
}

// onInstanceSide: a rule without network_security_group_id is on the
// managed instance's subnet NSG; a named one is the SQL Server's side.
func onInstanceSide(r *RuleConfig) bool { return r.NSGID == "" }

func side(r *RuleConfig) string {
	if onInstanceSide(r) {
		return "the managed instance's subnet"
	}
	return "the SQL Server's NSG"
}

// required is the address list the rule needs written: the SQL Server's
// side of it.
func required(r *RuleConfig) string {
	inbound := r.Direction == "Inbound"
	if inbound == onInstanceSide(r) {
		return "source_addresses"
	}
	return "destination_addresses"
}

// desired is the rule the block asks for, with the defaults of its side
// filled in from what the refresh read.
func desired(r *RuleConfig, o *Observed) (*Rule, error) {
	src, dst, ports := r.Sources, r.Destinations, r.Ports
	inbound := r.Direction == "Inbound"
	mi := onInstanceSide(r)
	if ports == nil {
		// Toward the managed instance: 5022 and its redirect range; toward
		// SQL Server: its mirroring endpoint only.
		if inbound == mi {
			ports = linkPorts
		} else {
			ports = endpointPorts
		}
	}
	if len(o.SubnetPrefixes) == 0 && (src == nil || dst == nil) {
		return nil, fmt.Errorf("the managed instance's subnet has no address prefix to default to")
	}
	if src == nil {
		src = o.SubnetPrefixes
	}
	if dst == nil {
		dst = o.SubnetPrefixes
	}
	var err error
	out := &Rule{Name: r.RuleName, Direction: r.Direction, Access: r.Access, Protocol: r.Protocol, Description: r.Description, SourcePorts: []string{"*"}}
	if out.Sources, err = canonAddresses(src); err != nil {
		return nil, fmt.Errorf("source_addresses: %w", err)
	}
	if out.Destinations, err = canonAddresses(dst); err != nil {
		return nil, fmt.Errorf("destination_addresses: %w", err)
	}
	if out.Ports, err = canonPorts(ports); err != nil {
		return nil, fmt.Errorf("ports: %w", err)
	}
	return out, nil
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// Rule is a security rule as milink compares it: ports and prefixes as
// canonical sets.
type Rule struct {
	ID           string
	Name         string
	Direction    string
	Access       string
	Protocol     string
	Priority     int
	Sources      []string
	Destinations []string
	Ports        []string
	SourcePorts  []string
	Description  string
}

// owned reports whether milink wrote the rule (its description says so).
func (r *Rule) owned() bool { return strings.HasPrefix(r.Description, descriptionPrefix) }

func ruleFromSDK(s *armnetwork.SecurityRule) *Rule {
	r := &Rule{ID: deref(s.ID), Name: deref(s.Name)}
	p := s.Properties
	if p == nil {
		return r
	}
	if p.Direction != nil {
		r.Direction = string(*p.Direction)
	}
	if p.Access != nil {
		r.Access = string(*p.Access)
	}
	if p.Protocol != nil {
		r.Protocol = string(*p.Protocol)
	}
	r.Priority = int(deref(p.Priority))
	r.Description = deref(p.Description)
	both := func(one *string, many []*string) []string {
		var out []string
		if one != nil && *one != "" {
			out = append(out, *one)
		}
		for _, m := range many {
			if m != nil && *m != "" {
				out = append(out, *m)
			}
		}
		return out
	}
	// What Azure holds is canonicalised as the configuration is; a value
	// milink cannot read is kept as written so that it differs.
	canonOr := func(xs []string, f func([]string) ([]string, error)) []string {
		c, err := f(xs)
		if err != nil {
			sort.Strings(xs)
			return xs
		}
		return c
	}
	r.Sources = canonOr(both(p.SourceAddressPrefix, p.SourceAddressPrefixes), canonAddresses)
	r.Destinations = canonOr(both(p.DestinationAddressPrefix, p.DestinationAddressPrefixes), canonAddresses)
	r.Ports = canonOr(both(p.DestinationPortRange, p.DestinationPortRanges), canonPorts)
	r.SourcePorts = canonOr(both(p.SourcePortRange, p.SourcePortRanges), canonPorts)
	return r
}

// sdkRule is the body milink PUTs: one value in the singular property,
// several in the plural one, as the portal writes them.
func sdkRule(r *Rule) armnetwork.SecurityRule {
	p := &armnetwork.SecurityRulePropertiesFormat{
		Access:      to.Ptr(armnetwork.SecurityRuleAccess(r.Access)),
		Direction:   to.Ptr(armnetwork.SecurityRuleDirection(r.Direction)),
		Protocol:    to.Ptr(armnetwork.SecurityRuleProtocol(r.Protocol)),
		Priority:    to.Ptr(int32(r.Priority)),
		Description: to.Ptr(r.Description),
	}
	one := func(xs []string) (*string, []*string) {
		if len(xs) == 1 {
			return to.Ptr(xs[0]), nil
		}
		return nil, to.SliceOfPtrs(xs...)
	}
	p.SourceAddressPrefix, p.SourceAddressPrefixes = one(r.Sources)
	p.DestinationAddressPrefix, p.DestinationAddressPrefixes = one(r.Destinations)
	p.DestinationPortRange, p.DestinationPortRanges = one(r.Ports)
	p.SourcePortRange, p.SourcePortRanges = one(r.SourcePorts)
	return armnetwork.SecurityRule{Properties: p}
}

// ruleAttrs are a rule's attributes for the plan and the state.
func ruleAttrs(r *Rule, nsgID string) map[string]any {
	if r == nil {
		return nil
	}
	list := func(xs []string) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
	return map[string]any{
		"name":                      r.Name,
		"network_security_group_id": nsgID,
		"direction":                 r.Direction,
		"access":                    r.Access,
		"protocol":                  r.Protocol,
		"priority":                  r.Priority,
		"source_addresses":          list(r.Sources),
		"destination_addresses":     list(r.Destinations),
		"ports":                     list(r.Ports),
		"description":               r.Description,
	}
}

// differences lists what differs between the wanted rule and the one
// Azure holds, for the plan's reason.
func differences(want, have *Rule) []string {
	var out []string
	str := func(name, w, h string) {
		if !strings.EqualFold(w, h) {
			out = append(out, fmt.Sprintf("%s %s → %s", name, h, w))
		}
	}
	set := func(name string, w, h []string) {
		if !sameSet(w, h) {
			out = append(out, fmt.Sprintf("%s [%s] → [%s]", name, strings.Join(h, ", "), strings.Join(w, ", ")))
		}
	}
	str("direction", want.Direction, have.Direction)
	str("access", want.Access, have.Access)
	str("protocol", want.Protocol, have.Protocol)
	if want.Priority != have.Priority {
		out = append(out, fmt.Sprintf("priority %d → %d", have.Priority, want.Priority))
	}
	set("source_addresses", want.Sources, have.Sources)
	set("destination_addresses", want.Destinations, have.Destinations)
	set("ports", want.Ports, have.Ports)
	set("source ports", want.SourcePorts, have.SourcePorts)
	if want.Description != have.Description {
		out = append(out, "description changed")
	}
	return out
}

// allocator hands out priorities during one plan, so that two blocks
// choosing from the same range of the same NSG and direction do not pick
// the same one. Priorities held by rules outside milink's blocks, the
// managed instance's own included, are never handed out.
type allocator struct {
	mu sync.Mutex
	// used: by NSG (lower-cased ID) and direction, priority → holder
	// (a rule's name, or a block's address).
	used map[string]map[int]string
}

func allocKey(nsg, dir string) string { return strings.ToLower(nsg) + "|" + strings.ToLower(dir) }

// newAllocator notes the priorities in use, and those the blocks fix.
// A block's own rule is known by its name only when the block is final
// (its name may depend on observed values), so claim, not this, lets a
// block keep the priority its rule holds.
func newAllocator(o *Observed, res []resources.Instance) *allocator {
	a := &allocator{used: map[string]map[int]string{}}
	for id, nsg := range o.NSGs {
		for _, rule := range nsg.Rules {
			a.take(id, rule.Direction, rule.Priority, rule.Name)
		}
	}
	for _, r := range res {
		if c, ok := r.Config.(*RuleConfig); ok && c.Priority != 0 {
			nsg := c.NSGID
			if nsg == "" {
				nsg = o.NSGID
			}
			if _, taken := a.holder(nsg, c.Direction, c.Priority); !taken {
				a.take(nsg, c.Direction, c.Priority, r.Address)
			}
		}
	}
	return a
}

func (a *allocator) take(nsg, dir string, prio int, holder string) {
	k := allocKey(nsg, dir)
	if a.used[k] == nil {
		a.used[k] = map[int]string{}
	}
	a.used[k][prio] = holder
}

func (a *allocator) holder(nsg, dir string, prio int) (string, bool) {
	h, ok := a.used[allocKey(nsg, dir)][prio]
	return h, ok
}

// claim gives the block its priority: the fixed one, when no other rule
// holds it; or the one it has (keep), when in range and free; or the
// lowest free one in the range.
func (a *allocator) claim(c *RuleConfig, nsg string, keep int) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	free := func(p int) bool {
		h, ok := a.holder(nsg, c.Direction, p)
		return !ok || h == c.Address || strings.EqualFold(h, c.RuleName)
	}
	if c.Priority != 0 {
		if !free(c.Priority) {
			h, _ := a.holder(nsg, c.Direction, c.Priority)
			return 0, fmt.Errorf("priority %d is already taken by %s among the %s rules of %s", c.Priority, h, strings.ToLower(c.Direction), nsgName(nsg))
		}
		a.take(nsg, c.Direction, c.Priority, c.Address)
		return c.Priority, nil
	}
	if keep >= c.PriorityMin && keep <= c.PriorityMax && free(keep) {
		a.take(nsg, c.Direction, keep, c.Address)
		return keep, nil
	}
	for p := c.PriorityMin; p <= c.PriorityMax; p++ {
		if free(p) {
			a.take(nsg, c.Direction, p, c.Address)
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free priority from %d to %d among the %s rules of %s", c.PriorityMin, c.PriorityMax, strings.ToLower(c.Direction), nsgName(nsg))
}

func nsgName(id string) string {
	if rid, err := arm.ParseResourceID(id); err == nil {
		return "network security group " + rid.Name
	}
	return id
}

type nsgRuleImpl struct{}

// nsgFor is the NSG the block acts on, as read.
func nsgFor(c *RuleConfig, o *Observed) (string, *NSG, error) {
	id := c.NSGID
	if id == "" {
		if o.NSGID == "" {
			return "", nil, fmt.Errorf("the managed instance's subnet %s has no network security group; name one with network_security_group_id", o.SubnetID)
		}
		id = o.NSGID
	}
	k := strings.ToLower(id)
	if err := o.nsgErr[k]; err != nil {
		return id, nil, err
	}
	nsg, ok := o.NSGs[k]
	if !ok {
		return id, nil, fmt.Errorf("the refresh did not read %s", nsgName(id))
	}
	return nsg.ID, nsg, nil
}

func (nsgRuleImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*RuleConfig)
	o := req.Observed.(*Observed)
	rng := c.DeclRange
	fail := func(summary string, err error) (resources.Change, hcl.Diagnostics) {
		return resources.Change{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary,
			Detail: fmt.Sprintf("%s: %s", c.Address, err), Subject: &rng}}
	}
	nsgID, nsg, err := nsgFor(c, o)
	if err != nil {
		return fail("Cannot read the network security group", err)
	}
	want, err := desired(c, o)
	if err != nil {
		return fail("Invalid NSG rule", err)
	}
	have := nsg.Rules[strings.ToLower(c.RuleName)]
	if have != nil && !have.owned() && req.Prior == nil {
		return fail("NSG rule not created by milink",
			fmt.Errorf("%s already has a rule named %s that milink did not create (its description does not start with %q); rename the block's rule (name = …) or delete that rule", nsgName(nsgID), c.RuleName, descriptionPrefix))
	}
	keep := 0
	if have != nil {
		keep = have.Priority
	}
	if want.Priority, err = o.alloc.claim(c, nsgID, keep); err != nil {
		return fail("NSG rule priority collision", err)
	}
	ch := resources.Change{Action: resources.NoOp, After: ruleAttrs(want, nsgID)}
	if have != nil {
		ch.Before = ruleAttrs(have, nsgID)
	}
	body, _ := json.Marshal(sdkRule(want))
	put := resources.Step{Kind: "api", On: req.Target.Address(),
		Text: fmt.Sprintf("PUT %s/securityRules/%s?api-version=%s\n%s", nsgID, c.RuleName, networkAPIVersion, body)}
	switch {
	case have == nil:
		ch.Action, ch.Steps = resources.Create, []resources.Step{put}
		ch.Reason = fmt.Sprintf("no rule %s in %s", c.RuleName, nsgName(nsgID))
	default:
		if diff := differences(want, have); len(diff) > 0 {
			ch.Action, ch.Steps = resources.Update, []resources.Step{put}
			ch.Reason = strings.Join(diff, "; ")
		}
	}
	return ch, nil
}

// networkAPIVersion is armnetwork v6's, for the steps shown.
const networkAPIVersion = "2024-05-01"

func (nsgRuleImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	m, ok := req.Target.(*ManagedInstance)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: its target is not a managed instance", req.Change.Address)
	}
	ch := req.Change
	attrs := ch.After
	if ch.Action == resources.Delete {
		attrs = ch.Before
	}
	nsgID, _ := attrs["network_security_group_id"].(string)
	name, _ := attrs["name"].(string)
	rid, err := arm.ParseResourceID(nsgID)
	if err != nil || name == "" {
		return resources.Result{}, fmt.Errorf("%s: the change names no network security group rule", ch.Address)
	}
	net, err := m.network(rid.SubscriptionID)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	if ch.Action == resources.Delete {
		// Only milink's rule: one someone replaced by a rule of their own
		// under the same name (or made the managed instance's) stays.
		got, err := net.rules.Get(ctx, rid.ResourceGroupName, rid.Name, name, nil)
		if isStatus(err, http.StatusNotFound) {
			return resources.Result{}, nil
		}
		if err != nil {
			return resources.Result{}, armError(ch.Address, "reading rule "+name, m.c.Azure, err)
		}
		if r := ruleFromSDK(&got.SecurityRule); !r.owned() || strings.HasPrefix(strings.ToLower(name), miRulePrefix) {
			return resources.Result{}, fmt.Errorf("%s: the rule %s in %s is no longer milink's (its description does not start with %q); not deleting it: remove it from the state with milink state rm", ch.Address, name, nsgName(nsgID), descriptionPrefix)
		}
		poller, err := net.rules.BeginDelete(ctx, rid.ResourceGroupName, rid.Name, name, nil)
		if err == nil {
			_, err = poller.PollUntilDone(ctx, &runtimePollOptions)
		}
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return resources.Result{}, armError(ch.Address, "deleting rule "+name, m.c.Azure, err)
		}
		return resources.Result{}, nil
	}
	want := ruleFromAttrs(attrs)
	poller, err := net.rules.BeginCreateOrUpdate(ctx, rid.ResourceGroupName, rid.Name, name, sdkRule(want), nil)
	if err != nil {
		return resources.Result{}, armError(ch.Address, "writing rule "+name, m.c.Azure, err)
	}
	got, err := poller.PollUntilDone(ctx, &runtimePollOptions)
	if err != nil {
		return resources.Result{}, armError(ch.Address, "writing rule "+name, m.c.Azure, err)
	}
	now := ruleFromSDK(&got.SecurityRule)
	if now.Name == "" {
		now.Name = name
	}
	if diff := differences(want, now); len(diff) > 0 {
		return resources.Result{}, fmt.Errorf("%s: Azure holds a different rule after writing it: %s", ch.Address, strings.Join(diff, "; "))
	}
	return resources.Result{Attributes: ruleAttrs(now, nsgID)}, nil
}

// ruleFromAttrs is the rule a change's attributes describe.
func ruleFromAttrs(a map[string]any) *Rule {
	s := func(k string) string { v, _ := a[k].(string); return v }
	l := func(k string) []string {
		var out []string
		switch v := a[k].(type) {
		case []any:
			for _, e := range v {
				if x, ok := e.(string); ok {
					out = append(out, x)
				}
			}
		case []string:
			out = append(out, v...)
		}
		return out
	}
	prio := 0
	switch v := a["priority"].(type) {
	case int:
		prio = v
	case float64:
		prio = int(v)
	}
	return &Rule{Name: s("name"), Direction: s("direction"), Access: s("access"), Protocol: s("protocol"), Priority: prio,
		Sources: l("source_addresses"), Destinations: l("destination_addresses"), Ports: l("ports"), SourcePorts: []string{"*"},
		Description: s("description")}
}

// PlanDelete deletes a rule milink created whose block is gone, and only
// it: the state names its NSG and name.
func (nsgRuleImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	nsgID, _ := prior.Attributes["network_security_group_id"].(string)
	name, _ := prior.Attributes["name"].(string)
	return resources.Change{
		Before: prior.Attributes,
		Steps: []resources.Step{{Kind: "api", On: target.Address(),
			Text: fmt.Sprintf("GET %[1]s/securityRules/%[2]s?api-version=%[3]s\nDELETE %[1]s/securityRules/%[2]s?api-version=%[3]s (when its description is still milink's)", nsgID, name, networkAPIVersion)}},
		Reason: "no longer in the configuration; milink created it, and deletes only it",
	}
}
