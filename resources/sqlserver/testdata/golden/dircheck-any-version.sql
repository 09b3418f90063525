IF CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 14
    EXEC (N'SELECT N''/var/opt/mssql/backup'' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N''/var/opt/mssql/backup'');
SELECT N''/var/opt/mssql/backup/'' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N''/var/opt/mssql/backup'');
SELECT N''/mnt/it''''s backups'' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N''/mnt/it''''s backups'');');
ELSE
    EXEC (N'SELECT N''/var/opt/mssql/backup'' AS backup_directory;
EXEC master.dbo.xp_fileexist N''/var/opt/mssql/backup'';
SELECT N''/var/opt/mssql/backup/'' AS backup_directory;
EXEC master.dbo.xp_fileexist N''/var/opt/mssql/backup'';
SELECT N''/mnt/it''''s backups'' AS backup_directory;
EXEC master.dbo.xp_fileexist N''/mnt/it''''s backups'';');
