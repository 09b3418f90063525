package sqlserver

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Enabling Always On on SQL Server 2016 needs a WSFC node: the plan warns,
// naming the hadr block; other versions, or HADR already on, do not.
func TestDiffWarns2016NeedsFailoverClusterNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		hadr    bool
		want    bool
	}{
		{"2016, HADR off", "13.0.7000.253", false, true},
		{"2016, HADR already configured and running", "13.0.7000.253", true, false},
		{"2019, HADR off", "15.0.4322.2", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sql01()
			o := freshObserved()
			o.ProductVersion = tc.version
			o.HadrRunning, o.HadrConfigured = tc.hadr, tc.hadr
			_, diags := diffAll(s, o, nil, "salt")
			var found *hcl.Diagnostic
			for _, d := range diags {
				if strings.Contains(d.Summary, "failover cluster node") {
					found = d
				}
			}
			if (found != nil) != tc.want {
				t.Fatalf("warning present = %v, want %v (%v)", found != nil, tc.want, diags)
			}
			if found != nil && (found.Severity != hcl.DiagWarning || !strings.HasPrefix(found.Detail, "hadr.sql01:")) {
				t.Errorf("warning %+v", found)
			}
		})
	}
}

func TestRestartReasonAgreesInNumber(t *testing.T) {
	s := sql01()
	s.StartupTraceFlags = nil
	changes, _ := diffAll(s, freshObserved(), nil, "salt")
	restarts := 0
	for _, c := range changes {
		if c.Kind == KindRestart {
			restarts++
			if !strings.HasSuffix(c.Reason, "hadr.sql01 takes effect") {
				t.Errorf("restart reason %q", c.Reason)
			}
		}
	}
	if restarts != 1 {
		t.Errorf("%d restart changes, want 1", restarts)
	}
}
