package sqlserver

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func obs(version, level, update, edition, platform string, pack bool) *Observed {
	return &Observed{ProductVersion: version, ProductLevel: level, UpdateLevel: update, Edition: edition, EngineEdition: 3, Platform: platform, AzureConnectPack: pack,
		Banner: "Microsoft SQL Server - " + version + " (X64)\n\tCopyright (C) Microsoft Corporation"}
}

func TestSupport(t *testing.T) {
	dev, ent, std, eval, expr := "Developer Edition (64-bit)", "Enterprise Edition: Core-based Licensing (64-bit)", "Standard Edition (64-bit)", "Enterprise Evaluation Edition (64-bit)", "Express Edition (64-bit)"
	tests := []struct {
		name   string
		matrix string
		o      *Observed
		ok     string // substring of the summary when supported
		err    string // substring of the problem when not
	}{
		// current matrix, every row, at and below its minimum
		{"2025 RTM", "current", obs("17.0.1000.7", "RTM", "", dev, "linux", false), "SQL Server 2025 RTM or later (current matrix, 2026-03)", ""},
		{"2025 below", "current", obs("17.0.925.4", "CTP2.1", "", dev, "linux", false), "", "SQL Server 2025 17.0.925.4 (CTP2.1) is below the minimum 17.0.1000.7 (RTM) for the link; install RTM or later"},
		{"2022 RTM linux", "current", obs("16.0.1000.6", "RTM", "", dev, "linux", false), "SQL Server 2022 RTM", ""},
		{"2022 CU13 windows standard", "current", obs("16.0.4125.3", "RTM", "CU13", std, "windows", false), "SQL Server 2022", ""},
		{"2019 CU20 exactly", "current", obs("15.0.4312.2", "RTM", "CU20", ent, "windows", false), "SQL Server 2019 CU20 or later", ""},
		{"2019 CU22", "current", obs("15.0.4322.2", "RTM", "CU22", dev, "linux", false), "supported", ""},
		{"2019 one below CU20", "current", obs("15.0.4312.1", "RTM", "CU19", dev, "linux", false), "", "15.0.4312.1 (CU19) is below the minimum 15.0.4312.2 (CU20)"},
		{"2019 CU15", "current", obs("15.0.4198.2", "RTM", "CU15", dev, "linux", false), "", "SQL Server 2019 15.0.4198.2 (CU15) is below the minimum 15.0.4312.2 (CU20) for the link; install CU20 or later"},
		{"2019 express", "current", obs("15.0.4322.2", "RTM", "CU22", expr, "linux", false), "", "needs Enterprise, Standard or Developer edition"},
		{"2019 evaluation", "current", obs("15.0.4322.2", "RTM", "CU22", eval, "linux", false), "", "Evaluation Edition"},
		{"2017 with pack", "current", obs("14.0.3490.10", "RTM", "CU31", dev, "linux", true), "SQL Server 2017", ""},
		{"2017 CU31 without pack build", "current", obs("14.0.3456.2", "RTM", "CU31", dev, "linux", false), "", "14.0.3456.2 (CU31) is below the minimum 14.0.3490.10"},
		{"2017 pack build, probe missing", "current", obs("14.0.3490.10", "RTM", "CU31", dev, "linux", false), "", "does not have the Azure Connect pack"},
		{"2016 pack windows", "current", obs("13.0.7000.253", "SP3", "", ent, "windows", true), "SQL Server 2016", ""},
		{"2016 SP3 security update is not the pack", "current", obs("13.0.6419.1", "SP3", "", ent, "windows", false), "", "13.0.6419.1 (SP3) is below the minimum 13.0.7000.253"},
		{"2016 without pack probe", "current", obs("13.0.7000.253", "SP3", "", ent, "windows", false), "", "install the SQL Server 2016 SP3 Azure Connect pack (KB5014242)"},
		{"2016 on linux", "current", obs("13.0.7000.253", "SP3", "", ent, "linux", true), "", "SQL Server 2016 on Linux is not supported for the link (current matrix, 2026-03); it is supported on Windows only"},
		{"2014", "current", obs("12.0.6024.0", "SP3", "", ent, "windows", false), "", "SQL Server 2014 12.0.6024.0 is not supported for the link (current matrix, 2026-03); supported versions: 2016, 2017, 2019, 2022 or 2025"},
		{"bad version", "current", obs("15.0", "RTM", "", dev, "linux", false), "", "cannot read the product version"},
		{"managed instance", "current", func() *Observed {
			o := obs("16.0.9000.0", "RTM", "", "Enterprise Edition", "linux", false)
			o.EngineEdition = 8
			return o
		}(), "", "Managed Instance"},

		// 2022-06 matrix, every row
		{"06 2022 evaluation", "2022-06", obs("16.0.600.9", "CTP2.0", "", eval, "windows", false), "SQL Server 2022 preview or later (2022-06 matrix, 2022-06-05)", ""},
		{"06 2022 developer", "2022-06", obs("16.0.600.9", "CTP2.0", "", dev, "windows", false), "", "needs Evaluation edition"},
		{"06 2019 CU15", "2022-06", obs("15.0.4198.2", "RTM", "CU15", ent, "windows", false), "SQL Server 2019 CU15 or later", ""},
		{"06 2019 CU14", "2022-06", obs("15.0.4188.2", "RTM", "CU14", ent, "windows", false), "", "SQL Server 2019 15.0.4188.2 (CU14) is below the minimum 15.0.4198.2 (CU15) for the link; install CU15 (KB5008996) or later"},
		{"06 2019 standard", "2022-06", obs("15.0.4198.2", "RTM", "CU15", std, "windows", false), "", "needs Enterprise or Developer edition"},
		{"06 2019 linux", "2022-06", obs("15.0.4198.2", "RTM", "CU15", dev, "linux", false), "", "supported on Windows only"},
		{"06 2016 SP3 with pack", "2022-06", obs("13.0.6300.2", "SP3", "", std, "windows", true), "SQL Server 2016 SP3 or later", ""},
		{"06 2016 SP3 without pack", "2022-06", obs("13.0.6300.2", "SP3", "", std, "windows", false), "", "does not have the Azure Connect pack"},
		{"06 2016 SP2", "2022-06", obs("13.0.5026.0", "SP2", "", std, "windows", true), "", "13.0.5026.0 (SP2) is below the minimum 13.0.6300.2 (SP3)"},
		{"06 2017 not listed", "2022-06", obs("14.0.3490.10", "RTM", "CU31", dev, "windows", true), "", "supported versions: 2016, 2019 or 2022"},
		{"unknown matrix", "2019-01", obs("15.0.4322.2", "RTM", "CU22", dev, "linux", false), "", `unknown support matrix "2019-01"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sql01()
			s.SupportMatrix = tt.matrix
			s.Host.OS = tt.o.Platform
			sum, err := Support(s, tt.o)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				d := CheckSupport(s, tt.o)
				if !d.HasErrors() || d[0].Subject == nil || *d[0].Subject != s.DeclRange {
					t.Errorf("diagnostics %v: want an error on the sql_server block", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected: %v", err)
			}
			if !strings.Contains(sum, tt.ok) {
				t.Errorf("summary %q, want %q", sum, tt.ok)
			}
			if d := CheckSupport(s, tt.o); len(d) != 0 {
				t.Errorf("diagnostics: %v", d)
			}
		})
	}
}

func TestSupportDefaultMatrix(t *testing.T) {
	s := sql01()
	s.SupportMatrix = ""
	if _, err := Support(s, obs("15.0.4198.2", "RTM", "CU15", "Developer Edition (64-bit)", "linux", false)); err == nil || !strings.Contains(err.Error(), "CU20") {
		t.Fatalf("default matrix is not current: %v", err)
	}
}

func TestCheckSupportWrongOS(t *testing.T) {
	s := sql01()
	d := CheckSupport(s, obs("15.0.4322.2", "RTM", "CU22", "Developer Edition (64-bit)", "windows", false))
	if len(d) != 1 || d[0].Severity != hcl.DiagError || !strings.Contains(d[0].Detail, `host.os is "linux" but the instance runs on Windows`) || *d[0].Subject != s.Host.DeclRange {
		t.Fatalf("got %v", d)
	}
}

// A login outside the sysadmin role stops the plan before any change,
// naming the login and how to fix it (issue 11 item 2).
func TestCheckSupportNotSysadmin(t *testing.T) {
	o := &Observed{ProductVersion: "15.0.4322.2", Edition: "Developer Edition (64-bit)", EngineEdition: 3, Platform: "linux",
		Banner: "Microsoft SQL Server 2019 (RTM-CU22) on Linux", NotSysadmin: true, Login: "dba"}
	diags := CheckSupport(sql01(), o)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `logs in as "dba", which is not a member of the sysadmin server role`) ||
		!strings.Contains(diags.Error(), "ALTER SERVER ROLE [sysadmin] ADD MEMBER [dba];") {
		t.Errorf("diags = %v", diags)
	}
	sets := []resultSet{{cols: []string{"banner", "product_version", "is_sysadmin", "login_name"}, rows: [][]any{{"Microsoft SQL Server 2019 on Linux", "15.0.4322.2", int64(0), "dba"}}},
		{cols: []string{"name", "database_id"}}}
	p, err := parseSets(sets)
	if err != nil || !p.NotSysadmin || p.Login != "dba" {
		t.Errorf("parseSets: %+v %v", p, err)
	}
}

// A failover cluster instance without a restart command of its own stops
// the plan, saying how to restart it (issue 11 item 3).
func TestCheckSupportClustered(t *testing.T) {
	o := &Observed{ProductVersion: "15.0.4322.2", Edition: "Developer Edition (64-bit)", EngineEdition: 3, Platform: "linux",
		Banner: "Microsoft SQL Server 2019 (RTM-CU22) on Linux", Clustered: true}
	s := sql01()
	if diags := CheckSupport(s, o); !diags.HasErrors() || !strings.Contains(diags.Error(), "failover cluster instance") {
		t.Errorf("default restart command: %v", diags)
	}
	s.Host.RestartCommand, s.Host.RestartCommandSet = []string{"pcs", "resource", "restart", "sqlfci"}, true
	if diags := CheckSupport(s, o); diags.HasErrors() {
		t.Errorf("explicit restart command: %v", diags)
	}
}
