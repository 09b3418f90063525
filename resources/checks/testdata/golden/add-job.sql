DECLARE @jobId BINARY(16);
EXEC msdb.dbo.sp_add_job @job_name = N'milink_check_0123456789ab',
    @enabled = 1,
    @description = N'milink: test managed instance to SQL Server network connectivity on port 5022.',
    @category_name = N'[Uncategorized (Local)]',
    @job_id = @jobId OUTPUT;
EXEC msdb.dbo.sp_add_jobstep @job_id = @jobId, @step_name = N'tnc step',
    @step_id = 1,
    @os_run_priority = 0, @subsystem = N'PowerShell',
    @command = N'tnc ''127.0.0.1'' -port 5022 -InformationLevel Quiet',
    @database_name = N'master',
    @flags = 40;
EXEC msdb.dbo.sp_update_job @job_id = @jobId, @start_step_id = 1;
EXEC msdb.dbo.sp_add_jobserver @job_id = @jobId, @server_name = N'(local)';
