BACKUP DATABASE [payroll] TO DISK = N'/var/opt/mssql/backup/payroll_20260301T120000Z.bak' WITH CHECKSUM, COMPRESSION, STATS = 10;
SET NOCOUNT ON;
SELECT d.name, d.database_id, d.recovery_model_desc, d.state_desc, d.is_read_only, rs.last_log_backup_lsn
FROM sys.databases AS d LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
WHERE d.name = N'payroll';
SELECT database_name, MAX(backup_finish_date) AS last_full_backup
FROM msdb.dbo.backupset WHERE type = 'D' AND is_copy_only = 0 AND database_name = N'payroll'
GROUP BY database_name;
