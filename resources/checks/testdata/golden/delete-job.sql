IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = N'milink_check_0123456789ab')
    EXEC msdb.dbo.sp_delete_job @job_name = N'milink_check_0123456789ab';
