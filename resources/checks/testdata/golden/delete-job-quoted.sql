IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = N'milink_check_it''s ]odd')
    EXEC msdb.dbo.sp_delete_job @job_name = N'milink_check_it''s ]odd';
