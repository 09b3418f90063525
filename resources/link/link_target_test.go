package link

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

type dbObs map[string]sqlserver.DatabaseState

func (o dbObs) Database(name string) (sqlserver.DatabaseState, bool) {
	d, ok := o[strings.ToLower(name)]
	return d, ok
}
func (dbObs) Summary() resources.TargetSummary { return resources.TargetSummary{} }
func (dbObs) Values() map[string]cty.Value     { return nil }

func TestCheckTarget(t *testing.T) {
	db := func(collation string, hekaton bool) sqlserver.DatabaseState {
		var d sqlserver.DatabaseState
		d.Collation, d.MemoryOptimized = collation, hekaton
		return d
	}
	for _, tt := range []struct {
		name, tier, collation string
		db                    sqlserver.DatabaseState
		want                  []string // "error: summary" or "warning: summary"
	}{
		{"matching", "GeneralPurpose", "SQL_Latin1_General_CP1_CI_AS", db("sql_latin1_general_cp1_ci_as", false), nil},
		{"collation", "GeneralPurpose", "SQL_Latin1_General_CP1_CI_AS", db("Latin1_General_100_CS_AS", false),
			[]string{"warning: Collation differs from the managed instance's"}},
		{"hekaton on gp", "GeneralPurpose", "", db("", true), []string{"error: In-Memory OLTP on a GeneralPurpose managed instance"}},
		{"hekaton on bc", "BusinessCritical", "", db("", true), nil},
		{"tier unknown", "", "", db("", true), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &LinkConfig{Address: "managed_instance_link.l", Databases: []string{"Sales"}}
			mi := &azure.Observed{ServiceTier: tt.tier, Collation: tt.collation}
			var got []string
			for _, d := range checkTarget(c, mi, dbObs{"sales": tt.db}) {
				sev := "warning"
				if d.Severity == hcl.DiagError {
					sev = "error"
				}
				got = append(got, sev+": "+d.Summary)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// A database the refresh did not read is not judged.
	if d := checkTarget(&LinkConfig{Databases: []string{"other"}}, &azure.Observed{ServiceTier: "GeneralPurpose"}, dbObs{}); len(d) != 0 {
		t.Errorf("unread database: %v", d)
	}
}
