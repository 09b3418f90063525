USE [master];
IF EXISTS (SELECT 1 FROM sys.certificates WHERE name = N'milink_check_0123456789ab')
    DROP CERTIFICATE [milink_check_0123456789ab];
