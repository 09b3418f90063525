USE [master];
DROP CERTIFICATE [Cert_sql01_endpoint];
