package render

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldenfile "github.com/milink/milink/internal/golden"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

const salt = "0123456789abcdef"

// labFirstPlan is the plan a fresh lab gives for examples/lab: the master
// key is created, HADR and the trace flags are configured, sql01 is
// restarted once and verified, and the three databases are made ready.
func labFirstPlan() *plan.Plan {
	mk := resources.Fingerprint(salt, "S3cret-Lab-Passw0rd")
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		MilinkVersion: "0.1.0",
		CreatedAt:     time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Lineage:       "6f1c2d3e-0000-4000-8000-000000000001",
		Serial:        0,
		ConfigHash:    "sha256:abc123",
		Targets: []plan.Target{{TargetSummary: resources.TargetSummary{
			Address: "sql_server.sql01",
			Type:    "sql_server",
			Name:    "sql01",
			Where:   "127.0.0.2:1433",
			Banner:  "Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)",
			Facts:   map[string]string{"product_version": "15.0.4322.2", "edition": "Developer Edition (64-bit)", "platform": "linux"},
			Support: "supported: 2019 CU20 or later (current matrix)",
		}}},
		Changes: []resources.Change{
			{
				Address: "sql_server.sql01", Kind: "sql_server", Target: "sql_server.sql01", Action: resources.NoOp,
				Before: map[string]any{"version": "15.0.4322.2"}, After: map[string]any{"version": "15.0.4322.2"},
			},
			{
				Address: "master_key.main", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Create,
				After:     map[string]any{"database": "master", "password": mk},
				Sensitive: []string{"password"},
				Steps: []resources.Step{{Kind: "tsql", On: "sql_server.sql01",
					Text: "USE [master];\nCREATE MASTER KEY ENCRYPTION BY PASSWORD = N'(sensitive)';"}},
			},
			{
				Address: "hadr.sql01", Kind: "hadr", Target: "sql_server.sql01", Action: resources.Update,
				Before:  map[string]any{"enabled": false},
				After:   map[string]any{"enabled": true},
				Restart: resources.NeedsRestart,
				Steps: []resources.Step{{Kind: "command", On: "host:sql_server.sql01",
					Text: "/opt/mssql/bin/mssql-conf set hadr.hadrenabled 1"}},
			},
			{
				Address: "startup_trace_flags.sql01", Kind: "startup_trace_flags", Target: "sql_server.sql01", Action: resources.Update,
				Before:  map[string]any{"flags": []any{}},
				After:   map[string]any{"flags": []any{1800, 9567}},
				Restart: resources.NeedsRestart,
				Steps: []resources.Step{{Kind: "command", On: "host:sql_server.sql01",
					Text: "/opt/mssql/bin/mssql-conf traceflag 1800 9567 on"}},
			},
			{
				Address: "sql_server.sql01:restart", Kind: "restart", Target: "sql_server.sql01", Action: resources.Restart,
				Steps: []resources.Step{
					{Kind: "command", On: "host:sql_server.sql01", Text: "systemctl restart mssql-server"},
					{Kind: "wait", On: "sql_server.sql01", Text: "until a login succeeds (timeout 5m0s)"},
				},
			},
			{
				Address: "sql_server.sql01:verify", Kind: "verify", Target: "sql_server.sql01", Action: resources.Verify,
				After: map[string]any{"hadr_enabled": true, "trace_flags": []any{1800, 9567}},
				Steps: []resources.Step{{Kind: "tsql", On: "sql_server.sql01",
					Text: "SELECT SERVERPROPERTY('IsHadrEnabled');\nDBCC TRACESTATUS(-1);"}},
			},
			{
				Address: "database.sales", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
				Before: map[string]any{"name": "sales", "recovery_model": "SIMPLE", "last_full_backup": nil},
				After:  map[string]any{"name": "sales", "recovery_model": "FULL", "last_full_backup": "(after apply)"},
				Reason: "recovery model SIMPLE → FULL; no full backup",
				Steps: []resources.Step{
					{Kind: "tsql", On: "sql_server.sql01", Text: "ALTER DATABASE [sales] SET RECOVERY FULL;"},
					{Kind: "tsql", On: "sql_server.sql01", Text: "BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/sales.bak' WITH COMPRESSION, CHECKSUM, STATS = 10;"},
				},
			},
			{
				Address: "database.inventory", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
				Before: map[string]any{"name": "inventory", "recovery_model": "FULL", "last_full_backup": nil},
				After:  map[string]any{"name": "inventory", "recovery_model": "FULL", "last_full_backup": "(after apply)"},
				Reason: "the only full backup is COPY_ONLY, which does not count",
				Steps: []resources.Step{
					{Kind: "tsql", On: "sql_server.sql01", Text: "BACKUP DATABASE [inventory] TO DISK = N'/var/opt/mssql/backup/inventory.bak' WITH COMPRESSION, CHECKSUM, STATS = 10;"},
				},
			},
			{
				Address: "database.payroll", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
				Before: map[string]any{"name": "payroll", "recovery_model": "SIMPLE", "last_full_backup": nil},
				After:  map[string]any{"name": "payroll", "recovery_model": "FULL", "last_full_backup": "(after apply)"},
				Steps: []resources.Step{
					{Kind: "tsql", On: "sql_server.sql01", Text: "ALTER DATABASE [payroll] SET RECOVERY FULL;"},
					{Kind: "tsql", On: "sql_server.sql01", Text: "BACKUP DATABASE [payroll] TO DISK = N'/var/opt/mssql/backup/payroll.bak' WITH COMPRESSION, CHECKSUM, STATS = 10;"},
				},
			},
		},
	}
}

func noChangesPlan() *plan.Plan {
	p := labFirstPlan()
	var keep []resources.Change
	for _, c := range p.Changes {
		if c.Action == resources.Create || c.Action == resources.Update {
			c.Action = resources.NoOp
			c.Before = c.After
			c.Restart = ""
			keep = append(keep, c)
		}
	}
	p.Changes = keep
	return p
}

// pendingPlan: restart = "never" on a server whose settings were configured
// by an earlier apply: nothing to change, but the restart is still due.
func pendingPlan() *plan.Plan {
	p := noChangesPlan()
	for i := range p.Changes {
		if p.Changes[i].Kind == "hadr" || p.Changes[i].Kind == "startup_trace_flags" {
			p.Changes[i].Restart = resources.PendingRestart
		}
	}
	p.Changes = append(p.Changes, resources.Change{
		Address: "master_key.old", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Forget,
		Before: map[string]any{"database": "master"}, Reason: "its block was removed; master keys are never deleted implicitly",
	})
	return p
}

func driftPlan() *plan.Plan {
	p := noChangesPlan()
	p.RefreshOnly = true
	p.Drift = []resources.Change{
		{
			Address: "database.sales", Kind: "database", Target: "sql_server.sql01", Action: resources.Update,
			Before: map[string]any{"name": "sales", "recovery_model": "FULL", "last_full_backup": "2024-05-01T10:02:00Z"},
			After:  map[string]any{"name": "sales", "recovery_model": "SIMPLE", "last_full_backup": "2024-05-01T10:02:00Z"},
		},
		{
			Address: "startup_trace_flags.sql01", Kind: "startup_trace_flags", Target: "sql_server.sql01", Action: resources.Update,
			Before: map[string]any{"flags": []any{1800.0, 9567.0}},
			After:  map[string]any{"flags": []any{1800.0}},
			Reason: "9567 removed from mssql.conf",
		},
		{Address: "master_key.main", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Delete,
			Before: map[string]any{"database": "master", "password": resources.Fingerprint(salt, "x")}, Sensitive: []string{"password"}},
		{Address: "hadr.sql01", Kind: "hadr", Target: "sql_server.sql01", Action: resources.NoOp},
	}
	return p
}

// golden compares got with testdata/name.golden (go test -update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name+".golden"), got)
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		view func(*bytes.Buffer)
	}{
		{"plan", func(b *bytes.Buffer) { Plan(b, labFirstPlan(), Options{}) }},
		{"plan_verbose", func(b *bytes.Buffer) { Plan(b, labFirstPlan(), Options{Verbose: true, Width: 60}) }},
		{"plan_color", func(b *bytes.Buffer) { Plan(b, labFirstPlan(), Options{Color: true}) }},
		{"no_changes", func(b *bytes.Buffer) { Plan(b, noChangesPlan(), Options{}) }},
		{"pending", func(b *bytes.Buffer) { Plan(b, pendingPlan(), Options{}) }},
		{"drift", func(b *bytes.Buffer) { Drift(b, driftPlan(), Options{}) }},
		{"drift_verbose", func(b *bytes.Buffer) { Drift(b, driftPlan(), Options{Verbose: true}) }},
		{"drift_none", func(b *bytes.Buffer) { Drift(b, noChangesPlan(), Options{}) }},
		{"plan_json", func(b *bytes.Buffer) {
			if err := JSON(b, labFirstPlan()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.view(&b)
			golden(t, tt.name, b.Bytes())
		})
	}
}

func TestPlanText(t *testing.T) {
	var b bytes.Buffer
	Plan(&b, labFirstPlan(), Options{})
	out := b.String()
	for _, want := range []string{
		"sql_server.sql01 at 127.0.0.2:1433\n",
		"  Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n  supported:",
		"# master_key.main will be created",
		"+ password = (sensitive)",
		"# hadr.sql01 will be updated in-place (takes effect at the restart)",
		"~ enabled = false -> true",
		"~ flags = [] -> [1800, 9567]",
		"↻ sql_server.sql01 will be restarted once, for hadr.sql01, startup_trace_flags.sql01\n",
		"# sql_server.sql01 will be verified",
		`~ recovery_model   = "SIMPLE" -> "FULL"`,
		"# (1 unchanged attribute hidden)",
		"Plan: 1 to add, 5 to change, 0 to destroy, 1 restart.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("escape codes with Color off")
	}
	if strings.Contains(out, "Jul 27 2023") {
		t.Error("banner printed beyond its first line")
	}
	if strings.Contains(out, "T-SQL on") {
		t.Error("steps printed without Verbose")
	}
	// No-op changes are not shown.
	if strings.Contains(out, "sql_server.sql01 needs no change") {
		t.Error("no-op shown")
	}
	// Order: the restart after hadr and flags, before the databases.
	if r := strings.Index(out, "↻ sql_server"); !(strings.Index(out, "hadr.sql01 will") < r && r < strings.Index(out, "database.sales will")) {
		t.Error("changes not in plan order")
	}
}

func TestPlanColor(t *testing.T) {
	var b bytes.Buffer
	Plan(&b, labFirstPlan(), Options{Color: true})
	out := b.String()
	for _, want := range []string{
		ansiGreen + "+" + ansiReset,
		ansiYellow + "~" + ansiReset,
		ansiCyan + "↻" + ansiReset,
		ansiBold + "Plan:" + ansiReset,
		ansiBold + "sql_server.sql01 at",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured output lacks %q", want)
		}
	}
	var d bytes.Buffer
	Drift(&d, driftPlan(), Options{Color: true})
	if !strings.Contains(d.String(), ansiRed+"-"+ansiReset) {
		t.Error("deleted drift not red")
	}
}

func TestSummaryLine(t *testing.T) {
	tests := []struct {
		changes []resources.Action
		want    string
	}{
		{[]resources.Action{resources.Create, resources.Restart}, "Plan: 1 to add, 0 to change, 0 to destroy, 1 restart.\n"},
		{[]resources.Action{resources.Update}, "Plan: 0 to add, 1 to change, 0 to destroy, 0 restarts.\n"},
		{[]resources.Action{resources.Restart, resources.Restart, resources.Delete}, "Plan: 0 to add, 0 to change, 1 to destroy, 2 restarts.\n"},
		{[]resources.Action{resources.Forget}, "Plan: 0 to add, 0 to change, 0 to destroy, 0 restarts, 1 leaves management.\n"},
		{[]resources.Action{resources.Forget, resources.Forget}, "Plan: 0 to add, 0 to change, 0 to destroy, 0 restarts, 2 leave management.\n"},
	}
	for _, tt := range tests {
		p := &plan.Plan{}
		for i, a := range tt.changes {
			p.Changes = append(p.Changes, resources.Change{Address: "x.a" + string(rune('0'+i)), Action: a})
		}
		var b bytes.Buffer
		Plan(&b, p, Options{})
		if !strings.HasSuffix(b.String(), tt.want) {
			t.Errorf("%v: output ends\n%q\nwant %q", tt.changes, b.String(), tt.want)
		}
	}
}

func TestNoChanges(t *testing.T) {
	var b bytes.Buffer
	Plan(&b, &plan.Plan{}, Options{})
	if b.String() != "No changes. The environment matches the configuration.\n" {
		t.Errorf("got %q", b.String())
	}
}

// A misbehaving driver puts the secret itself in Before/After of an
// attribute it marks sensitive (and in a step): no view prints it.
func TestSensitiveNeverPrinted(t *testing.T) {
	const secret = "Hunter2-TopSecret"
	fp := resources.Fingerprint(salt, secret)
	p := labFirstPlan()
	p.Changes = append(p.Changes,
		resources.Change{
			Address: "master_key.leaky", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Update,
			Before:    map[string]any{"password": secret + "-old", "database": "master"},
			After:     map[string]any{"password": secret, "database": "master"},
			Sensitive: []string{"password"},
			Steps:     []resources.Step{{Kind: "tsql", Text: "ALTER MASTER KEY REGENERATE WITH ENCRYPTION BY PASSWORD = N'" + secret + "';"}},
		},
		resources.Change{
			Address: "master_key.created", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Create,
			After: map[string]any{"password": secret}, Sensitive: []string{"password"},
		},
		resources.Change{
			Address: "master_key.gone", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Delete,
			Before: map[string]any{"password": secret}, Sensitive: []string{"password"},
		},
		// Not marked sensitive, but a fingerprint: hidden all the same.
		resources.Change{
			Address: "master_key.unmarked", Kind: "master_key", Target: "sql_server.sql01", Action: resources.Update,
			Before: map[string]any{"password_fp": nil}, After: map[string]any{"password_fp": fp},
			Steps: []resources.Step{{Kind: "tsql", Text: "-- " + fp}},
		},
	)
	p.Drift = append(p.Drift, p.Changes[len(p.Changes)-4])
	views := map[string]func(*bytes.Buffer){
		"plan":          func(b *bytes.Buffer) { Plan(b, p, Options{}) },
		"plan verbose":  func(b *bytes.Buffer) { Plan(b, p, Options{Verbose: true, Color: true}) },
		"drift verbose": func(b *bytes.Buffer) { Drift(b, p, Options{Verbose: true}) },
		"json": func(b *bytes.Buffer) {
			if err := JSON(b, p); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, view := range views {
		var b bytes.Buffer
		view(&b)
		out := b.String()
		if strings.Contains(out, "Hunter2") {
			t.Errorf("%s prints the secret:\n%s", name, out)
		}
		if strings.Contains(out, "hmac-sha256:") {
			t.Errorf("%s prints a fingerprint:\n%s", name, out)
		}
		if name != "json" && !strings.Contains(out, resources.Redacted) {
			t.Errorf("%s does not say (sensitive)", name)
		}
	}
	var b bytes.Buffer
	Plan(&b, p, Options{Verbose: true})
	if !strings.Contains(b.String(), "~ password = (sensitive)\n") {
		t.Errorf("changed sensitive attribute not shown as changed:\n%s", b.String())
	}
}

func TestControlCharactersStripped(t *testing.T) {
	p := &plan.Plan{
		Targets: []plan.Target{{TargetSummary: resources.TargetSummary{Address: "sql_server.sql01", Banner: "evil\x1b[2J banner"}}},
		Changes: []resources.Change{{
			Address: "database.x\x1b[31m", Kind: "database", Target: "sql_server.sql01", Action: resources.Create,
			After: map[string]any{"name": "x\x1b]0;title\x07"},
			Steps: []resources.Step{{Kind: "tsql", Text: "SELECT 1;\x1b[2J\nSELECT 2;"}},
		}},
	}
	var b bytes.Buffer
	Plan(&b, p, Options{Verbose: true})
	if strings.ContainsRune(b.String(), 0x1b) || strings.ContainsRune(b.String(), 0x07) {
		t.Errorf("control characters reach the terminal: %q", b.String())
	}
	if !strings.Contains(b.String(), "SELECT 1;[2J\n      SELECT 2;") {
		t.Errorf("step text mangled: %q", b.String())
	}
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	p := driftPlan()
	p.Changes = labFirstPlan().Changes
	if err := JSON(&b, p); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	for _, k := range []string{"format_version", "milink_version", "created_at", "lineage", "serial", "config_hash", "refresh_only", "targets", "resource_changes", "resource_drift", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	if doc["format_version"] != plan.FormatVersion || doc["refresh_only"] != true {
		t.Errorf("format_version/refresh_only = %v/%v", doc["format_version"], doc["refresh_only"])
	}
	sum := doc["summary"].(map[string]any)
	want := map[string]any{"add": 1.0, "change": 5.0, "destroy": 0.0, "restart": 1.0, "forget": 0.0}
	for k, v := range want {
		if sum[k] != v {
			t.Errorf("summary.%s = %v, want %v", k, sum[k], v)
		}
	}
	changes := doc["resource_changes"].([]any)
	if len(changes) != len(p.Changes) {
		t.Fatalf("%d resource_changes, want %d (no-ops included)", len(changes), len(p.Changes))
	}
	mk := changes[1].(map[string]any)
	if mk["address"] != "master_key.main" || mk["action"] != "create" {
		t.Fatalf("second change = %v", mk)
	}
	if acts := mk["actions"].([]any); len(acts) != 1 || acts[0] != "create" {
		t.Errorf("actions = %v", acts)
	}
	if _, ok := mk["after"].(map[string]any)["password"]; ok {
		t.Error("after holds the sensitive attribute")
	}
	if mk["after"].(map[string]any)["database"] != "master" {
		t.Error("after lost a plain attribute")
	}
	if mk["after_sensitive"].(map[string]any)["password"] != true {
		t.Errorf("after_sensitive = %v", mk["after_sensitive"])
	}
	if mk["before"] != nil {
		t.Errorf("before of a create = %v, want null", mk["before"])
	}
	hadr := changes[2].(map[string]any)
	if hadr["restart"] != "needed" || len(hadr["steps"].([]any)) != 1 {
		t.Errorf("hadr change = %v", hadr)
	}
	drift := doc["resource_drift"].([]any)
	if len(drift) != 4 || drift[2].(map[string]any)["before_sensitive"].(map[string]any)["password"] != true {
		t.Errorf("resource_drift = %v", drift)
	}
}

func testState() *state.State {
	s := state.New()
	s.Set(state.Resource{
		Address: "master_key.main", Kind: "master_key", Target: "sql_server.sql01",
		Attributes: map[string]any{"database": "master", "password": resources.Fingerprint(s.Salt, "pw")},
		Sensitive:  []string{"password"},
		UpdatedAt:  time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC),
	})
	s.Set(state.Resource{
		Address: "database.sales", Kind: "database", Target: "sql_server.sql01",
		Attributes: map[string]any{"recovery_model": "FULL", "last_full_backup": "2024-05-01T10:02:00Z", "backup_size_mb": 12.0},
		UpdatedAt:  time.Date(2024, 5, 1, 10, 2, 0, 0, time.UTC),
	})
	s.Set(state.Resource{Address: "hadr.sql01", Kind: "hadr", Target: "sql_server.sql01", UpdatedAt: time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC)})
	return s
}

func TestStateViews(t *testing.T) {
	s := testState()
	var b bytes.Buffer
	StateList(&b, s)
	if b.String() != "database.sales\nhadr.sql01\nmaster_key.main\n" {
		t.Errorf("StateList = %q", b.String())
	}
	tests := []struct{ addr, want string }{
		{"master_key.main", "# master_key.main:\n#   target:     sql_server.sql01\n#   updated at: 2024-05-01T10:01:00Z\nmaster_key \"main\" {\n    database = \"master\"\n    password = (sensitive)\n}\n"},
		{"database.sales", "# database.sales:\n#   target:     sql_server.sql01\n#   updated at: 2024-05-01T10:02:00Z\ndatabase \"sales\" {\n    backup_size_mb   = 12\n    last_full_backup = \"2024-05-01T10:02:00Z\"\n    recovery_model   = \"FULL\"\n}\n"},
		{"hadr.sql01", "# hadr.sql01:\n#   target:     sql_server.sql01\n#   updated at: 2024-05-01T10:01:00Z\nhadr \"sql01\" {}\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := StateShow(&b, s, tt.addr, Options{}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("StateShow(%s) =\n%s\nwant\n%s", tt.addr, b.String(), tt.want)
		}
	}
	if err := StateShow(&b, s, "database.nope", Options{}); err == nil || !strings.Contains(err.Error(), "database.nope") {
		t.Errorf("missing address: %v", err)
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, "null"},
		{"a\"b", `"a\"b"`},
		{true, "true"},
		{1800.0, "1800"},
		{1.5, "1.5"},
		{int64(7), "7"},
		{[]any{1800, 9567.0}, "[1800, 9567]"},
		{[]string{"a"}, `["a"]`},
		{map[string]any{"b": 1.0, "a": "x"}, `{ a = "x", b = 1 }`},
		{map[string]any{}, "{}"},
		{"hmac-sha256:00ff", "(sensitive)"},
		{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), `"2024-05-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v); got != tt.want {
			t.Errorf("formatValue(%#v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestUseColor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name    string
		noColor bool
		env     *string
		f       *os.File
	}{
		{"flag", true, nil, os.Stdout},
		{"NO_COLOR empty", false, ptr(""), os.Stdout},
		{"NO_COLOR=1", false, ptr("1"), os.Stdout},
		{"regular file", false, nil, f},
		{"nil file", false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != nil {
				t.Setenv("NO_COLOR", *tt.env)
			} else {
				t.Setenv("NO_COLOR", "")
				os.Unsetenv("NO_COLOR")
			}
			if UseColor(tt.noColor, tt.f) {
				t.Error("colour on")
			}
		})
	}
}

func ptr(s string) *string { return &s }

// On a terminal (a pseudo-terminal here) colour is on unless switched off.
func TestUseColorTerminal(t *testing.T) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer f.Close()
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "")
	os.Unsetenv("NO_COLOR")
	if !UseColor(false, f) {
		t.Fatal("colour off on a terminal")
	}
	if UseColor(true, f) {
		t.Error("-no-color ignored")
	}
	t.Setenv("NO_COLOR", "")
	if UseColor(false, f) {
		t.Error("NO_COLOR (empty) ignored")
	}
	os.Unsetenv("NO_COLOR")
	t.Setenv("TERM", "dumb")
	if UseColor(false, f) {
		t.Error("TERM=dumb ignored")
	}
}
