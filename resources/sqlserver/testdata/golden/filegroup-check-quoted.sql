IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'it''s ]odd' AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')
    EXEC (N'SELECT N''it''''s ]odd'' AS filegroup_database, type AS filegroup_type, name AS filegroup_name FROM [it''s ]]odd].sys.filegroups WHERE type IN (''FD'', ''FX'');');
IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'sales' AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')
    EXEC (N'SELECT N''sales'' AS filegroup_database, type AS filegroup_type, name AS filegroup_name FROM [sales].sys.filegroups WHERE type IN (''FD'', ''FX'');');
