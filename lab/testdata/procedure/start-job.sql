-- Run on the managed instance
EXEC msdb.dbo.sp_start_job @job_name = N'NetHelper'
