package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab/tds"
)

// The T-SQL blocks of managed-instance-link-preparation.md, verbatim.
const (
	procVersion = "-- Run on SQL Server\n-- Shows the version and CU of the SQL Server\nSELECT @@VERSION\n"

	procCreateMasterKey = "-- Run on SQL Server\n-- Create a master key\nUSE MASTER\nCREATE MASTER KEY ENCRYPTION BY PASSWORD = '<strong_password>'\n"

	procCheckMasterKey = "-- Run on SQL Server\nSELECT * FROM sys.symmetric_keys WHERE name LIKE '%DatabaseMasterKey%'\n"

	procHadr = `-- Run on SQL Server
-- Is Always On enabled on this SQL Server instance?
declare @IsHadrEnabled sql_variant = (select SERVERPROPERTY('IsHadrEnabled'))
select
    @IsHadrEnabled as IsHadrEnabled,
    case @IsHadrEnabled
        when 0 then 'The AlwaysOn availability groups is disabled.'
        when 1 then 'The AlwaysOn availability groups is enabled.'
        else 'Unknown status.'
    end as 'HadrStatus'
`

	procValidate = `-- Run on SQL Server
-- Shows the version and CU of SQL Server
SELECT @@VERSION

-- Shows if the Always On availability groups feature is enabled 
SELECT SERVERPROPERTY ('IsHadrEnabled')

-- Lists all trace flags enabled on SQL Server
DBCC TRACESTATUS
`

	procTestEndpoint = `-- Run on SQL Server
-- Create the certificate needed for the test endpoint
USE MASTER
CREATE CERTIFICATE TEST_CERT
WITH SUBJECT = N'Certificate for SQL Server',
EXPIRY_DATE = N'3/30/2051'
GO

-- Create the test endpoint on SQL Server
USE MASTER
CREATE ENDPOINT TEST_ENDPOINT
    STATE=STARTED   
    AS TCP (LISTENER_PORT=5022, LISTENER_IP = ALL)
    FOR DATABASE_MIRRORING (
        ROLE=ALL,
        AUTHENTICATION = CERTIFICATE TEST_CERT, 
        ENCRYPTION = REQUIRED ALGORITHM AES
    )
`

	procNetHelper = `-- Run on the managed instance
-- SQL_SERVER_ADDRESS should be a public IP address, or the DNS name that can be resolved from the SQL Managed Instance host machine.
DECLARE @SQLServerIpAddress NVARCHAR(MAX) = '<SQL_SERVER_ADDRESS>'
DECLARE @tncCommand NVARCHAR(MAX) = 'tnc ' + @SQLServerIpAddress + ' -port 5022 -InformationLevel Quiet'
DECLARE @jobId BINARY(16)

EXEC msdb.dbo.sp_add_job @job_name=N'NetHelper', 
    @enabled=1, 
    @description=N'Test Managed Instance to SQL Server network connectivity on port 5022.', 
    @category_name=N'[Uncategorized (Local)]', 
    @owner_login_name=N'cloudSA', @job_id = @jobId OUTPUT

EXEC msdb.dbo.sp_add_jobstep @job_id=@jobId, @step_name=N'tnc step', 
    @step_id=1, 
    @os_run_priority=0, @subsystem=N'PowerShell', 
    @command = @tncCommand, 
    @database_name=N'master', 
    @flags=40

EXEC msdb.dbo.sp_update_job @job_id = @jobId, @start_step_id = 1

EXEC msdb.dbo.sp_add_jobserver @job_id = @jobId, @server_name = N'(local)'

EXEC msdb.dbo.sp_start_job @job_name = N'NetHelper'
`

	procStartJob = "-- Run on the managed instance\nEXEC msdb.dbo.sp_start_job @job_name = N'NetHelper'\n"

	procJobLog = `-- Run on the managed instance
SELECT 
    sj.name JobName, sjs.step_id, sjs.step_name, sjsl.log, sjsl.date_modified
FROM
    msdb.dbo.sysjobs sj
    LEFT OUTER JOIN msdb.dbo.sysjobsteps sjs
    ON sj.job_id = sjs.job_id
    LEFT OUTER JOIN msdb.dbo.sysjobstepslogs sjsl
    ON sjs.step_uid = sjsl.step_uid
WHERE
    sj.name = 'NetHelper'
`

	procDropTest = `-- Run on SQL Server
DROP ENDPOINT TEST_ENDPOINT
GO
DROP CERTIFICATE TEST_CERT
GO
`
)

func TestProcedureSQLServerBlocks(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)

	r := mustRun(t, s, procVersion)
	if b := r.col(t, 0, "")[0].(string); !strings.HasPrefix(b, "Microsoft SQL Server 2019 (RTM-CU22)") || !strings.Contains(b, "\n\t") {
		t.Errorf("@@VERSION = %q", b)
	}

	// The placeholder is not a strong password: SQL Server refuses it.
	r = run(t, s, procCreateMasterKey)
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15118 {
		t.Errorf("weak password: errors %v", got)
	}
	mustRun(t, s, strings.Replace(procCreateMasterKey, "<strong_password>", "C0mpl3x!Pass", 1))
	r = run(t, s, strings.Replace(procCreateMasterKey, "<strong_password>", "C0mpl3x!Pass", 1))
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15578 || r.errs[0].Class != 16 {
		t.Errorf("second master key: %+v", r.errs)
	}
	r = mustRun(t, s, procCheckMasterKey)
	if names := r.col(t, 0, "name"); len(names) != 1 || names[0] != "##MS_DatabaseMasterKey##" {
		t.Errorf("symmetric keys = %v", names)
	}
	if id := r.col(t, 0, "symmetric_key_id"); id[0] != 101 {
		t.Errorf("key id = %v", id)
	}

	r = mustRun(t, s, procHadr)
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
	r = mustRun(t, s, procHadr)
	if v := r.col(t, 0, "HadrStatus")[0]; v != "The AlwaysOn availability groups is enabled." {
		t.Errorf("HadrStatus = %v", v)
	}
	r = mustRun(t, s, procValidate)
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
	mustRun(t, s, procTestEndpoint)
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
	r = run(t, s, procTestEndpoint)
	if got := r.errNumbers(); len(got) != 2 || got[0] != 15232 || got[1] != 7862 {
		t.Errorf("second run errors = %v", got)
	}
	r = run(t, s, "DROP CERTIFICATE TEST_CERT")
	if got := r.errNumbers(); len(got) != 1 || got[0] != 15352 {
		t.Errorf("drop cert in use: %v", got)
	}
	mustRun(t, s, procDropTest)
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
	script := strings.Replace(procNetHelper, "<SQL_SERVER_ADDRESS>", "10.0.0.4", 1)
	r := mustRun(t, s, script)
	if txt := strings.Join(r.infoTexts(), "|"); !strings.Contains(txt, "Job 'NetHelper' started successfully.") {
		t.Errorf("infos = %v", txt)
	}
	waitJob(t, s)
	r = mustRun(t, s, procJobLog)
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
	mustRun(t, s, procStartJob)
	waitJob(t, s)
	r = mustRun(t, s, procJobLog)
	if v := strings.TrimSpace(r.sets[0].rows[0][3].(string)); v != "False" {
		t.Errorf("log = %q", v)
	}
	mustRun(t, s, "EXEC msdb.dbo.sp_delete_job @job_name = N'NetHelper'")
	r = mustRun(t, s, procJobLog)
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
	mustRun(t, s, strings.Replace(procNetHelper, "<SQL_SERVER_ADDRESS>", "10.0.0.4", 1))
	waitJob(t, s)
	r := mustRun(t, s, procJobLog)
	if v := r.sets[0].rows[0][3].(string); !strings.Contains(v, "PowerShell subsystem failed to load") {
		t.Errorf("log = %q", v)
	}
	if len(l.host.dials) != 0 {
		t.Errorf("dialled on Linux: %v", l.host.dials)
	}
}
