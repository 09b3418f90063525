package sqlserver

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Enabling Always On on SQL Server 2016 needs a WSFC node: the plan stops
// with an error on the hadr block unless the host is one (or the instance
// is a failover cluster instance, which always lives on one); other
// versions, or HADR already on, pass.
func TestDiff2016NeedsFailoverClusterNode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		version   string
		hadr      bool
		node      bool
		clustered bool
		probeErr  string
		want      string // a fragment of the error, "" for none
	}{
		{"2016, HADR off, not a node", "13.0.7000.253", false, false, false, "", "the host is not a node of one"},
		{"2016, HADR off, cannot ask the host", "13.0.7000.253", false, false, false, "powershell.exe: not found", "could not confirm that the host is a node of one (powershell.exe: not found)"},
		{"2016, HADR off, a node", "13.0.7000.253", false, true, false, "", ""},
		{"2016, a failover cluster instance", "13.0.7000.253", false, false, true, "", ""},
		{"2016, HADR already configured and running", "13.0.7000.253", true, false, false, "", ""},
		{"2019, HADR off", "15.0.4322.2", false, false, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sql01()
			o := freshObserved()
			o.ProductVersion = tc.version
			o.HadrRunning, o.HadrConfigured = tc.hadr, tc.hadr
			o.ClusterNode, o.Clustered, o.ClusterNodeErr = tc.node, tc.clustered, tc.probeErr
			_, diags := diffAll(s, o, nil, "salt")
			var found *hcl.Diagnostic
			for _, d := range diags {
				if strings.Contains(d.Summary, "failover cluster node") {
					found = d
				}
			}
			if (found != nil) != (tc.want != "") {
				t.Fatalf("error present = %v, want %q (%v)", found != nil, tc.want, diags)
			}
			if found != nil && (found.Severity != hcl.DiagError || !strings.HasPrefix(found.Detail, "hadr.sql01:") || !strings.Contains(found.Detail, tc.want)) {
				t.Errorf("error %+v", found)
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
