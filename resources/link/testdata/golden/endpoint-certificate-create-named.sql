USE [master];
CREATE CERTIFICATE [Cert_SQL01_PAY'ROLL_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of SQL01\PAY''ROLL', EXPIRY_DATE = '20271130';
