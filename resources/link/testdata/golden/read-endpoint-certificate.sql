SET NOCOUNT ON;
SELECT name, certificate_id, thumbprint, expiry_date, pvt_key_encryption_type, subject FROM master.sys.certificates;
SELECT e.name, e.endpoint_id, e.state_desc, e.role_desc, e.connection_auth_desc, e.certificate_id, e.is_encryption_enabled, e.encryption_algorithm_desc, t.port FROM sys.database_mirroring_endpoints e JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id;
