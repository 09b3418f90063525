package sqlserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
	"github.com/milink/milink/resources/host/firewall"
)

// KindFirewallRule is a rule in the host firewall of the SQL Server, for
// the link's port 5022 and the managed instance's redirect range: the
// procedure's "open the firewall on the SQL Server host". milink creates
// it, so a removed block deletes it (and only it).
const KindFirewallRule = "firewall_rule"

// FirewallRule is a `firewall_rule "name"` block.
type FirewallRule struct {
	Address string
	Rule    firewall.Rule // parsed: ports and prefixes as sets
	// Backend is the firewall tool: "auto" (detected on the host) or one
	// of firewall.Names.
	Backend   string
	DeclRange hcl.Range
}

var firewallRuleKind = &resources.Kind{
	Type: KindFirewallRule,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		serverAttr, {Name: "direction", Required: true}, {Name: "remote_addresses"},
		{Name: "local_ports"}, {Name: "remote_ports"}, {Name: "description"}, {Name: "backend"},
	}},
	Decode:     decodeFirewallRule,
	TargetAttr: "server", TargetType: KindServer,
	Identity: func(cfg any) string {
		if f, ok := cfg.(*FirewallRule); ok {
			return f.Rule.Name
		}
		return ""
	},
	Removal: resources.RemoveDelete,
	Impl:    firewallImpl{},
}

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// firewallRuleName is the rule's name in the firewall: milink's prefix and
// the block's address, so people can tell whose rule it is.
func firewallRuleName(blk resources.BlockInfo) string {
	name := blk.Name
	if blk.Key != "" {
		name += "." + blk.Key
	}
	return firewall.NamePrefix + strings.Trim(unsafeNameChars.ReplaceAllString(name, "_"), "_.-")
}

func decodeFirewallRule(b *lang.Body, blk resources.BlockInfo) any {
	f := &FirewallRule{Address: blk.Address, DeclRange: b.Range}
	dir := b.OneOf("direction", "inbound", "inbound", "outbound")
	remote := b.StrList("remote_addresses", nil)
	// The procedure's ports unless told otherwise: inbound 5022 from the
	// managed instance's subnet, outbound 5022 and 11000-11999 to it.
	spec := firewall.LinkSpec(firewallRuleName(blk), firewall.Direction(dir), remote)
	if b.Attr("local_ports") != nil || b.Attr("remote_ports") != nil {
		spec.LocalPorts = b.StrList("local_ports", nil)
		spec.RemotePorts = b.StrList("remote_ports", nil)
	}
	spec.Description = b.Str("description", spec.Description, false)
	f.Backend = b.OneOf("backend", "auto", append([]string{"auto"}, firewall.Names...)...)
	for _, a := range []string{"remote_addresses", "local_ports", "remote_ports", "description", "direction"} {
		if b.Unknown(a) {
			return f // checked when known
		}
	}
	r, err := firewall.ParseRule(spec)
	if err != nil {
		b.Errorf(nil, "Invalid firewall rule", "%s: %s", blk.Address, err)
		return f
	}
	f.Rule = r
	return f
}

// firewallAttrs are a rule's attributes for the plan and the state.
func firewallAttrs(r *firewall.Rule, backend string) map[string]any {
	if r == nil {
		return nil
	}
	return map[string]any{
		"name":             r.Name,
		"direction":        string(r.Direction),
		"local_ports":      r.LocalPorts.String(),
		"remote_ports":     r.RemotePorts.String(),
		"remote_addresses": r.Remote.String(),
		"backend":          backend,
	}
}

// firewallObservation is what the refresh read of the host firewall.
type firewallObservation struct {
	backends map[string]firewall.Backend // by the configured backend setting
	rules    map[string]*firewall.Rule   // by rule name; nil when absent
	err      map[string]error            // by backend setting: why it could not be read
	// shadowed are other nftables tables' chains that drop by default,
	// which milink's accept does not override.
	shadowed []string
}

// readFirewall reads the rules of the firewall_rule blocks on the
// instance, through its host transport (no SQL round trip).
func (i *Instance) readFirewall(ctx context.Context, res []resources.Instance) *firewallObservation {
	fo := &firewallObservation{backends: map[string]firewall.Backend{}, rules: map[string]*firewall.Rule{}, err: map[string]error{}}
	for _, r := range res {
		f, ok := r.Config.(*FirewallRule)
		if !ok || f.Rule.Name == "" {
			continue
		}
		be, err := i.firewallBackend(ctx, fo, f.Backend)
		if err != nil {
			continue
		}
		rule, err := be.Read(ctx, f.Rule.Name)
		if err != nil {
			fo.err[f.Backend] = err
			continue
		}
		fo.rules[f.Rule.Name] = rule
	}
	return fo
}

// firewallBackend detects (once per run and setting) the firewall tool.
func (i *Instance) firewallBackend(ctx context.Context, fo *firewallObservation, setting string) (firewall.Backend, error) {
	if be, ok := fo.backends[setting]; ok {
		return be, nil
	}
	if err, ok := fo.err[setting]; ok {
		return nil, err
	}
	be, err := firewall.Detect(ctx, i.firewallTransport(), setting)
	if err != nil {
		fo.err[setting] = err
		return nil, err
	}
	fo.backends[setting] = be
	i.firewalls.Store(setting, be) // apply uses what the refresh detected
	if nft, ok := be.(*firewall.Nftables); ok && fo.shadowed == nil {
		// Best effort: a failure here only loses the warning.
		fo.shadowed, _ = nft.Shadowed(ctx)
	}
	return be, nil
}

// firewallTransport runs the firewall's commands, through the host's
// firewall_command_prefix when it has one.
func (i *Instance) firewallTransport() host.Transport {
	return host.WithCommandPrefix(i.transport(), i.s.Host.FirewallCommandPrefix)
}

// transport is how the instance reaches its host.
func (i *Instance) transport() host.Transport {
	switch {
	case i.linux != nil && i.linux.Transport != nil:
		return i.linux.Transport
	case i.windows != nil && i.windows.Transport != nil:
		return i.windows.Transport
	}
	return host.Local{}
}

type firewallImpl struct{}

func (firewallImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	f := req.Config.(*FirewallRule)
	o := req.Observed.(*Observed)
	s := req.Target.(*Instance).s
	rng := f.DeclRange
	fail := func(err error) (resources.Change, hcl.Diagnostics) {
		return resources.Change{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the host firewall",
			Detail:   fmt.Sprintf("%s: on the host of %s: %s", f.Address, s.Addr(), err),
			Subject:  &rng,
		}}
	}
	fo := o.firewall
	if fo == nil {
		return fail(fmt.Errorf("the refresh did not read it"))
	}
	be, ok := fo.backends[f.Backend]
	if !ok {
		if err := fo.err[f.Backend]; err != nil {
			return fail(err)
		}
		return fail(fmt.Errorf("the refresh did not read its %s firewall", f.Backend))
	}
	if err, bad := fo.err[f.Backend]; bad {
		return fail(err)
	}
	have := fo.rules[f.Rule.Name]
	ch := resources.Change{
		Action: resources.NoOp,
		Before: firewallAttrs(have, be.Name()),
		After:  firewallAttrs(&f.Rule, be.Name()),
	}
	on := "host:" + s.Addr()
	var steps []resources.Step
	for _, c := range be.Describe(firewall.OpApply, f.Rule, have) {
		steps = append(steps, resources.Step{Kind: "command", On: on, Text: c})
	}
	switch diff := firewall.Diff(f.Rule, have); {
	case have == nil:
		ch.Action, ch.Steps = resources.Create, steps
		ch.Reason = fmt.Sprintf("no %s rule %s on the host", be.Name(), f.Rule.Name)
	case len(diff) > 0:
		ch.Action, ch.Steps = resources.Update, steps
		ch.Reason = strings.Join(diff, "; ")
	}
	var diags hcl.Diagnostics
	if be.Name() == firewall.NameNftables && len(fo.shadowed) > 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Another nftables table drops by default",
			Detail: fmt.Sprintf("%s: on the host of %s, %s drop what they do not accept: milink's rule does not override them, so the link's ports stay closed until those tables allow them too.",
				f.Address, s.Addr(), strings.Join(fo.shadowed, ", ")),
			Subject: &rng,
		})
	}
	return ch, diags
}

func (firewallImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	i := req.Target.(*Instance)
	ch := req.Change
	setting := "auto"
	if f, ok := req.Config.(*FirewallRule); ok {
		setting = f.Backend
	} else if b, ok := ch.Before["backend"].(string); ok && b != "" {
		setting = b // a delete: the tool the rule was made with
	}
	be, err := i.firewallFor(ctx, setting)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	if ch.Action == resources.Delete {
		name, _ := ch.Before["name"].(string)
		if err := be.Delete(ctx, name); err != nil {
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
		return resources.Result{}, nil
	}
	f := req.Config.(*FirewallRule)
	if err := be.Apply(ctx, f.Rule); err != nil {
		return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
	}
	got, err := be.Read(ctx, f.Rule.Name)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: reading the rule back: %w", ch.Address, err)
	}
	if diff := firewall.Diff(f.Rule, got); len(diff) > 0 {
		return resources.Result{}, fmt.Errorf("%s: the %s rule differs after it was written: %s", ch.Address, be.Name(), strings.Join(diff, "; "))
	}
	return resources.Result{Attributes: firewallAttrs(got, be.Name())}, nil
}

// PlanDelete deletes a rule milink created whose block is gone.
func (firewallImpl) PlanDelete(prior resources.Prior, target resources.Target) resources.Change {
	name, _ := prior.Attributes["name"].(string)
	backend, _ := prior.Attributes["backend"].(string)
	return resources.Change{
		Before: prior.Attributes,
		Steps:  []resources.Step{{Kind: "command", On: "host:" + target.Address(), Text: fmt.Sprintf("delete milink's %s rule %s", backend, name)}},
		Reason: "no longer in the configuration; milink created it, and deletes only it",
	}
}

// firewallFor is the backend the refresh detected for the setting (a saved
// plan applied in a new run detects it once, here).
func (i *Instance) firewallFor(ctx context.Context, setting string) (firewall.Backend, error) {
	if be, ok := i.firewalls.Load(setting); ok {
		return be.(firewall.Backend), nil
	}
	be, err := firewall.Detect(ctx, i.firewallTransport(), setting)
	if err != nil {
		return nil, err
	}
	i.firewalls.Store(setting, be)
	return be, nil
}
