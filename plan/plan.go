// Package plan turns a configuration and what was observed into an ordered
// Plan, renders it for people and machines, saves and loads plan files, and
// applies a plan step by step while recording state.
package plan

import (
	"time"

	"github.com/milink/milink/resources"
)

// FormatVersion is the version of the JSON plan format (plan -json, show
// -json, plan files). Bump the major part on any incompatible change.
const FormatVersion = "1.0"

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

	Servers []Server `json:"servers"`
	// Changes in the order apply runs them. No-op changes are kept (views
	// skip them) so that state can record every managed object.
	Changes []resources.Change `json:"resource_changes"`
	// Drift lists objects that changed outside milink since the last apply.
	Drift []resources.Change `json:"resource_drift,omitempty"`
}

// Server is what the plan learned about one instance.
type Server struct {
	Name           string `json:"name"`
	Address        string `json:"address"`
	Banner         string `json:"banner"`          // @@VERSION, first line
	ProductVersion string `json:"product_version"` // e.g. 15.0.4322.2
	Edition        string `json:"edition"`
	Platform       string `json:"platform"` // linux | windows
	Support        string `json:"support"`  // e.g. "supported: 2019 CU20 or later (current matrix)"
}

// Summary counts what a plan will do.
type Summary struct {
	Add, Change, Destroy, Forget, Restart int
}

// Summary counts the plan's actions. A pending restart counts as a restart.
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

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != resources.NoOp {
			return true
		}
	}
	return false
}
