package sqlserver

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// salesDiff plans database.sales with its observed state changed by mod,
// and returns its change and the diagnostics on it.
func salesDiff(t *testing.T, mod func(d *DatabaseState, o *Observed)) (resources.Change, hcl.Diagnostics) {
	t.Helper()
	s := sql01()
	o := freshObserved()
	d := o.Databases["sales"]
	d.UserAccess = "MULTI_USER"
	mod(&d, o)
	o.Databases["sales"] = d
	var db *Database
	for _, x := range s.Databases {
		if x.DatabaseName == "sales" {
			db = x
		}
	}
	req := resources.DiffRequest{Address: db.Addr(), Config: db, Target: &Instance{s: s}, Observed: o}
	return databaseImpl{}.Diff(req)
}

func TestDatabaseEligibility(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(d *DatabaseState, o *Observed)
		sev     hcl.DiagnosticSeverity // 0: no diagnostic
		summary string
		detail  string
	}{
		{"eligible", func(*DatabaseState, *Observed) {}, 0, "", ""},
		{"offline", func(d *DatabaseState, _ *Observed) { d.State = "OFFLINE" }, hcl.DiagError, "Database is not online", "ALTER DATABASE [sales] SET ONLINE"},
		{"restoring", func(d *DatabaseState, _ *Observed) { d.State = "RESTORING" }, hcl.DiagError, "Database is not online", "is RESTORING"},
		{"read-only", func(d *DatabaseState, _ *Observed) { d.ReadOnly = true }, hcl.DiagError, "Database is read-only", "SET READ_WRITE"},
		{"read-only in FULL", func(d *DatabaseState, _ *Observed) { d.ReadOnly, d.RecoveryModel = true, "FULL" }, hcl.DiagError, "Database is read-only", "SET READ_WRITE"},
		{"single user", func(d *DatabaseState, _ *Observed) { d.UserAccess = "SINGLE_USER" }, hcl.DiagError, "Database is not multi-user", "is SINGLE_USER"},
		{"restricted user", func(d *DatabaseState, _ *Observed) { d.UserAccess = "RESTRICTED_USER" }, hcl.DiagError, "Database is not multi-user", "SET MULTI_USER"},
		{"auto close", func(d *DatabaseState, _ *Observed) { d.AutoClose = true }, hcl.DiagError, "Database has AUTO_CLOSE on", "SET AUTO_CLOSE OFF"},
		{"in a group", func(d *DatabaseState, _ *Observed) { d.InGroup, d.Group = true, "ag]1" }, hcl.DiagError, "Database is already in an availability group", "availability group [ag]]1]"},
		{"in the group the configuration puts it in", func(d *DatabaseState, o *Observed) {
			d.InGroup, d.Group, o.declaredGroups = true, "AG_Sales", map[string]map[string]bool{"sales": {"ag_sales": true}}
		}, 0, "", ""},
		{"in another group than the configured one", func(d *DatabaseState, o *Observed) {
			d.InGroup, d.Group, o.declaredGroups = true, "ag1", map[string]map[string]bool{"sales": {"ag_sales": true}}
		}, hcl.DiagError, "Database is already in an availability group", "availability group [ag1]"},
		{"on a secondary", func(d *DatabaseState, _ *Observed) { d.InGroup, d.Group, d.Secondary = true, "ag1", true },
			hcl.DiagError, "Database is already in an availability group", "never takes a normal full backup on a secondary"},
		{"mirrored", func(d *DatabaseState, _ *Observed) { d.Mirrored = true }, hcl.DiagError, "Database is mirrored", "SET PARTNER OFF"},
		{"standby", func(d *DatabaseState, _ *Observed) { d.Standby = true }, hcl.DiagError, "Database is in standby", "WITH RECOVERY"},
		{"two log files", func(d *DatabaseState, _ *Observed) { d.LogFiles = 2 }, hcl.DiagError, "Database has more than one log file", "has 2 log files"},
		{"one log file", func(d *DatabaseState, _ *Observed) { d.LogFiles = 1 }, 0, "", ""},
		{"FILESTREAM", func(_ *DatabaseState, o *Observed) { o.fgTypes = map[string][]string{"sales": {"FD"}} }, hcl.DiagError, "Database uses FILESTREAM", "FileTable"},
		{"memory-optimized, tier unknown", func(_ *DatabaseState, o *Observed) { o.fgTypes = map[string][]string{"sales": {"FX"}} },
			hcl.DiagWarning, "Database uses In-Memory OLTP", "only a Business Critical managed instance"},
		{"TDE without a tde_certificate", func(d *DatabaseState, _ *Observed) { d.Encrypted = true }, hcl.DiagWarning, "Database is TDE-protected", "Add a tde_certificate block"},
		{"TDE with one for it", func(d *DatabaseState, o *Observed) {
			d.Encrypted, o.tdeCertificates = true, map[string]bool{"sales": true}
		}, 0, "", ""},
		{"TDE with one for another", func(d *DatabaseState, o *Observed) {
			d.Encrypted, o.tdeCertificates = true, map[string]bool{"payroll": true}
		},
			hcl.DiagWarning, "Database is TDE-protected", ""},
		{"TDE with one for all", func(d *DatabaseState, o *Observed) { d.Encrypted, o.tdeAll = true, true }, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, diags := salesDiff(t, tc.mod)
			if tc.sev == 0 {
				if len(diags) != 0 {
					t.Fatalf("diagnostics %v", diags)
				}
				return
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Summary == tc.summary {
					found = d
				}
			}
			if found == nil {
				t.Fatalf("no %q in %v", tc.summary, diags)
			}
			if found.Severity != tc.sev || !strings.HasPrefix(found.Detail, "database.sales: ") || !strings.Contains(found.Detail, tc.detail) || found.Subject == nil {
				t.Errorf("diagnostic %+v", found)
			}
			if tc.sev == hcl.DiagError && (len(ch.Steps) != 0 || ch.Address != "") {
				t.Errorf("an ineligible database still planned %+v", ch)
			}
			if tc.sev == hcl.DiagWarning && len(ch.Steps) == 0 {
				t.Errorf("a warning stopped the plan: %+v", ch)
			}
		})
	}
}

// The managed instance's tier and collation decide once known (the
// managed_instance target sets LinkTargetFor).
func TestDatabaseEligibilityByLinkTarget(t *testing.T) {
	defer func(f func(resources.DiffRequest, *Database) (LinkTarget, bool)) { LinkTargetFor = f }(LinkTargetFor)
	for _, tc := range []struct {
		name      string
		target    LinkTarget
		collation string
		fg        string
		sev       hcl.DiagnosticSeverity
		summary   string
	}{
		{"memory-optimized on General Purpose", LinkTarget{ServiceTier: "GeneralPurpose"}, "", "FX", hcl.DiagError, "Database uses In-Memory OLTP"},
		{"memory-optimized on Business Critical", LinkTarget{ServiceTier: "BusinessCritical"}, "", "FX", 0, ""},
		{"same collation", LinkTarget{Collation: "SQL_Latin1_General_CP1_CI_AS"}, "sql_latin1_general_cp1_ci_as", "", 0, ""},
		{"other collation", LinkTarget{Collation: "Latin1_General_100_CI_AS_SC_UTF8"}, "SQL_Latin1_General_CP1_CI_AS", "", hcl.DiagWarning, "Collation differs from the managed instance's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			LinkTargetFor = func(_ resources.DiffRequest, db *Database) (LinkTarget, bool) {
				return tc.target, db.DatabaseName == "sales"
			}
			_, diags := salesDiff(t, func(d *DatabaseState, o *Observed) {
				d.Collation = tc.collation
				if tc.fg != "" {
					o.fgTypes = map[string][]string{"sales": {tc.fg}}
				}
			})
			if tc.sev == 0 {
				if len(diags) != 0 {
					t.Errorf("diagnostics %v", diags)
				}
				return
			}
			if len(diags) != 1 || diags[0].Severity != tc.sev || diags[0].Summary != tc.summary {
				t.Errorf("diagnostics %v", diags)
			}
		})
	}
}

type tdeCfgField struct{ Database string }
type tdeCfgList struct{ Databases []string }
type tdeCfgMethod struct{}

func (tdeCfgMethod) TDEDatabases() []string { return []string{"HR"} }

func TestTDECoverageReadsAnyConfiguration(t *testing.T) {
	res := []resources.Instance{
		{Type: KindDatabase, Config: &Database{DatabaseName: "sales"}},
		{Type: "tde_certificate", Config: &tdeCfgField{Database: "Payroll"}},
		{Type: "tde_certificate", Config: tdeCfgList{Databases: []string{"a", "b"}}},
		{Type: "tde_certificate", Config: tdeCfgMethod{}},
	}
	dbs, all := tdeCoverage(res)
	if all || len(dbs) != 4 || !dbs["payroll"] || !dbs["a"] || !dbs["b"] || !dbs["hr"] || dbs["sales"] {
		t.Errorf("coverage %v, all %v", dbs, all)
	}
	if _, all := tdeCoverage(append(res, resources.Instance{Type: "tde_certificate", Config: struct{ Name string }{"x"}})); !all {
		t.Error("a tde_certificate naming no database does not cover all")
	}
}

func TestHadrOffRefusedWhileGroupsExist(t *testing.T) {
	s := sql01()
	s.Hadr.Enabled = false
	o := convergedObserved()
	o.AvailabilityGroups = []string{"ag1", "sales]ag"}
	_, diags := diffAll(s, o, nil, "salt")
	var found *hcl.Diagnostic
	for _, d := range diags {
		if d.Summary == "Availability groups exist" {
			found = d
		}
	}
	if found == nil || found.Severity != hcl.DiagError || !strings.Contains(found.Detail, "[ag1], [sales]]ag]") || !strings.HasPrefix(found.Detail, "hadr.sql01:") {
		t.Fatalf("diagnostics %v", diags)
	}
	// Without groups, turning HADR off is planned.
	o.AvailabilityGroups = nil
	changes, diags := diffAll(s, o, nil, "salt")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	planned := false
	for _, c := range changes {
		planned = planned || c.Address == "hadr.sql01" && c.Action == resources.Update
	}
	if !planned {
		t.Errorf("HADR off not planned: %v", changes)
	}
}

func TestWindowsClientEditionRefused(t *testing.T) {
	for banner, want := range map[string]string{
		"Microsoft SQL Server 2019 (RTM-CU20) (KB5024276) - 15.0.4312.2 (X64)\n\tApr  1 2023 12:10:46\n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Windows 10 Pro 10.0 <X64> (Build 19045: ) (Hypervisor)\n": "Windows 10 Pro",
		"Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)\n\tDeveloper Edition (64-bit) on Windows 11 Enterprise 10.0 <X64> (Build 22631: )":                                                                                              "Windows 11 Enterprise",
		"Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)\n\tDeveloper Edition (64-bit) on Windows Server 2022 Standard 10.0 <X64> (Build 20348: ) (Hypervisor)":                                                                          "",
		"Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n\tDeveloper Edition (64-bit) on Linux (Ubuntu 20.04.6 LTS) <X64>":                                                                                             "",
	} {
		if got := windowsClient(banner); got != want {
			t.Errorf("windowsClient(%q) = %q, want %q", banner[strings.LastIndex(banner, " on "):], got, want)
		}
	}
	s := sql01()
	s.Host.OS = "windows"
	o := freshObserved()
	o.Platform = "windows"
	o.Banner = "Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n\tDeveloper Edition (64-bit) on Windows 10 Enterprise 10.0 <X64> (Build 19045: )"
	diags := CheckSupport(s, o)
	if len(diags) != 1 || diags[0].Summary != "A Windows client edition is not a supported host" || !strings.Contains(diags[0].Detail, "Windows 10 Enterprise") {
		t.Errorf("diagnostics %v", diags)
	}
}

func TestNoSystemdNeedsARestartCommand(t *testing.T) {
	s := sql01()
	o := freshObserved()
	o.NoSystemd = true
	diags := CheckSupport(s, o)
	if len(diags) != 1 || diags[0].Summary != "The host has no systemd: a restart command is required" || !strings.Contains(diags[0].Detail, "host.restart_command") {
		t.Errorf("diagnostics %v", diags)
	}
}

// The refresh's DBA sets are found by their columns and folded into the
// databases, by id or by name.
func TestParseDBASets(t *testing.T) {
	props := resultSet{cols: []string{"banner", "product_version"}, rows: [][]any{{"x on Linux", "15.0.4322.2"}}}
	dbs := resultSet{cols: []string{"name", "database_id", "state_desc", "user_access_desc", "is_auto_close_on", "is_in_standby", "group_database_id", "collation_name", "is_encrypted", "is_broker_enabled"},
		rows: [][]any{
			{"sales", int64(5), "ONLINE", "SINGLE_USER", true, false, nil, "SQL_Latin1_General_CP1_CI_AS", false, true},
			{"hr", int64(6), "ONLINE", "MULTI_USER", false, true, []byte{1, 2}, "Latin1_General_CI_AS", true, false},
		}}
	adr := resultSet{cols: []string{"adr_database_id", "is_accelerated_database_recovery_on"}, rows: [][]any{{int64(5), true}}}
	files := resultSet{cols: []string{"files_database_id", "log_files"}, rows: [][]any{{int64(5), int64(1)}, {int64(6), int64(3)}}}
	mirror := resultSet{cols: []string{"mirrored_database_id"}, rows: [][]any{{int64(5)}}}
	ags := resultSet{cols: []string{"availability_group", "ag_database_name", "is_primary_replica"}, rows: [][]any{{"ag2", "hr", false}, {"ag1", nil, nil}}}
	fg := resultSet{cols: []string{"filegroup_database", "filegroup_type", "filegroup_name"}, rows: [][]any{{"hr", "FX", "mem"}}}
	o, err := parseSets([]resultSet{props, dbs, adr, files, mirror, ags, fg})
	if err != nil {
		t.Fatal(err)
	}
	sales, hr := o.Databases["sales"], o.Databases["hr"]
	if sales.UserAccess != "SINGLE_USER" || !sales.AutoClose || !sales.ADR || !sales.ADRKnown || sales.LogFiles != 1 || !sales.Mirrored || sales.InGroup || !sales.Broker {
		t.Errorf("sales %+v", sales.dbaDatabaseState)
	}
	if !hr.Standby || !hr.InGroup || hr.Group != "ag2" || !hr.Secondary || hr.LogFiles != 3 || !hr.Encrypted || hr.ADRKnown || hr.Collation != "Latin1_General_CI_AS" {
		t.Errorf("hr %+v", hr.dbaDatabaseState)
	}
	if strings.Join(o.AvailabilityGroups, ",") != "ag1,ag2" {
		t.Errorf("groups %v", o.AvailabilityGroups)
	}
	if fs, mem := o.filegroups("hr"); fs || !mem {
		t.Errorf("hr filegroups %v %v", fs, mem)
	}
}

func TestDatabaseOptions(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name        string
		version     string
		adr, broker *bool
		have        func(d *DatabaseState)
		steps       []string
		reason      string
		err         string
	}{
		{"unset: left alone", "15.0.4322.2", nil, nil, func(d *DatabaseState) { d.Broker = false }, nil, "", ""},
		{"ADR on", "15.0.4322.2", &yes, nil, func(*DatabaseState) {}, []string{"ALTER DATABASE [sales] SET ACCELERATED_DATABASE_RECOVERY = ON;"}, "accelerated database recovery enabled", ""},
		{"ADR already on", "15.0.4322.2", &yes, nil, func(d *DatabaseState) { d.ADR, d.ADRKnown = true, true }, nil, "", ""},
		{"ADR on 2017", "14.0.3490.10", &yes, nil, func(*DatabaseState) {}, nil, "", "needs SQL Server 2019 or later"},
		{"ADR off on 2017 is nothing to do", "14.0.3490.10", &no, nil, func(*DatabaseState) {}, nil, "", ""},
		{"broker on", "15.0.4322.2", nil, &yes, func(*DatabaseState) {}, []string{"ALTER DATABASE [sales] SET ENABLE_BROKER WITH NO_WAIT;"}, "needs exclusive access to the database", ""},
		{"broker already on", "15.0.4322.2", nil, &yes, func(d *DatabaseState) { d.Broker = true }, nil, "", ""},
		{"broker off", "15.0.4322.2", nil, &no, func(d *DatabaseState) { d.Broker = true }, []string{"ALTER DATABASE [sales] SET DISABLE_BROKER WITH NO_WAIT;"}, "Service Broker disabled", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sql01()
			o := freshObserved()
			o.ProductVersion = tc.version
			d := o.Databases["payroll"] // FULL; only a backup to plan
			d.LogChain, d.LastFullBackup = true, backupTime
			tc.have(&d)
			o.Databases["payroll"] = d
			var db *Database
			for _, x := range s.Databases {
				if x.DatabaseName == "payroll" {
					db = x
				}
			}
			db.ADR, db.ServiceBroker = tc.adr, tc.broker
			ch, diags := databaseImpl{}.Diff(resources.DiffRequest{Config: db, Target: &Instance{s: s}, Observed: o})
			if tc.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags[0].Detail, tc.err) {
					t.Fatalf("diagnostics %v", diags)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got []string
			for _, st := range ch.Steps {
				got = append(got, strings.ReplaceAll(st.Text, "payroll", "sales"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.steps, "\n") || !strings.Contains(ch.Reason, tc.reason) {
				t.Errorf("steps %q reason %q", got, ch.Reason)
			}
			if (len(tc.steps) > 0) != (ch.Action == resources.Update) {
				t.Errorf("action %v", ch.Action)
			}
		})
	}
}

// A database in an availability group that is a replica of a distributed
// one is linked (or being unlinked): not "already in a group".
func TestDistributedMemberIsNoObstacle(t *testing.T) {
	o := &Observed{}
	o.parseDBASet(resultSet{cols: []string{"distributed_member"}, rows: [][]any{{"AG_Sales"}}})
	if !o.distributed["ag_sales"] || o.distributed["other"] {
		t.Fatalf("distributed %v", o.distributed)
	}
}
