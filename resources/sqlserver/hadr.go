package sqlserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// hadrImpl is the hadr kind: Always On availability groups, a startup
// setting (mssql.conf hadr.hadrenabled, or the registry's HADR_Enabled)
// that takes effect at the restart.
type hadrImpl struct{}

func (hadrImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	h := req.Config.(*Hadr)
	o := req.Observed.(*Observed)
	i := req.Target.(*Instance)
	s := i.s
	if d := hadrOffRefusal(h, o); d != nil {
		return resources.Change{}, hcl.Diagnostics{d}
	}
	linux, windows := hostDrivers(s, nil)
	ch := resources.Change{
		Address: h.Addr(),
		Kind:    KindHadr,
		Target:  s.Addr(),
		Action:  resources.NoOp,
		Before:  map[string]any{"enabled_running": o.HadrRunning, "enabled_configured": o.HadrConfigured},
	}
	running := o.HadrRunning
	if o.HadrRunning != h.Enabled && s.Restart != "never" {
		running = h.Enabled
	}
	ch.After = map[string]any{"enabled_running": running, "enabled_configured": h.Enabled}
	if o.HadrConfigured != h.Enabled {
		ch.Action = resources.Update
		if linux != nil {
			ch.Steps = []resources.Step{linux.HadrStep(h.Enabled, o.ConfTool)}
		} else {
			ch.Steps = []resources.Step{windows.HadrStep(h.Enabled)}
		}
		ch.Reason = fmt.Sprintf("Always On availability groups %s", onOff(h.Enabled))
	}
	if o.HadrRunning != h.Enabled {
		if ch.Action == resources.Update {
			ch.Restart = resources.NeedsRestart
		} else {
			ch.Restart = resources.PendingRestart
			ch.Reason = fmt.Sprintf("configured %s, not yet running: restart pending", onOff(h.Enabled))
			if byEarlierApply(req.Prior, "enabled_configured", h.Enabled) {
				ch.Reason = fmt.Sprintf("configured %s by an earlier apply that stopped before its restart: restart pending", onOff(h.Enabled))
			}
		}
	}
	if ch.Action == resources.Update && h.Enabled && strings.HasPrefix(o.ProductVersion, "13.") && !o.Clustered && !o.ClusterNode {
		// Configuration Manager says "This computer is not a node in a
		// failover cluster." on 2016 outside a WSFC: enabling would fail,
		// or (written straight into the registry) leave a setting the
		// server cannot honour, found only after the restart.
		why := "the host is not a node of one"
		if o.ClusterNodeErr != "" {
			why = "milink could not confirm that the host is a node of one (" + o.ClusterNodeErr + ")"
		}
		return resources.Change{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "SQL Server 2016 needs a failover cluster node for Always On",
			Detail: fmt.Sprintf("%s: SQL Server 2016 can enable Always On availability groups only on a Windows Server Failover Cluster node "+
				"(the procedure's \"prepare SQL Server 2016 prerequisites\"), and %s. Add the host to a failover cluster (Install-WindowsFeature Failover-Clustering, then New-Cluster or Add-ClusterNode) and plan again.", h.Addr(), why),
			Subject: h.DeclRange.Ptr(),
		}}
	}
	return ch, nil
}

// byEarlierApply reports whether the state shows that milink itself
// configured the value now pending (an apply that stopped before its
// restart), rather than someone else.
func byEarlierApply(prior *resources.Prior, attr string, want any) bool {
	return prior != nil && sameJSON(prior.Attributes[attr], want)
}

func onOff(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

func (hadrImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	i := req.Target.(*Instance)
	if req.Progress != nil {
		defer i.reportTo(req.Progress)()
	}
	ch := req.Change
	h, ok := req.Config.(*Hadr)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	st, err := i.startup(ctx, ch.Address)
	if err != nil {
		i.settingFailed = true
		return resources.Result{}, err
	}
	if st.Hadr != h.Enabled {
		if err := i.setHadr(ctx, h.Enabled); err != nil {
			i.settingFailed = true
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	// The state records what was observed: running as it was before (the
	// verification after the restart records the new value), configured
	// as just written. An apply killed before its restart then shows a
	// pending restart next time, not drift.
	running := ch.Before["enabled_running"]
	if running == nil {
		running = !h.Enabled
	}
	return resources.Result{Attributes: map[string]any{"enabled_running": running, "enabled_configured": h.Enabled}}, nil
}

func (i *Instance) setHadr(ctx context.Context, on bool) error {
	var step resources.Step
	var err error
	if i.linux != nil {
		step, err = i.linux.SetHadr(ctx, on)
	} else {
		step, err = i.windows.SetHadr(ctx, on)
	}
	i.log.Debug("host step", "kind", step.Kind, "text", step.Text)
	return err
}

// StillConfigured re-reads the startup setting just before the restart.
func (hadrImpl) StillConfigured(ctx context.Context, req resources.ApplyRequest) error {
	i := req.Target.(*Instance)
	h, ok := req.Config.(*Hadr)
	if !ok {
		return nil
	}
	st, err := i.startup(ctx, req.Change.Address)
	if err != nil {
		return err
	}
	if st.Hadr != h.Enabled {
		return fmt.Errorf("%s: Always On is configured %s on the host now, not %s as the plan expected: the host changed since the plan was made", req.Change.Address, onOff(st.Hadr), onOff(h.Enabled))
	}
	return nil
}

// Verify checks SERVERPROPERTY('IsHadrEnabled') after the restart.
func (hadrImpl) Verify(req resources.ApplyRequest, after resources.Observation) (map[string]any, string, error) {
	h, ok := req.Config.(*Hadr)
	if !ok {
		return nil, "", nil
	}
	o := after.(*Observed)
	attrs := map[string]any{"enabled_running": o.HadrRunning, "enabled_configured": h.Enabled}
	if o.HadrRunning != h.Enabled {
		return attrs, "", fmt.Errorf("HADR is %s (SERVERPROPERTY('IsHadrEnabled')), configured %s", onOff(o.HadrRunning), onOff(h.Enabled))
	}
	// Enabled is not enough: the HADR manager must have started (1); 2
	// means it failed, which the SQL Server error log explains.
	if h.Enabled && o.HadrManagerStatus != 1 && o.HadrManagerStatus != -1 {
		what := "has not started"
		if o.HadrManagerStatus == 2 {
			what = "failed to start"
		}
		return attrs, "", fmt.Errorf("HADR is enabled but its manager %s (SERVERPROPERTY('HadrManagerStatus') = %d): see the SQL Server error log", what, o.HadrManagerStatus)
	}
	return attrs, map[bool]string{true: "HADR running", false: "HADR not running"}[o.HadrRunning], nil
}
