package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
)

// A normal plan says what changed outside milink before repairing it; a
// plan without drift says nothing about it.
func TestPlanShowsDrift(t *testing.T) {
	change := resources.Change{Address: "database.sales", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
		Before: map[string]any{"recovery_model": "SIMPLE"}, After: map[string]any{"recovery_model": "FULL"}}
	drift := resources.Change{Address: "database.sales", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
		Before: map[string]any{"recovery_model": "FULL"}, After: map[string]any{"recovery_model": "SIMPLE"}}
	for _, tc := range []struct {
		name  string
		drift []resources.Change
		want  bool
	}{
		{"with drift", []resources.Change{drift}, true},
		{"without drift", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &plan.Plan{Targets: []plan.Target{{TargetSummary: resources.TargetSummary{Address: "sql_server.sql01"}}}, Changes: []resources.Change{change}, Drift: tc.drift}
			var out bytes.Buffer
			Plan(&out, p, Options{})
			got := strings.Contains(out.String(), "~ database.sales changed outside milink: recovery_model")
			if got != tc.want {
				t.Errorf("drift line shown = %v, want %v:\n%s", got, tc.want, out.String())
			}
		})
	}
}
