USE [master];
IF EXISTS (SELECT 1 FROM sys.certificates WHERE name = N'milink_check_it''s ]odd')
    DROP CERTIFICATE [milink_check_it's ]]odd];
