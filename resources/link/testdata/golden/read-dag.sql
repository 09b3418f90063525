SET NOCOUNT ON;
SELECT e.name, e.endpoint_id, e.state_desc, e.role_desc, e.connection_auth_desc, e.certificate_id, e.is_encryption_enabled, e.encryption_algorithm_desc, t.port FROM sys.database_mirroring_endpoints e JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id;
SELECT ag.name, ag.group_id, ag.is_distributed, ag.cluster_type_desc FROM sys.availability_groups ag;
SELECT r.group_id, r.replica_id, r.replica_server_name, r.endpoint_url, r.availability_mode_desc, r.failover_mode_desc, r.seeding_mode_desc FROM sys.availability_replicas r;
SELECT adc.group_id, adc.database_name FROM sys.availability_databases_cluster adc;
SELECT rs.group_id, rs.replica_id, rs.is_local, rs.role, rs.role_desc, rs.operational_state_desc, rs.connected_state_desc, rs.synchronization_health_desc, rs.last_connect_error_number, rs.last_connect_error_description FROM sys.dm_hadr_availability_replica_states rs;
SELECT drs.group_id, drs.replica_id, drs.database_id, DB_NAME(drs.database_id) AS database_name, drs.is_local, drs.is_primary_replica, drs.synchronization_state_desc, drs.synchronization_health_desc, drs.last_hardened_lsn, drs.end_of_log_lsn, drs.log_send_queue_size, drs.redo_queue_size FROM sys.dm_hadr_database_replica_states drs;
SELECT s.local_database_name, s.internal_state_desc, s.database_size_bytes, s.transferred_size_bytes FROM sys.dm_hadr_physical_seeding_stats s;
SELECT a.ag_db_id, a.current_state, a.is_source, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a;
