package sqlserver

import (
	"context"
	"fmt"
	"time"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// applyRestart runs the restart command, then waits for logins. Once the
// command has started, the two are one critical section: a restart killed
// halfway can leave SQL Server stopped, so an interrupt (ctx cancelled)
// neither stops the command (it runs shielded, see host.Shielded) nor the
// wait for logins, which host.restart_timeout bounds; the interrupt is
// reported once the server is back, or the wait gave up.
func (i *Instance) applyRestart(ctx context.Context, s *Server, ch resources.Change, progress func(string)) (resources.Result, error) {
	if s.Restart == "never" {
		return resources.Result{}, fmt.Errorf("%s: restart is forbidden (restart = \"never\")", s.Addr())
	}
	if i.settingFailed {
		return resources.Result{}, fmt.Errorf("%s: not restarting: a startup setting could not be changed", s.Addr())
	}
	if ctx.Err() != nil {
		return resources.Result{}, fmt.Errorf("%s: not restarting: %w", s.Addr(), context.Cause(ctx))
	}
	crit := host.Shielded(ctx)
	var err error
	if i.linux != nil {
		progress(i.linux.RestartSummary())
		err = i.linux.Restart(crit)
	} else {
		progress(i.windows.RestartSummary())
		err = i.windows.Restart(crit)
	}
	if err != nil {
		if ctx.Err() != nil {
			return resources.Result{}, fmt.Errorf("%s: interrupted while the restart command ran (it was left to finish); the restart failed: %w (%w)", s.Addr(), err, context.Cause(ctx))
		}
		return resources.Result{}, fmt.Errorf("%s: restart failed: %w", s.Addr(), err)
	}
	werr := i.waitForLogins(crit, s, progress)
	if ctx.Err() != nil {
		if werr != nil {
			return resources.Result{}, fmt.Errorf("%s: interrupted during the restart; the restart command completed, but: %w (%w)", s.Addr(), werr, context.Cause(ctx))
		}
		return resources.Result{}, fmt.Errorf("%s: interrupted during the restart; the restart completed and the server accepts logins again; nothing after it was done (%w)", s.Addr(), context.Cause(ctx))
	}
	if werr != nil {
		return resources.Result{}, werr
	}
	return resources.Result{Attributes: map[string]any{"restarted_at": i.now().UTC().Format(time.RFC3339)}}, nil
}
