package checks

import (
	"fmt"
	"strings"
	"time"

	"github.com/milink/milink/resources/host"
	"github.com/milink/milink/resources/sqlserver"
)

// The T-SQL of the managed instance → SQL Server direction. Every
// statement is built here, from quoted names and literals only, and each
// has a golden file (testdata/golden) that the lab runs.

// prefixPattern is Prefix as a LIKE pattern: _ is a wildcard there, so it
// is bracketed.
var prefixPattern = sqlserver.QuoteString(strings.ReplaceAll(Prefix, "_", "[_]") + "%")

// EndpointsSQL reads the instance's DATABASE_MIRRORING endpoint (there is
// at most one) with its port: one row per endpoint.
const EndpointsSQL = `SELECT e.name, e.state_desc, t.port
FROM sys.database_mirroring_endpoints AS e
JOIN sys.tcp_endpoints AS t ON t.endpoint_id = e.endpoint_id;`

// LeftoverEndpointsSQL and LeftoverCertificatesSQL find the test objects
// of earlier runs on the SQL Server, by milink's name prefix.
var (
	LeftoverEndpointsSQL    = "SELECT name FROM sys.endpoints WHERE name LIKE " + prefixPattern + ";"
	LeftoverCertificatesSQL = "SELECT name FROM master.sys.certificates WHERE name LIKE " + prefixPattern + ";"
	// LeftoverJobsSQL finds the test jobs of earlier runs on the managed
	// instance.
	LeftoverJobsSQL = "SELECT name FROM msdb.dbo.sysjobs WHERE name LIKE " + prefixPattern + ";"
)

// CreateCertificateSQL creates the test endpoint's certificate in master.
// Its private key is protected by the database master key, which the link
// needs anyway; without one SQL Server answers 15581. It expires soon
// after: it lives for one check.
func CreateCertificateSQL(name string, expiry time.Time) string {
	return fmt.Sprintf("USE [master];\nCREATE CERTIFICATE %s\n    WITH SUBJECT = %s,\n    EXPIRY_DATE = %s;",
		sqlserver.QuoteIdent(name), sqlserver.QuoteString("milink connectivity check "+name),
		sqlserver.QuoteString(expiry.UTC().Format("20060102")))
}

// CreateEndpointSQL creates the test endpoint as the procedure does:
// certificate authentication, AES, listening on port on every address.
func CreateEndpointSQL(name, cert string, port int) string {
	return fmt.Sprintf(`USE [master];
CREATE ENDPOINT %s
    STATE = STARTED
    AS TCP (LISTENER_PORT = %d, LISTENER_IP = ALL)
    FOR DATABASE_MIRRORING (
        ROLE = ALL,
        AUTHENTICATION = CERTIFICATE %s,
        ENCRYPTION = REQUIRED ALGORITHM AES
    );`, sqlserver.QuoteIdent(name), port, sqlserver.QuoteIdent(cert))
}

// DropEndpointSQL drops a test endpoint if it exists: cleanup runs after a
// create that may or may not have happened, and again after a crash.
func DropEndpointSQL(name string) string {
	return fmt.Sprintf("USE [master];\nIF EXISTS (SELECT 1 FROM sys.endpoints WHERE name = %s)\n    DROP ENDPOINT %s;",
		sqlserver.QuoteString(name), sqlserver.QuoteIdent(name))
}

// DropCertificateSQL drops a test certificate if it exists (after its
// endpoint: an endpoint's certificate cannot be dropped, 15352).
func DropCertificateSQL(name string) string {
	return fmt.Sprintf("USE [master];\nIF EXISTS (SELECT 1 FROM sys.certificates WHERE name = %s)\n    DROP CERTIFICATE %s;",
		sqlserver.QuoteString(name), sqlserver.QuoteIdent(name))
}

// TncCommand is the PowerShell of the job step, as the procedure writes
// it, with the address as a single-quoted PowerShell literal so that
// nothing in it is expanded.
func TncCommand(address string, port int) string {
	return fmt.Sprintf("tnc %s -port %d -InformationLevel Quiet", host.PSQuote(address), port)
}

// AddJobSQL creates the test job on the managed instance: one PowerShell
// step running TncCommand, its output logged to a table (@flags = 40:
// overwrite, and all output to the job history), as the procedure's
// NetHelper job. The job is not started here.
func AddJobSQL(job, address string, port int) string {
	return fmt.Sprintf(`DECLARE @jobId BINARY(16);
EXEC msdb.dbo.sp_add_job @job_name = %s,
    @enabled = 1,
    @description = %s,
    @category_name = N'[Uncategorized (Local)]',
    @job_id = @jobId OUTPUT;
EXEC msdb.dbo.sp_add_jobstep @job_id = @jobId, @step_name = N'tnc step',
    @step_id = 1,
    @os_run_priority = 0, @subsystem = N'PowerShell',
    @command = %s,
    @database_name = N'master',
    @flags = 40;
EXEC msdb.dbo.sp_update_job @job_id = @jobId, @start_step_id = 1;
EXEC msdb.dbo.sp_add_jobserver @job_id = @jobId, @server_name = N'(local)';`,
		sqlserver.QuoteString(job),
		sqlserver.QuoteString(fmt.Sprintf("milink: test managed instance to SQL Server network connectivity on port %d.", port)),
		sqlserver.QuoteString(TncCommand(address, port)))
}

// StartJobSQL starts the test job.
func StartJobSQL(job string) string {
	return "EXEC msdb.dbo.sp_start_job @job_name = " + sqlserver.QuoteString(job) + ";"
}

// JobStateSQL reads whether the job's run has finished and its step's log
// (NULL until the step wrote it): one row, or none before the agent
// picked the request up.
func JobStateSQL(job string) string {
	return fmt.Sprintf(`SELECT a.stop_execution_date, sjsl.log
FROM msdb.dbo.sysjobs AS sj
JOIN msdb.dbo.sysjobactivity AS a ON a.job_id = sj.job_id
LEFT OUTER JOIN msdb.dbo.sysjobsteps AS sjs ON sjs.job_id = sj.job_id
LEFT OUTER JOIN msdb.dbo.sysjobstepslogs AS sjsl ON sjsl.step_uid = sjs.step_uid
WHERE sj.name = %s;`, sqlserver.QuoteString(job))
}

// DeleteJobSQL deletes a test job if it exists, with its history.
func DeleteJobSQL(job string) string {
	return fmt.Sprintf("IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = %s)\n    EXEC msdb.dbo.sp_delete_job @job_name = %s;",
		sqlserver.QuoteString(job), sqlserver.QuoteString(job))
}
