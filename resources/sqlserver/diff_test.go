package sqlserver

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// brief is a change reduced to what a table can state.
type brief struct {
	Address string
	Kind    string
	Action  resources.Action
	Restart resources.RestartNeed
	Steps   int
}

func briefs(chs []resources.Change) []brief {
	var out []brief
	for _, c := range chs {
		out = append(out, brief{c.Address, c.Kind, c.Action, c.Restart, len(c.Steps)})
	}
	return out
}

func mkPrior(pw string) map[string]resources.Prior {
	return map[string]resources.Prior{"master_key.sql01": {Attributes: map[string]any{"exists": true, "password": resources.Fingerprint(testSalt, pw)}}}
}

func TestDiff(t *testing.T) {
	fresh := []brief{
		{"master_key.sql01", "master_key", resources.Create, "", 1},
		{"hadr.sql01", "hadr", resources.Update, resources.NeedsRestart, 1},
		{"startup_trace_flags.sql01", "startup_trace_flags", resources.Update, resources.NeedsRestart, 1},
		// The restart and verification have addresses of their own now,
		// the target's with a suffix (resources.RestartAddr, VerifyAddr).
		{"sql_server.sql01:restart", "restart", resources.Restart, resources.NeedsRestart, 2},
		{"sql_server.sql01:verify", "verify", resources.Verify, "", 1},
		{"database.sales", "database", resources.Update, "", 2},
		{"database.inventory", "database", resources.Update, "", 1},
		{"database.payroll", "database", resources.Update, "", 1},
	}
	converged := []brief{
		{"master_key.sql01", "master_key", resources.NoOp, "", 0},
		{"hadr.sql01", "hadr", resources.NoOp, "", 0},
		{"startup_trace_flags.sql01", "startup_trace_flags", resources.NoOp, "", 0},
		{"database.sales", "database", resources.NoOp, "", 0},
		{"database.inventory", "database", resources.NoOp, "", 0},
		{"database.payroll", "database", resources.NoOp, "", 0},
	}
	tests := []struct {
		name    string
		cfg     func(*Server)
		obs     func() *Observed
		prior   map[string]resources.Prior
		want    []brief
		reasons map[int]string // index → substring of Reason
	}{
		{name: "fresh sql01", obs: freshObserved, want: fresh, reasons: map[int]string{
			0: "no database master key", 3: "restart once so that hadr.sql01 and startup_trace_flags.sql01 take effect",
			4: "HADR enabled, trace flags 1800, 9567 active", 5: "recovery model SIMPLE → FULL", 6: "the only full backup is COPY_ONLY"}},
		{name: "pending restart", obs: func() *Observed {
			o := convergedObserved()
			o.HadrRunning, o.FlagsRunning = false, nil
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{
			{"master_key.sql01", "master_key", resources.NoOp, "", 0},
			{"hadr.sql01", "hadr", resources.NoOp, resources.PendingRestart, 0},
			{"startup_trace_flags.sql01", "startup_trace_flags", resources.NoOp, resources.PendingRestart, 0},
			{"sql_server.sql01:restart", "restart", resources.Restart, resources.NeedsRestart, 2},
			{"sql_server.sql01:verify", "verify", resources.Verify, "", 1},
			converged[3], converged[4], converged[5],
		}, reasons: map[int]string{1: "configured enabled, not yet running: restart pending", 2: "1800, 9567 configured, not yet running"}},
		// Changed on purpose: restart = "never" no longer plans a no-op
		// restart change ("restart forbidden ..."); RestartChanges plans
		// none, the settings' own changes show that they wait for a
		// restart, and the views say milink leaves it to the user. The
		// running values stay as observed (checked below).
		{name: "restart never", cfg: func(s *Server) { s.Restart = "never" }, obs: freshObserved, want: []brief{
			fresh[0], fresh[1], fresh[2], fresh[5], fresh[6], fresh[7],
		}},
		{name: "converged", obs: convergedObserved, prior: mkPrior(testMKPassword), want: converged},
		{name: "drift: sales SIMPLE again", obs: func() *Observed {
			o := convergedObserved()
			d := o.Databases["sales"]
			d.RecoveryModel, d.LogChain = "SIMPLE", false
			o.Databases["sales"] = d
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], converged[1], converged[2],
			{"database.sales", "database", resources.Update, "", 2}, converged[4], converged[5]},
			reasons: map[int]string{3: "recovery model SIMPLE → FULL; a full backup after switching to FULL starts the log chain"}},
		{name: "COPY_ONLY backup does not count", obs: func() *Observed {
			o := convergedObserved()
			d := o.Databases["inventory"]
			// msdb has only a COPY_ONLY backup: no full backup that counts,
			// and no log chain started.
			d.LastFullBackup, d.LastCopyOnlyBackup, d.LogChain = time.Time{}, backupTime, false
			o.Databases["inventory"] = d
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], converged[1], converged[2], converged[3],
			{"database.inventory", "database", resources.Update, "", 1}, converged[5]},
			reasons: map[int]string{4: "the only full backup is COPY_ONLY, which starts no log chain and does not count"}},
		{name: "never backed up", obs: func() *Observed {
			o := convergedObserved()
			d := o.Databases["inventory"]
			d.LastFullBackup, d.LastCopyOnlyBackup, d.LogChain = time.Time{}, time.Time{}, false
			o.Databases["inventory"] = d
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], converged[1], converged[2], converged[3],
			{"database.inventory", "database", resources.Update, "", 1}, converged[5]},
			reasons: map[int]string{4: "never backed up in full"}},
		{name: "full backup taken in SIMPLE: no log chain", obs: func() *Observed {
			o := convergedObserved()
			d := o.Databases["payroll"]
			d.LogChain = false
			o.Databases["payroll"] = d
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], converged[1], converged[2], converged[3], converged[4],
			{"database.payroll", "database", resources.Update, "", 1}}},
		// A key milink did not create is left as is, never taken over
		// (issue 11: its password is never assumed).
		{name: "master key not created by milink", obs: convergedObserved, prior: nil, want: converged,
			reasons: map[int]string{0: "exists; not created by milink, so not managed: left as is (its password is never assumed)"}},
		// A password change adds the new password; nothing is re-encrypted.
		{name: "master key password changed", obs: convergedObserved, prior: mkPrior("the old password"), want: append([]brief{
			{"master_key.sql01", "master_key", resources.Update, "", 1}}, converged[1:]...),
			reasons: map[int]string{0: "password changed: the new password is added to those that open the master key (ADD ENCRYPTION BY PASSWORD); nothing is re-encrypted, and the old password still opens it until you drop it"}},
		{name: "master key regenerated on request", cfg: func(s *Server) { s.MasterKey.Regenerate = true }, obs: convergedObserved, prior: mkPrior("the old password"), want: append([]brief{
			{"master_key.sql01", "master_key", resources.Update, "", 1}}, converged[1:]...),
			reasons: map[int]string{0: "password changed, regenerate_on_password_change = true: REGENERATE decrypts and re-encrypts every key the master key protects (certificates, symmetric keys); not part of the link procedure"}},
		{name: "master key dropped outside milink", obs: func() *Observed { o := convergedObserved(); o.MasterKey = false; return o },
			prior: mkPrior(testMKPassword), want: append([]brief{{"master_key.sql01", "master_key", resources.Create, "", 1}}, converged[1:]...),
			reasons: map[int]string{0: "dropped outside milink"}},
		{name: "exclusive flags remove a running one", cfg: func(s *Server) { s.StartupTraceFlags.Exclusive = true }, obs: func() *Observed {
			o := convergedObserved()
			o.FlagsRunning, o.FlagsConfigured = []int{1800, 3226, 9567}, []int{1800, 3226, 9567}
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], converged[1],
			{"startup_trace_flags.sql01", "startup_trace_flags", resources.Update, resources.NeedsRestart, 1},
			{"sql_server.sql01:restart", "restart", resources.Restart, resources.NeedsRestart, 2},
			{"sql_server.sql01:verify", "verify", resources.Verify, "", 1},
			converged[3], converged[4], converged[5]},
			reasons: map[int]string{2: "remove startup trace flags 3226"}},
		{name: "extra flags kept when not exclusive", obs: func() *Observed {
			o := convergedObserved()
			o.FlagsRunning, o.FlagsConfigured = []int{1800, 3226, 9567}, []int{1800, 3226, 9567}
			return o
		}, prior: mkPrior(testMKPassword), want: converged},
		{name: "configured but running differs only for hadr", obs: func() *Observed {
			o := convergedObserved()
			o.HadrConfigured = false // running on, configured off: fix the file, no restart
			return o
		}, prior: mkPrior(testMKPassword), want: []brief{converged[0], {"hadr.sql01", "hadr", resources.Update, "", 1}, converged[2], converged[3], converged[4], converged[5]}},
		{name: "no managed settings", cfg: func(s *Server) { s.MasterKey, s.Hadr, s.StartupTraceFlags, s.Databases = nil, nil, nil, nil }, obs: freshObserved, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sql01()
			if tt.cfg != nil {
				tt.cfg(s)
			}
			o := tt.obs()
			chs, diags := diffAll(s, o, tt.prior, testSalt)
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			if got := briefs(chs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("changes:\n%v\nwant:\n%v", got, tt.want)
			}
			for i, want := range tt.reasons {
				if !strings.Contains(chs[i].Reason, want) {
					t.Errorf("change %d (%s) reason %q, want %q", i, chs[i].Address, chs[i].Reason, want)
				}
			}
			// Secrets never appear anywhere in a change; the fingerprint does.
			b, err := json.Marshal(chs)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "Mk-Secret") || strings.Contains(string(b), "L0gin") {
				t.Errorf("a secret leaked into the changes: %s", b)
			}
			for _, c := range chs {
				if c.Kind == KindMasterKey && !c.Notable && (!c.IsSensitive("password") || c.After["password"] != resources.Fingerprint(testSalt, testMKPassword)) {
					t.Errorf("master key change %+v: password must be a sensitive fingerprint", c)
				}
				if c.Kind == KindMasterKey && c.Notable && (c.After["password"] != nil || c.After["managed"] != false || c.Action != resources.NoOp) {
					t.Errorf("a master key milink did not create: %+v; want a no-op, unmanaged, with no password assumed", c)
				}
				if c.Target != "sql_server.sql01" {
					t.Errorf("%s: target %q", c.Address, c.Target)
				}
				if s.Restart == "never" && (c.Kind == KindHadr && c.After["enabled_running"] != false ||
					c.Kind == KindTraceFlags && !reflect.DeepEqual(c.After["running"], []any{})) {
					t.Errorf("restart = never: %s plans running values %v it will not reach", c.Address, c.After)
				}
			}
			// Pure: observing twice gives the same plan.
			again, _ := diffAll(s, tt.obs(), tt.prior, testSalt)
			if !reflect.DeepEqual(briefs(again), briefs(chs)) {
				t.Error("Diff is not deterministic")
			}
		})
	}
}

func TestDiffDatabaseDiagnostics(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*Server, *Observed)
		severity hcl.DiagnosticSeverity
		detail   string
	}{
		{"missing database", func(s *Server, o *Observed) { s.Databases[0].DatabaseName = "saels" },
			hcl.DiagError, "database.sales: there is no database [saels] on sql_server.sql01 (127.0.0.2:1433). Databases there: inventory, payroll, sales."},
		{"offline", func(s *Server, o *Observed) {
			d := o.Databases["sales"]
			d.State = "OFFLINE"
			o.Databases["sales"] = d
		},
			hcl.DiagError, "database [sales] is OFFLINE"},
		{"read-only in SIMPLE", func(s *Server, o *Observed) {
			d := o.Databases["sales"]
			d.ReadOnly = true
			o.Databases["sales"] = d
		},
			hcl.DiagError, "read-only"},
		{"no backup block", func(s *Server, o *Observed) { s.Databases[0].Backup = nil },
			hcl.DiagWarning, "add a backup block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, o := sql01(), freshObserved()
			tt.mutate(s, o)
			chs, diags := diffAll(s, o, nil, testSalt)
			if len(diags) != 1 || diags[0].Severity != tt.severity || !strings.Contains(diags[0].Detail, tt.detail) {
				t.Fatalf("diagnostics %v, want one with %q", diags, tt.detail)
			}
			if *diags[0].Subject != s.Databases[0].DeclRange {
				t.Errorf("subject %v, want the database block", diags[0].Subject)
			}
			found := false
			for _, c := range chs {
				found = found || c.Address == "database.sales"
			}
			if found != (tt.severity == hcl.DiagWarning) {
				t.Errorf("database.sales change present = %v", found)
			}
		})
	}
}

func TestDiffCaseInsensitiveName(t *testing.T) {
	s, o := sql01(), freshObserved()
	s.Databases[0].DatabaseName = "SALES"
	chs, diags := diffAll(s, o, nil, testSalt)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	last := chs[5]
	if last.Address != "database.sales" || last.Steps[0].Text != "ALTER DATABASE [sales] SET RECOVERY FULL;" {
		t.Errorf("got %+v", last)
	}
}

func TestDiffAttributes(t *testing.T) {
	s, o := sql01(), freshObserved()
	chs, _ := diffAll(s, o, nil, testSalt)
	byAddr := map[string]resources.Change{}
	for _, c := range chs {
		if c.Kind != KindVerify {
			byAddr[c.Address] = c
		}
	}
	check := func(addr string, before, after map[string]any, unknown ...string) {
		t.Helper()
		c := byAddr[addr]
		if !reflect.DeepEqual(c.Before, before) || !reflect.DeepEqual(c.After, after) || !reflect.DeepEqual(c.Unknown, unknown) {
			t.Errorf("%s:\nbefore %v\nafter  %v (unknown %q)\nwant\nbefore %v\nafter  %v (unknown %q)", addr, c.Before, c.After, c.Unknown, before, after, unknown)
		}
	}
	check("master_key.sql01", map[string]any{"exists": false, "password": ""}, map[string]any{"exists": true, "password": resources.Fingerprint(testSalt, testMKPassword)})
	check("hadr.sql01", map[string]any{"enabled_running": false, "enabled_configured": false}, map[string]any{"enabled_running": true, "enabled_configured": true})
	check("startup_trace_flags.sql01", map[string]any{"running": []any{}, "configured": []any{}}, map[string]any{"running": []any{1800, 9567}, "configured": []any{1800, 9567}})
	// Changed on purpose: what the backup decides is no longer a
	// "(known after apply)" string in After; the attributes are absent
	// from After and named in Unknown.
	check("database.sales", map[string]any{"name": "sales", "recovery_model": "SIMPLE", "last_full_backup": ""},
		map[string]any{"name": "sales", "recovery_model": "FULL"}, "backup_file", "last_full_backup")
	check("database.payroll", map[string]any{"name": "payroll", "recovery_model": "FULL", "last_full_backup": ""},
		map[string]any{"name": "payroll", "recovery_model": "FULL"}, "backup_file", "last_full_backup")

	// The plan shows the exact statements and commands (secrets redacted).
	var text []string
	for _, c := range chs {
		for _, st := range c.Steps {
			text = append(text, "# "+c.Address+" ("+st.Kind+" on "+st.On+")\n"+st.Text)
		}
	}
	golden(t, "plan-fresh-sql01.txt", strings.Join(text, "\n")+"\n")

	// Without mssql-conf the plan shows the file edit; on Windows, the scripts.
	o.ConfTool = false
	chs, _ = diffAll(s, o, nil, testSalt)
	if st := chs[1].Steps[0]; st.Kind != "file" || st.Text != "edit /var/opt/mssql/mssql.conf: [hadr] hadrenabled = 1" {
		t.Errorf("hadr step without the tool: %+v", st)
	}
	s.Host.OS, s.Host.RestartCommand = "windows", nil
	chs, _ = diffAll(s, o, nil, testSalt)
	if st := chs[2].Steps[0]; !strings.Contains(st.Text, `New-ItemProperty -LiteralPath $params -Name "SQLArg$next" -Value "-T$flag"`) {
		t.Errorf("windows trace flag step: %s", st.Text)
	}
	if st := chs[3].Steps[0]; !strings.Contains(st.Text, "Restart-Service -InputObject $svc -Force") {
		t.Errorf("windows restart step: %s", st.Text)
	}
	if st := chs[5].Steps[1]; !strings.Contains(st.Text, `N'/var/opt/mssql/backup\sales_<UTC yyyymmddThhmmssZ>.bak'`) {
		t.Errorf("windows backup path: %s", st.Text)
	}
}
