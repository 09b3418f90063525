USE [master];
CREATE CERTIFICATE [milink_check_0123456789ab]
    WITH SUBJECT = N'milink connectivity check milink_check_0123456789ab',
    EXPIRY_DATE = N'20300102';
