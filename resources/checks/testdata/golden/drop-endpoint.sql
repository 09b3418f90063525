USE [master];
IF EXISTS (SELECT 1 FROM sys.endpoints WHERE name = N'milink_check_0123456789ab')
    DROP ENDPOINT [milink_check_0123456789ab];
