package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
)

// JSONPlan is the machine-readable plan (`plan -json`, `show -json`). Its
// shape follows Terraform's JSON plan where the ideas match; FormatVersion
// is plan.FormatVersion and changes with it.
type JSONPlan struct {
	FormatVersion   string        `json:"format_version"`
	MilinkVersion   string        `json:"milink_version"`
	CreatedAt       time.Time     `json:"created_at"`
	Lineage         string        `json:"lineage"`
	Serial          int64         `json:"serial"`
	ConfigHash      string        `json:"config_hash"`
	RefreshOnly     bool          `json:"refresh_only"`
	Targets         []plan.Target `json:"targets"`
	ResourceChanges []JSONChange  `json:"resource_changes"`
	ResourceDrift   []JSONChange  `json:"resource_drift"`
	// Checks are the preconditions evaluated at plan time (the support
	// matrix) and the verifications apply will run after a restart.
	Checks  []JSONCheck `json:"checks"`
	Summary JSONSummary `json:"summary"`
}

// JSONCheck is one check: Status is "passed" (evaluated while planning),
// "planned" (apply runs it) or "pending" (waits for a restart milink may
// not do, restart = "never").
type JSONCheck struct {
	Address string `json:"address"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Detail  string `json:"detail"`
}

// JSONChange is one change. Sensitive attributes are absent from Before
// and After and marked true in BeforeSensitive / AfterSensitive: their
// values (even fingerprints) are never written.
type JSONChange struct {
	Address         string           `json:"address"`
	Kind            string           `json:"kind"`
	Target          string           `json:"target"`
	Action          resources.Action `json:"action"`
	Actions         []string         `json:"actions"`
	Before          map[string]any   `json:"before"`
	After           map[string]any   `json:"after"`
	BeforeSensitive map[string]bool  `json:"before_sensitive"`
	AfterSensitive  map[string]bool  `json:"after_sensitive"`
	// AfterUnknown marks the attributes known only after apply.
	AfterUnknown map[string]bool `json:"after_unknown"`
	Sensitive    []string        `json:"sensitive"`
	// Restart is "", "needed" or "pending".
	Restart   resources.RestartNeed `json:"restart"`
	Steps     []resources.Step      `json:"steps"`
	DependsOn []string              `json:"depends_on"`
	Reason    string                `json:"reason"`
	// Part is the block whose expansion added this one, if any.
	Part string `json:"part,omitempty"`
}

// JSONSummary counts the plan's actions.
type JSONSummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Restart int `json:"restart"`
	Forget  int `json:"forget"`
}

// JSON writes p as a JSONPlan, indented, followed by a newline.
func JSON(w io.Writer, p *plan.Plan) error {
	data, err := json.MarshalIndent(ToJSON(p), "", "  ")
	if err != nil {
		return fmt.Errorf("rendering plan as JSON: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing JSON plan: %w", err)
	}
	return nil
}

// ToJSON builds the machine-readable view of p.
func ToJSON(p *plan.Plan) *JSONPlan {
	s := p.Summary()
	out := &JSONPlan{
		FormatVersion:   plan.FormatVersion,
		MilinkVersion:   p.MilinkVersion,
		CreatedAt:       p.CreatedAt,
		Lineage:         p.Lineage,
		Serial:          p.Serial,
		ConfigHash:      p.ConfigHash,
		RefreshOnly:     p.RefreshOnly,
		Targets:         append([]plan.Target{}, p.Targets...),
		ResourceChanges: make([]JSONChange, 0, len(p.Changes)),
		ResourceDrift:   make([]JSONChange, 0, len(p.Drift)),
		Summary:         JSONSummary{Add: s.Add, Change: s.Change, Destroy: s.Destroy, Restart: s.Restart, Forget: s.Forget},
	}
	for i := range p.Changes {
		out.ResourceChanges = append(out.ResourceChanges, jsonChange(&p.Changes[i]))
	}
	for i := range p.Drift {
		out.ResourceDrift = append(out.ResourceDrift, jsonChange(&p.Drift[i]))
	}
	out.Checks = checks(p)
	return out
}

// checks lists the plan's preconditions and verifications.
func checks(p *plan.Plan) []JSONCheck {
	out := []JSONCheck{}
	for _, t := range p.Targets {
		if t.Support != "" {
			out = append(out, JSONCheck{Address: t.Address, Name: "support_matrix", Status: "passed", Detail: cleanText(t.Support)})
		}
	}
	for _, c := range p.Changes {
		switch {
		case c.Action == resources.Verify:
			out = append(out, JSONCheck{Address: c.Address, Name: "verify_after_restart", Status: "planned", Detail: cleanText(c.Reason)})
		case c.Action == resources.Check:
			// Run last by apply: its kind names it (connectivity_check).
			out = append(out, JSONCheck{Address: c.Address, Name: c.Kind, Status: "planned", Detail: cleanText(c.Reason)})
		}
	}
	targets, waiting := PendingRestarts(p)
	for _, t := range targets {
		out = append(out, JSONCheck{Address: resources.RestartAddr(t), Name: "restart", Status: "pending",
			Detail: "restart forbidden (restart = \"never\"): " + strings.Join(waiting[t], " and ") + " at the next restart"})
	}
	return out
}

func jsonChange(c *resources.Change) JSONChange {
	j := JSONChange{
		Address:         c.Address,
		Kind:            c.Kind,
		Target:          c.Target,
		AfterUnknown:    map[string]bool{},
		Action:          c.Action,
		Actions:         []string{string(c.Action)},
		BeforeSensitive: map[string]bool{},
		AfterSensitive:  map[string]bool{},
		Sensitive:       append([]string{}, c.Sensitive...),
		Restart:         c.Restart,
		Steps:           make([]resources.Step, 0, len(c.Steps)),
		DependsOn:       append([]string{}, c.DependsOn...),
		Reason:          c.Reason,
		Part:            c.Part,
	}
	j.Before = redactMap(c, c.Before, j.BeforeSensitive)
	j.After = redactMap(c, c.After, j.AfterSensitive)
	for _, k := range c.Unknown {
		j.AfterUnknown[k] = true
	}
	for _, s := range c.Steps {
		s.Text = scrubStep(c, s.Text)
		j.Steps = append(j.Steps, s)
	}
	return j
}

// redactMap copies m without its sensitive attributes, marking each in
// marks. A nil map stays nil (JSON null: the object does not exist on
// that side of the change).
func redactMap(c *resources.Change, m map[string]any, marks map[string]bool) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sensitiveAttr(c, k) {
			marks[k] = true
			continue
		}
		out[k] = v
	}
	return out
}
