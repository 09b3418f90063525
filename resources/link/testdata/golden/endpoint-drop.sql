DROP ENDPOINT [database_mirroring_endpoint];
