// Package plan is milink's core: it turns a configuration and what was
// observed into a graph of changes (the Plan), saves and loads plan files,
// and applies a plan by walking its graph while recording state. It knows
// no kind of resource: kinds plug in through resources.Registry.
package plan

import (
	"time"

	"github.com/milink/milink/resources"
)

// FormatVersion is the version of the JSON plan format (plan -json, show
// -json, plan files). Bump the major part on any incompatible change.
//
// 2.0 (from 1.0): targets replace servers; each change names its target
// (an address, "sql_server.sql01") instead of a server name; restart and
// verify changes have addresses of their own (sql_server.sql01:restart);
// depends_on holds the graph's edges; attributes known only after apply
// are listed in after_unknown instead of holding a placeholder string.
const FormatVersion = "2.0"

// Plan is the value `milink plan` computes.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	MilinkVersion string    `json:"milink_version"`
	CreatedAt     time.Time `json:"created_at"`
	// The state the plan was made against; applying after either changed
	// is refused as stale.
	Lineage string `json:"lineage"`
	Serial  int64  `json:"serial"`
	// ConfigHash is config.Config.Hash at plan time.
	ConfigHash  string `json:"config_hash"`
	RefreshOnly bool   `json:"refresh_only,omitempty"`

	// Targets are what the plan observed (SQL Server instances, ...), in
	// configuration order.
	Targets []Target `json:"targets"`
	// Changes in a topological order of their graph (DependsOn), the
	// order a serial apply runs them. No-op changes are kept (views skip
	// them) so that state can record every managed object.
	Changes []resources.Change `json:"resource_changes"`
	// Drift lists objects that changed outside milink since the last apply.
	Drift []resources.Change `json:"resource_drift,omitempty"`
}

// Target is what the plan learned about one target.
type Target struct {
	resources.TargetSummary
	// Values are the observed attributes other blocks may refer to; a
	// saved plan keeps them so that applying it evaluates the
	// configuration exactly as planning did.
	Values map[string]any `json:"values,omitempty"`
}

// Summary counts what a plan will do.
type Summary struct {
	Add, Change, Destroy, Forget, Restart int
}

// Summary counts the plan's actions.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case resources.Create:
			s.Add++
		case resources.Update:
			s.Change++
		case resources.Delete:
			s.Destroy++
		case resources.Forget:
			s.Forget++
		case resources.Restart:
			s.Restart++
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything; the
// checks it runs (resources.Check) change nothing.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != resources.NoOp && c.Action != resources.Check {
			return true
		}
	}
	return false
}

// Change returns the change at addr, or nil.
func (p *Plan) Change(addr string) *resources.Change {
	for i := range p.Changes {
		if p.Changes[i].Address == addr {
			return &p.Changes[i]
		}
	}
	return nil
}
