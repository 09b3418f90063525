SELECT N'D:\Backup' AS backup_directory;
EXEC master.dbo.xp_fileexist N'D:\Backup';
SELECT N'D:\' AS backup_directory;
EXEC master.dbo.xp_fileexist N'D:\';
SELECT N'\\nas\sql backups\it''s' AS backup_directory;
EXEC master.dbo.xp_fileexist N'\\nas\sql backups\it''s';
