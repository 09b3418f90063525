package link

import (
	"fmt"
	"github.com/milink/milink/resources/azure"
	"strings"
	"time"

	"github.com/milink/milink/resources/sqlserver"
)

// Every statement the link's SQL Server kinds send is built here, so that
// plans show exactly what apply sends. Each has a golden file under
// testdata/golden; the lab answers the same text (link-spec.md).

var (
	qi = sqlserver.QuoteIdent
	qs = sqlserver.QuoteString
)

// EndpointCertificateSubject is the subject milink gives the endpoint
// certificate; Apply also recognises its own certificate by it after a
// crash between CREATE and the state's write.
func EndpointCertificateSubject(server string) string {
	return "Certificate for database mirroring endpoint of " + server
}

// CreateEndpointCertificateSQL creates the endpoint certificate in master,
// its private key encrypted by the database master key (no password
// given), valid until expiry (a date, UTC).
func CreateEndpointCertificateSQL(name, server string, expiry time.Time) string {
	return "USE [master];\nCREATE CERTIFICATE " + qi(name) + " WITH SUBJECT = " + qs(EndpointCertificateSubject(server)) +
		", EXPIRY_DATE = '" + expiry.UTC().Format("20060102") + "';"
}

// CreateCertificateFromBinarySQL creates a certificate from its DER: the
// managed instance's endpoint certificate, named exactly the managed
// instance's FQDN.
func CreateCertificateFromBinarySQL(name string, der []byte) string {
	return "USE [master];\nCREATE CERTIFICATE " + qi(name) + " FROM BINARY = " + azure.HexBlob(der) + ";"
}

// ReplaceCertificateFromBinarySQL drops a certificate and creates it again
// from another DER, in one transaction (the managed instance's certificate
// was renewed).
func ReplaceCertificateFromBinarySQL(name string, der []byte) string {
	return "USE [master];\nSET XACT_ABORT ON;\nBEGIN TRANSACTION;\nDROP CERTIFICATE " + qi(name) + ";\nCREATE CERTIFICATE " + qi(name) +
		" FROM BINARY = " + azure.HexBlob(der) + ";\nCOMMIT;"
}

// CreateRootSQL trusts one of Azure's roots: the certificate and its
// issuer in one transaction, so that a certificate present means its
// issuer was added too.
func CreateRootSQL(r Root) string {
	return "USE [master];\nSET XACT_ABORT ON;\nBEGIN TRANSACTION;\nCREATE CERTIFICATE " + qi(r.Name) + " FROM BINARY = " + azure.HexBlob(r.DER) + ";\n" +
		"DECLARE @CERTID int = CERT_ID(" + qs(r.Name) + ");\n" +
		"EXEC sp_certificate_add_issuer @CERTID, " + qs(RootIssuer) + ";\nCOMMIT;"
}

// CreateEndpointSQL creates the DATABASE_MIRRORING endpoint the link uses.
func CreateEndpointSQL(name string, port int, cert string) string {
	return fmt.Sprintf("CREATE ENDPOINT %s STATE = STARTED AS TCP (LISTENER_PORT = %d, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE %s, ENCRYPTION = REQUIRED ALGORITHM AES);",
		qi(name), port, qi(cert))
}

// AdoptEndpointSQL changes an existing endpoint so that the link can use
// it, keeping Windows authentication for the replicas that use it now.
func AdoptEndpointSQL(name string, port int, cert string) string {
	return alterEndpointSQL(name, port, "WINDOWS NEGOTIATE CERTIFICATE", cert)
}

// RepairEndpointSQL puts an endpoint milink created back to certificate
// authentication, AES, started.
func RepairEndpointSQL(name string, port int, cert string) string {
	return alterEndpointSQL(name, port, "CERTIFICATE", cert)
}

func alterEndpointSQL(name string, port int, auth, cert string) string {
	return fmt.Sprintf("ALTER ENDPOINT %s STATE = STARTED AS TCP (LISTENER_PORT = %d) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = %s %s, ENCRYPTION = REQUIRED ALGORITHM AES);",
		qi(name), port, auth, qi(cert))
}

// DropEndpointSQL drops an endpoint milink created.
func DropEndpointSQL(name string) string { return "DROP ENDPOINT " + qi(name) + ";" }

// DropCertificateSQL drops a certificate milink created.
func DropCertificateSQL(name string) string {
	return "USE [master];\nDROP CERTIFICATE " + qi(name) + ";"
}

// ReplicaMode is a replica's availability mode.
func ReplicaMode(sync bool) string {
	if sync {
		return "SYNCHRONOUS_COMMIT"
	}
	return "ASYNCHRONOUS_COMMIT"
}

// CreateAGSQL creates the SQL Server side availability group: one
// replica, this instance. clusterType "" leaves CLUSTER_TYPE out (SQL
// Server 2016, which has no such option). Without databases the group is
// made for the managed instance as the initial primary: it may create
// the databases it receives.
func CreateAGSQL(ag string, databases []string, server, endpointURL, clusterType string) string {
	var b strings.Builder
	b.WriteString("CREATE AVAILABILITY GROUP " + qi(ag))
	if clusterType != "" {
		b.WriteString(" WITH (CLUSTER_TYPE = " + strings.ToUpper(clusterType) + ")")
	}
	if len(databases) > 0 {
		q := make([]string, len(databases))
		for i, d := range databases {
			q[i] = qi(d)
		}
		b.WriteString(" FOR DATABASE " + strings.Join(q, ", "))
	}
	b.WriteString(" REPLICA ON " + qs(server) + " WITH (ENDPOINT_URL = " + qs(endpointURL) +
		", AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);")
	if len(databases) == 0 {
		b.WriteString("\nALTER AVAILABILITY GROUP " + qi(ag) + " GRANT CREATE ANY DATABASE;")
	}
	return b.String()
}

// DropAGSQL drops an availability group (also a distributed one).
func DropAGSQL(name string) string { return "DROP AVAILABILITY GROUP " + qi(name) + ";" }

// CreateDAGSQL creates the distributed availability group of the link on
// SQL Server: the SQL Server availability group and the managed
// instance's, both asynchronous unless sync.
func CreateDAGSQL(dag, ag, listenerURL, miAG, miListenerURL string, sync bool) string {
	mode := ReplicaMode(sync)
	return "CREATE AVAILABILITY GROUP " + qi(dag) + " WITH (DISTRIBUTED) AVAILABILITY GROUP ON " +
		qs(ag) + " WITH (LISTENER_URL = " + qs(listenerURL) + ", AVAILABILITY_MODE = " + mode +
		", FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SESSION_TIMEOUT = 20), " +
		qs(miAG) + " WITH (LISTENER_URL = " + qs(miListenerURL) + ", AVAILABILITY_MODE = " + mode +
		", FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);"
}

// ModifyDAGSQL switches the distributed availability group's replication
// between asynchronous and synchronous, both replicas at once.
func ModifyDAGSQL(dag, ag, miAG string, sync bool) string {
	mode := ReplicaMode(sync)
	return "ALTER AVAILABILITY GROUP " + qi(dag) + " MODIFY AVAILABILITY GROUP ON " +
		qs(ag) + " WITH (AVAILABILITY_MODE = " + mode + "), " +
		qs(miAG) + " WITH (AVAILABILITY_MODE = " + mode + ");"
}

// The statements of the catalogue read; a kind sends the ones it needs,
// in one batch (ReadSQL).
const (
	readCertificates = "SELECT name, certificate_id, thumbprint, expiry_date, pvt_key_encryption_type, subject FROM master.sys.certificates;"
	readEndpoints    = "SELECT e.name, e.endpoint_id, e.state_desc, e.role_desc, e.connection_auth_desc, e.certificate_id, e.is_encryption_enabled, e.encryption_algorithm_desc, t.port FROM sys.database_mirroring_endpoints e JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id;"
	readAGs          = "SELECT ag.name, ag.group_id, ag.is_distributed, ag.cluster_type_desc FROM sys.availability_groups ag;"
	readReplicas     = "SELECT r.group_id, r.replica_id, r.replica_server_name, r.endpoint_url, r.availability_mode_desc, r.failover_mode_desc, r.seeding_mode_desc FROM sys.availability_replicas r;"
	readAGDatabases  = "SELECT adc.group_id, adc.database_name FROM sys.availability_databases_cluster adc;"
	readStates       = "SELECT rs.group_id, rs.replica_id, rs.is_local, rs.role, rs.role_desc, rs.operational_state_desc, rs.connected_state_desc, rs.synchronization_health_desc, rs.last_connect_error_number, rs.last_connect_error_description FROM sys.dm_hadr_availability_replica_states rs;"
	readDBStates     = "SELECT drs.group_id, drs.replica_id, drs.database_id, DB_NAME(drs.database_id) AS database_name, drs.is_local, drs.is_primary_replica, drs.synchronization_state_desc, drs.synchronization_health_desc, drs.last_hardened_lsn, drs.end_of_log_lsn, drs.log_send_queue_size, drs.redo_queue_size FROM sys.dm_hadr_database_replica_states drs;"
	readSeeding      = "SELECT s.local_database_name, s.internal_state_desc, s.database_size_bytes, s.transferred_size_bytes FROM sys.dm_hadr_physical_seeding_stats s;"
	readAutoSeeding  = "SELECT a.ag_db_id, a.current_state, a.is_source, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a;"
)

// Part is a part of the catalogue a kind reads.
type Part int

// The parts of the catalogue.
const (
	PartCertificates Part = 1 << iota
	PartEndpoints
	PartAGs          // availability groups, their replicas and databases
	PartStatus       // replica and database replica states
	PartSeeding      // seeding progress
	partsAll    Part = PartCertificates | PartEndpoints | PartAGs | PartStatus | PartSeeding
)

// ReadSQL is the one batch reading the parts asked for.
func ReadSQL(parts Part) string {
	var out []string
	add := func(p Part, stmts ...string) {
		if parts&p != 0 {
			out = append(out, stmts...)
		}
	}
	add(PartCertificates, readCertificates)
	add(PartEndpoints, readEndpoints)
	add(PartAGs, readAGs, readReplicas, readAGDatabases)
	add(PartStatus, readStates, readDBStates)
	add(PartSeeding, readSeeding, readAutoSeeding)
	return "SET NOCOUNT ON;\n" + strings.Join(out, "\n")
}
