USE [master];
IF EXISTS (SELECT 1 FROM sys.endpoints WHERE name = N'milink_check_it''s ]odd')
    DROP ENDPOINT [milink_check_it's ]]odd];
