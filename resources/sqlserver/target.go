package sqlserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// opener opens sql_server targets.
type opener struct{}

func (opener) Open(ctx context.Context, env resources.Env, address string, cfg any) (resources.Target, error) {
	s, ok := cfg.(*Server)
	if !ok {
		return nil, fmt.Errorf("%s: not a sql_server configuration", address)
	}
	var log hclog.Logger
	if l, ok := env.Log.(hclog.Logger); ok {
		log = l
	}
	return Open(ctx, s, log)
}

// Address is the target's address, sql_server.NAME.
func (i *Instance) Address() string { return i.s.Addr() }

// Server is the configuration the instance was opened with, with the
// resources attached at its last refresh.
func (i *Instance) Server() *Server { return i.s }

// attach records the resource blocks configured on the instance: the
// restart and its verification need them, and errors are scrubbed of
// their secrets.
func (i *Instance) attach(res []resources.Instance) {
	s := i.s
	s.MasterKey, s.Hadr, s.StartupTraceFlags, s.Databases, s.readTDE = nil, nil, nil, nil, false
	for _, r := range res {
		if _, ok := r.Config.(TDEReader); ok {
			s.readTDE = true
		}
		switch c := r.Config.(type) {
		case *MasterKey:
			s.MasterKey = c
		case *Hadr:
			s.Hadr = c
		case *StartupTraceFlags:
			s.StartupTraceFlags = c
		case *Database:
			s.Databases = append(s.Databases, c)
		}
	}
}

// Refresh reads the instance in one round trip and checks its version
// against the support matrix: the version gate that comes before any
// change.
func (i *Instance) Refresh(ctx context.Context, res []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	i.attach(res)
	start := time.Now()
	o, err := i.refresh(ctx)
	i.log.Trace("refreshed", "elapsed", time.Since(start), "error", err)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + i.s.Addr(),
			Detail:   err.Error(),
			Subject:  i.s.DeclRange.Ptr(),
		}}
	}
	o.server = i.s
	o.encryption = i.encryption
	o.tdeCertificates, o.tdeAll = tdeCoverage(res)
	o.declaredGroups = groupsDeclared(res)
	o.firewall = i.readFirewall(ctx, res)
	if summary, problem := Support(i.s, o); problem == nil {
		o.support = summary
	}
	return o, CheckSupport(i.s, o)
}

// Observe re-reads the instance (the verification after a restart).
func (i *Instance) Observe(ctx context.Context) (resources.Observation, error) {
	o, err := i.refresh(ctx)
	if err != nil {
		return nil, err
	}
	o.server = i.s
	return o, nil
}

// Summary is the plan's header for the instance.
func (o *Observed) Summary() resources.TargetSummary {
	t := resources.TargetSummary{Type: KindServer, Support: o.support}
	if s := o.server; s != nil {
		t.Address, t.Name, t.Where = s.Addr(), s.Name, s.Address
		if s.Instance != "" {
			t.Where += `\` + s.Instance
		}
	}
	t.Banner, _, _ = strings.Cut(o.Banner, "\n")
	t.Facts = map[string]string{
		"product_version": o.ProductVersion,
		"edition":         o.Edition,
		"platform":        o.Platform,
	}
	if o.encryption != "" {
		t.Facts["encryption"] = o.encryption
	}
	if o.Login != "" {
		t.Facts["login"] = o.Login
		if s := o.server; s != nil {
			t.Facts["authentication"] = authDescription(s.Auth)
		}
	}
	return t
}

// Values are the observed attributes other blocks may refer to, beside
// the block's own arguments: sql_server.sql01.product_version.
func (o *Observed) Values() map[string]cty.Value {
	flags := make([]cty.Value, len(o.FlagsRunning))
	for i, f := range o.FlagsRunning {
		flags[i] = cty.NumberIntVal(int64(f))
	}
	flagList := cty.ListValEmpty(cty.Number)
	if len(flags) > 0 {
		flagList = cty.ListVal(flags)
	}
	return map[string]cty.Value{
		"product_version":    cty.StringVal(o.ProductVersion),
		"product_level":      cty.StringVal(o.ProductLevel),
		"update_level":       cty.StringVal(o.UpdateLevel),
		"edition":            cty.StringVal(o.Edition),
		"platform":           cty.StringVal(o.Platform),
		"machine_name":       cty.StringVal(o.MachineName),
		"server_name":        cty.StringVal(o.ServerName),
		"hadr_enabled":       cty.BoolVal(o.HadrRunning),
		"trace_flags":        flagList,
		"azure_connect_pack": cty.BoolVal(o.AzureConnectPack),
	}
}

// RestartChanges coalesces every change that needs the instance restarted
// into one restart, followed by a verification, as the procedure asks
// ("restart SQL Server, then validate"). With restart = "never" there is
// none: the changes show the restart as pending.
func (i *Instance) RestartChanges(_ resources.Observation, needing []resources.Change) []resources.Change {
	s := i.s
	if len(needing) == 0 || s.Restart == "never" {
		return nil
	}
	var addrs []string
	for _, ch := range needing {
		addrs = append(addrs, ch.Address)
	}
	linux, windows := hostDrivers(s, nil)
	var hstep resources.Step
	if linux != nil {
		hstep = linux.RestartStep()
	} else {
		hstep = windows.RestartStep()
	}
	restart := resources.Change{
		Address:   resources.RestartAddr(s.Addr()),
		Kind:      KindRestart,
		Target:    s.Addr(),
		Action:    resources.Restart,
		Restart:   resources.NeedsRestart,
		DependsOn: addrs,
		Steps:     []resources.Step{hstep, {Kind: "wait", On: s.Addr(), Text: probeSQL}},
		Reason:    "restart once so that " + strings.Join(addrs, " and ") + takeEffect(addrs),
	}
	var what []string
	if s.Hadr != nil {
		what = append(what, "HADR "+onOff(s.Hadr.Enabled))
	}
	if s.StartupTraceFlags != nil && len(s.StartupTraceFlags.Flags) > 0 {
		what = append(what, "trace flags "+intsText(host.SortedFlags(s.StartupTraceFlags.Flags))+" active")
	}
	verify := resources.Change{
		Address:   resources.VerifyAddr(s.Addr()),
		Kind:      KindVerify,
		Target:    s.Addr(),
		Action:    resources.Verify,
		DependsOn: []string{restart.Address},
		Steps:     []resources.Step{{Kind: "tsql", On: s.Addr(), Text: strings.TrimSpace(refreshSQL)}},
		Reason:    "after the restart: " + strings.Join(what, ", "),
	}
	return []resources.Change{restart, verify}
}

// takeEffect agrees the verb with the list of addresses.
func takeEffect(addrs []string) string {
	if len(addrs) == 1 {
		return " takes effect"
	}
	return " take effect"
}

// ApplyRestart restarts the instance once and waits for logins.
func (i *Instance) ApplyRestart(ctx context.Context, ch resources.Change, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	defer i.reportTo(progress)()
	_, err := i.applyRestart(ctx, i.s, ch, progress)
	return err
}

// reportTo sends what the instance has to say during one change (a
// reconnect after a lost connection) to that change's progress, until the
// returned function is called. A target's changes run one at a time.
func (i *Instance) reportTo(progress func(string)) func() {
	prev := i.Notify
	i.Notify = progress
	return func() { i.Notify = prev }
}
