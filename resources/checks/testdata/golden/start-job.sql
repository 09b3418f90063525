EXEC msdb.dbo.sp_start_job @job_name = N'milink_check_0123456789ab';
