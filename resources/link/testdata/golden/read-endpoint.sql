SET NOCOUNT ON;
SELECT name, certificate_id, thumbprint, expiry_date, pvt_key_encryption_type, subject FROM master.sys.certificates;
SELECT e.name, e.endpoint_id, e.state_desc, e.role_desc, e.connection_auth_desc, e.certificate_id, e.is_encryption_enabled, e.encryption_algorithm_desc, t.port FROM sys.database_mirroring_endpoints e JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id;
SELECT ag.name, ag.group_id, ag.is_distributed, ag.cluster_type_desc FROM sys.availability_groups ag;
SELECT r.group_id, r.replica_id, r.replica_server_name, r.endpoint_url, r.availability_mode_desc, r.failover_mode_desc, r.seeding_mode_desc FROM sys.availability_replicas r;
SELECT adc.group_id, adc.database_name FROM sys.availability_databases_cluster adc;
