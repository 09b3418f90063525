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
SELECT d.name, d.database_id, d.recovery_model_desc, d.state_desc, d.is_read_only, rs.last_log_backup_lsn,
    d.user_access_desc, d.is_auto_close_on, d.is_in_standby, d.group_database_id, d.collation_name, d.is_encrypted, d.is_broker_enabled
FROM sys.databases AS d LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
ORDER BY d.database_id;
IF CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 15
    EXEC (N'SELECT database_id AS adr_database_id, is_accelerated_database_recovery_on FROM sys.databases;');
SELECT database_id AS files_database_id, SUM(CASE WHEN type = 1 THEN 1 ELSE 0 END) AS log_files
FROM sys.master_files GROUP BY database_id;
SELECT database_id AS mirrored_database_id FROM sys.database_mirroring WHERE mirroring_guid IS NOT NULL;
SELECT database_name, is_copy_only, MAX(backup_finish_date) AS last_full_backup
FROM msdb.dbo.backupset WHERE type = 'D'
GROUP BY database_name, is_copy_only;
IF IS_SRVROLEMEMBER(N'sysadmin') = 1
    SELECT ag.name AS availability_group, adc.database_name AS ag_database_name, rs.is_primary_replica
    FROM sys.availability_groups AS ag
    LEFT JOIN sys.availability_databases_cluster AS adc ON adc.group_id = ag.group_id
    LEFT JOIN sys.dm_hadr_database_replica_states AS rs ON rs.group_database_id = adc.group_database_id AND rs.is_local = 1;
IF IS_SRVROLEMEMBER(N'sysadmin') = 1
    SELECT r.replica_server_name AS distributed_member
    FROM sys.availability_groups AS dag
    JOIN sys.availability_replicas AS r ON r.group_id = dag.group_id
    WHERE dag.is_distributed = 1;
IF IS_SRVROLEMEMBER(N'sysadmin') = 1
    SELECT registry_key, value_name, value_data FROM sys.dm_server_registry
    WHERE value_name LIKE N'SQLArg%' OR value_name = N'HADR_Enabled';
IF CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 14
    EXEC (N'SELECT N''/var/opt/mssql/backup'' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N''/var/opt/mssql/backup'');');
ELSE
    EXEC (N'SELECT N''/var/opt/mssql/backup'' AS backup_directory;
EXEC master.dbo.xp_fileexist N''/var/opt/mssql/backup'';');
IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'sales' AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')
    EXEC (N'SELECT N''sales'' AS filegroup_database, type AS filegroup_type, name AS filegroup_name FROM [sales].sys.filegroups WHERE type IN (''FD'', ''FX'');');
IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'inventory' AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')
    EXEC (N'SELECT N''inventory'' AS filegroup_database, type AS filegroup_type, name AS filegroup_name FROM [inventory].sys.filegroups WHERE type IN (''FD'', ''FX'');');
IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'payroll' AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')
    EXEC (N'SELECT N''payroll'' AS filegroup_database, type AS filegroup_type, name AS filegroup_name FROM [payroll].sys.filegroups WHERE type IN (''FD'', ''FX'');');
