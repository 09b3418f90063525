USE [master];
CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '20271130';
