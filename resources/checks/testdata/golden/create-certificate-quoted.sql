USE [master];
CREATE CERTIFICATE [milink_check_it's ]]odd]
    WITH SUBJECT = N'milink connectivity check milink_check_it''s ]odd',
    EXPIRY_DATE = N'20300102';
