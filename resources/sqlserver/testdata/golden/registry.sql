SELECT registry_key, value_name, value_data FROM sys.dm_server_registry
WHERE value_name LIKE N'SQLArg%' OR value_name = N'HADR_Enabled';
