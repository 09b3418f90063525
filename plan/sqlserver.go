package plan

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// SQLServerConnector opens the real SQL Server driver (resources/sqlserver)
// for the planner.
func SQLServerConnector(log hclog.Logger) Connector {
	return func(ctx context.Context, s *config.SQLServer) (Driver, error) {
		inst, err := sqlserver.Open(ctx, s, log)
		if err != nil {
			return nil, err
		}
		return sqlServerDriver{inst: inst, log: log.Named(s.Addr())}, nil
	}
}

// sqlServerDriver adapts resources/sqlserver to Driver: refresh, the
// version gate, then the diff.
type sqlServerDriver struct {
	inst *sqlserver.Instance
	log  hclog.Logger
}

func (d sqlServerDriver) Plan(ctx context.Context, s *config.SQLServer, prior map[string]resources.Prior, salt string) (Server, []resources.Change, hcl.Diagnostics) {
	srv := Server{Name: s.Name, Address: s.Address}
	start := time.Now()
	obs, err := d.inst.Refresh(ctx)
	d.log.Trace("refreshed", "elapsed", time.Since(start), "error", err)
	if err != nil {
		return srv, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + s.Addr(),
			Detail:   err.Error(),
			Subject:  s.DeclRange.Ptr(),
		}}
	}
	srv.Banner, _, _ = strings.Cut(obs.Banner, "\n")
	srv.ProductVersion = obs.ProductVersion
	srv.Edition = obs.Edition
	srv.Platform = obs.Platform
	if summary, problem := sqlserver.Support(s, obs); problem == nil {
		srv.Support = summary
	}
	diags := sqlserver.CheckSupport(s, obs)
	if diags.HasErrors() {
		return srv, nil, diags
	}
	changes, more := sqlserver.Diff(s, obs, prior, salt)
	d.log.Trace("diffed", "changes", len(changes), "diagnostics", len(more))
	return srv, changes, append(diags, more...)
}

func (d sqlServerDriver) Apply(ctx context.Context, s *config.SQLServer, ch resources.Change, salt string, progress func(string)) (resources.Result, error) {
	d.log.Trace("applying", "address", ch.Address, "action", ch.Action, "steps", len(ch.Steps))
	start := time.Now()
	res, err := d.inst.Apply(ctx, s, ch, salt, progress)
	d.log.Trace("applied", "address", ch.Address, "elapsed", time.Since(start), "error", err)
	return res, err
}

func (d sqlServerDriver) Close() error { return d.inst.Close() }
