SET NOCOUNT ON;
SELECT @@VERSION AS banner,
    SERVERPROPERTY('ProductVersion') AS product_version,
    SERVERPROPERTY('ProductLevel') AS product_level,
    SERVERPROPERTY('ProductUpdateLevel') AS product_update_level,
    SERVERPROPERTY('Edition') AS edition,
    SERVERPROPERTY('EngineEdition') AS engine_edition,
    SERVERPROPERTY('IsHadrEnabled') AS is_hadr_enabled,
    SERVERPROPERTY('HadrManagerStatus') AS hadr_manager_status,
    SERVERPROPERTY('IsClustered') AS is_clustered,
    SERVERPROPERTY('MachineName') AS machine_name,
    SERVERPROPERTY('ServerName') AS server_name,
    OBJECT_ID(N'master.sys.sp_certificate_add_issuer') AS azure_connect_pack,
    IS_SRVROLEMEMBER(N'sysadmin') AS is_sysadmin,
    SUSER_SNAME() AS login_name;
DBCC TRACESTATUS(-1) WITH NO_INFOMSGS;
SELECT name, symmetric_key_id, create_date FROM master.sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##';
SELECT d.name, d.database_id, d.recovery_model_desc, d.state_desc, d.is_read_only, rs.last_log_backup_lsn
FROM sys.databases AS d LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
ORDER BY d.database_id;
SELECT database_name, is_copy_only, MAX(backup_finish_date) AS last_full_backup
FROM msdb.dbo.backupset WHERE type = 'D'
GROUP BY database_name, is_copy_only;
SELECT registry_key, value_name, value_data FROM sys.dm_server_registry
WHERE value_name LIKE N'SQLArg%' OR value_name = N'HADR_Enabled';
