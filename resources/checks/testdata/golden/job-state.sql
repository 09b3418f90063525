SELECT a.stop_execution_date, sjsl.log
FROM msdb.dbo.sysjobs AS sj
JOIN msdb.dbo.sysjobactivity AS a ON a.job_id = sj.job_id
LEFT OUTER JOIN msdb.dbo.sysjobsteps AS sjs ON sjs.job_id = sj.job_id
LEFT OUTER JOIN msdb.dbo.sysjobstepslogs AS sjsl ON sjsl.step_uid = sjs.step_uid
WHERE sj.name = N'milink_check_0123456789ab';
