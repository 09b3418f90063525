package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab/tds"
)

// procedureSQL returns a T-SQL block of the preparation procedure, verbatim
// from ../testdata/procedure (see its README.md), with each placeholder
// replaced by the value after it:
//
//	procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", "10.0.0.4")
//
// A placeholder the block lacks fails the test: the block changed.
// scriptBatches splits a script at lines holding only GO, as sqlcmd and
// SSMS do before sending it: GO is not T-SQL and the server never sees it.
func scriptBatches(script string) []string {
	var out []string
	var cur strings.Builder
	for _, ln := range strings.SplitAfter(script, "\n") {
		if strings.EqualFold(strings.TrimSpace(ln), "go") {
			if strings.TrimSpace(cur.String()) != "" {
				out = append(out, cur.String())
			}
			cur.Reset()
			continue
		}
		cur.WriteString(ln)
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func procedureSQL(t testing.TB, name string, placeholderValue ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "procedure", name))
	if err != nil {
		t.Fatalf("procedure block: %v", err)
	}
	if len(placeholderValue)%2 != 0 {
		t.Fatalf("procedure block %s: placeholders and values do not pair up", name)
	}
	text := string(b)
	for i := 0; i < len(placeholderValue); i += 2 {
		if !strings.Contains(text, placeholderValue[i]) {
			t.Fatalf("procedure block %s has no placeholder %s", name, placeholderValue[i])
		}
		text = strings.ReplaceAll(text, placeholderValue[i], placeholderValue[i+1])
	}
	return text
}

func TestProcedureSQLServerBlocks(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)

	r := mustRun(t, s, procedureSQL(t, "version.sql"))
	if b := r.col(t, 0, "")[0].(string); !strings.HasPrefix(b, "Microsoft SQL Server 2019 (RTM-CU22)") || !strings.Contains(b, "\n\t") {
		t.Errorf("@@VERSION = %q", b)
	}

	// The placeholder is not a strong password: SQL Server refuses it.
	r = run(t, s, procedureSQL(t, "master-key.sql"))
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15118 {
		t.Errorf("weak password: errors %v", got)
	}
	createKey := procedureSQL(t, "master-key.sql", "<strong_password>", "C0mpl3x!Pass")
	mustRun(t, s, createKey)
	r = run(t, s, createKey)
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15578 || r.errs[0].Class != 16 {
		t.Errorf("second master key: %+v", r.errs)
	}
	r = mustRun(t, s, procedureSQL(t, "check-master-key.sql"))
	if names := r.col(t, 0, "name"); len(names) != 1 || names[0] != "##MS_DatabaseMasterKey##" {
		t.Errorf("symmetric keys = %v", names)
	}
	if id := r.col(t, 0, "symmetric_key_id"); id[0] != 101 {
		t.Errorf("key id = %v", id)
	}

	r = mustRun(t, s, procedureSQL(t, "hadr-check.sql"))
	if len(r.sets) != 1 {
		t.Fatalf("hadr sets = %d", len(r.sets))
	}
	if v := r.col(t, 0, "IsHadrEnabled")[0]; v != 0 {
		t.Errorf("IsHadrEnabled = %v", v)
	}
	if v := r.col(t, 0, "HadrStatus")[0]; v != "The AlwaysOn availability groups is disabled." {
		t.Errorf("HadrStatus = %v", v)
	}
	if r.sets[0].cols[0].Type != tds.Variant {
		t.Errorf("IsHadrEnabled type = %v", r.sets[0].cols[0].Type)
	}

	// Restart with HADR and the startup flags, then validate.
	l.inst.Stop()
	if err := l.inst.Start(Startup{Hadr: true, TraceFlags: []int{9567, 1800}}); err != nil {
		t.Fatal(err)
	}
	s = l.session(t)
	r = mustRun(t, s, procedureSQL(t, "hadr-check.sql"))
	if v := r.col(t, 0, "HadrStatus")[0]; v != "The AlwaysOn availability groups is enabled." {
		t.Errorf("HadrStatus = %v", v)
	}
	r = mustRun(t, s, procedureSQL(t, "validation.sql"))
	if len(r.sets) != 3 {
		t.Fatalf("validate sets = %d", len(r.sets))
	}
	if v := r.col(t, 1, "")[0]; v != 1 {
		t.Errorf("SERVERPROPERTY = %v", v)
	}
	if f := r.col(t, 2, "TraceFlag"); len(f) != 2 || f[0] != 1800 || f[1] != 9567 {
		t.Errorf("TRACESTATUS = %v", f)
	}
	if txt := r.infoTexts(); len(txt) != 1 || r.infos[0].Number != 2528 || txt[0] != dbccDone {
		t.Errorf("infos = %v", txt)
	}

	// The test endpoint, then its removal.
	testEndpoint := procedureSQL(t, "test-endpoint.sql")
	for _, b := range scriptBatches(testEndpoint) {
		mustRun(t, s, b)
	}
	if !l.host.isOpen(5022) {
		t.Error("endpoint not listening")
	}
	r = mustRun(t, s, "SELECT e.name, e.state_desc, e.role_desc, e.connection_auth_desc, e.encryption_algorithm_desc, c.name AS cert, t.port FROM sys.database_mirroring_endpoints e JOIN sys.certificates c ON c.certificate_id = e.certificate_id JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id")
	if len(r.sets[0].rows) != 1 {
		t.Fatalf("endpoint rows = %v", r.sets[0].rows)
	}
	got := r.sets[0].rows[0]
	want := []any{"TEST_ENDPOINT", "STARTED", "ALL", "CERTIFICATE", "AES", "TEST_CERT", 5022}
	for n := range want {
		if got[n] != want[n] {
			t.Errorf("endpoint col %d = %v, want %v", n, got[n], want[n])
		}
	}
	var got2 []int32
	for _, b := range scriptBatches(testEndpoint) {
		got2 = append(got2, run(t, s, b).errNumbers()...)
	}
	if got := got2; len(got) != 2 || got[0] != 15232 || got[1] != 7862 {
		t.Errorf("second run errors = %v", got)
	}
	r = run(t, s, "DROP CERTIFICATE TEST_CERT")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15352 {
		t.Errorf("drop cert in use: %v", got)
	}
	for _, b := range scriptBatches(procedureSQL(t, "drop-test-endpoint.sql")) {
		mustRun(t, s, b)
	}
	if l.host.isOpen(5022) {
		t.Error("endpoint still listening after DROP")
	}
	r = mustRun(t, s, "SELECT COUNT(*) AS n FROM sys.certificates WHERE name = 'TEST_CERT'")
	if n := r.col(t, 0, "n")[0]; n != 0 {
		t.Errorf("cert count = %v", n)
	}
}

func TestProcedureManagedInstanceBlocks(t *testing.T) {
	l := newLab(t, "managed-instance", "managed-instance")
	l.host.reach["10.0.0.4:5022"] = true
	s := l.session(t)
	r := mustRun(t, s, procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", "10.0.0.4"))
	if txt := strings.Join(r.infoTexts(), "|"); !strings.Contains(txt, "Job 'NetHelper' started successfully.") {
		t.Errorf("infos = %v", txt)
	}
	waitJob(t, s)
	jobLog := procedureSQL(t, "job-log.sql")
	r = mustRun(t, s, jobLog)
	if len(r.sets[0].rows) != 1 {
		t.Fatalf("log rows = %v", r.sets[0].rows)
	}
	row := r.sets[0].rows[0]
	if row[0] != "NetHelper" || row[1] != 1 || row[2] != "tnc step" || strings.TrimSpace(row[3].(string)) != "True" {
		t.Errorf("log row = %v", row)
	}
	if _, ok := row[4].(time.Time); !ok {
		t.Errorf("date_modified = %v", row[4])
	}
	if cols := r.sets[0].cols; cols[0].Name != "JobName" || cols[3].Name != "log" {
		t.Errorf("cols = %+v", cols)
	}

	// Unreachable now: the second run logs False (overwriting, @flags 40).
	l.host.mu.Lock()
	l.host.reach = map[string]bool{}
	l.host.mu.Unlock()
	mustRun(t, s, procedureSQL(t, "start-job.sql"))
	waitJob(t, s)
	r = mustRun(t, s, jobLog)
	if v := strings.TrimSpace(r.sets[0].rows[0][3].(string)); v != "False" {
		t.Errorf("log = %q", v)
	}
	mustRun(t, s, "EXEC msdb.dbo.sp_delete_job @job_name = N'NetHelper'")
	r = mustRun(t, s, jobLog)
	if len(r.sets[0].rows) != 0 {
		t.Errorf("rows after delete = %v", r.sets[0].rows)
	}
}

// waitJob polls sysjobactivity as the docs' wrapper does.
func waitJob(t *testing.T, s *Session) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r := mustRun(t, s, "SELECT COUNT(*) AS running FROM msdb.dbo.sysjobactivity a JOIN msdb.dbo.sysjobs j ON j.job_id = a.job_id WHERE j.name = N'NetHelper' AND a.stop_execution_date IS NULL")
		if r.col(t, 0, "running")[0] == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("job did not finish")
}

func TestAgentPowerShellOnLinuxFails(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s := l.session(t)
	mustRun(t, s, procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", "10.0.0.4"))
	waitJob(t, s)
	r := mustRun(t, s, procedureSQL(t, "job-log.sql"))
	if v := r.sets[0].rows[0][3].(string); !strings.Contains(v, "PowerShell subsystem failed to load") {
		t.Errorf("log = %q", v)
	}
	if len(l.host.dials) != 0 {
		t.Errorf("dialled on Linux: %v", l.host.dials)
	}
}

// TestAgentJobProcedures: sp_add_jobstep, sp_update_job, sp_add_jobserver
// and sp_delete_job find the job by @job_name or @job_id, refuse what SQL
// Server refuses, and change nothing when they refuse. One session, in order.
func TestAgentJobProcedures(t *testing.T) {
	l := newLab(t, "managed-instance", "managed-instance")
	s := l.session(t)
	steps := []struct {
		sql  string
		errs []int32
	}{
		{"EXEC msdb.dbo.sp_add_job @job_name = N'j1', @description = N'first'", nil},
		{"EXEC msdb.dbo.sp_update_job @job_name = N'nope', @description = N'x'", []int32{14262}},
		{"EXEC msdb.dbo.sp_update_job @description = N'x'", []int32{14294}},
		{"EXEC msdb.dbo.sp_update_job @job_id = '00000000-0000-0000-0000-000000000001', @enabled = 0", []int32{14262}},
		{"EXEC msdb.dbo.sp_add_jobstep @job_name = N'j1', @command = N'SELECT 1'", []int32{201}},
		{"EXEC msdb.dbo.sp_add_jobstep @job_name = N'j1', @step_name = N's1', @subsystem = N'Bogus'", []int32{14234}},
		{"EXEC msdb.dbo.sp_add_jobstep @job_name = N'j1', @step_name = N's1', @command = N'SELECT 1'", nil},
		{"EXEC msdb.dbo.sp_update_job @job_name = N'j1', @new_name = N'j2', @enabled = 0, @description = N'second'", nil},
		{"EXEC msdb.dbo.sp_add_jobserver @job_name = N'j2'", nil},
		{"EXEC msdb.dbo.sp_add_jobserver @job_name = N'j2', @server_name = N'other'", []int32{14269}},
		{"SELECT name, enabled, description FROM msdb.dbo.sysjobs", nil},
		{"EXEC msdb.dbo.sp_delete_job @job_name = N'j1'", []int32{14262}},
		{"EXEC msdb.dbo.sp_delete_job @job_name = N'j2'", nil},
		{"SELECT COUNT(*) AS n FROM msdb.dbo.sysjobsteps", nil},
	}
	for n, st := range steps {
		r := run(t, s, st.sql)
		if got := r.errNumbers(); fmt.Sprint(got) != fmt.Sprint(st.errs) {
			t.Errorf("step %d %q: errors %v, want %v (%+v)", n, st.sql, got, st.errs, r.errs)
		}
		switch {
		case strings.HasPrefix(st.sql, "SELECT name"):
			if got := fmt.Sprint(r.col(t, 0, "name"), r.col(t, 0, "enabled"), r.col(t, 0, "description")); got != "[j2] [0] [second]" {
				t.Errorf("sysjobs after the updates: name, enabled, description = %s", got)
			}
		case strings.HasPrefix(st.sql, "SELECT COUNT"):
			if v := r.col(t, 0, "n"); v[0] != 0 {
				t.Errorf("steps after sp_delete_job = %v", v)
			}
		}
	}
}
