package engine

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// backupDir makes the default backup directory of a Linux profile.
func (l *lab) backupDir(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(l.root, "var", "opt", "mssql", "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// linkLab is sql01 with HADR on, a master key, and database app in FULL
// recovery with a full backup: ready for the link's statements.
func linkLab(t *testing.T, profile string) (*lab, *Session) {
	t.Helper()
	l := newLab(t, profile, "")
	if err := l.inst.Start(Startup{Hadr: true}); err != nil {
		t.Fatal(err)
	}
	l.backupDir(t)
	s := l.session(t)
	mustRun(t, s, `CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Master-Key-Passw0rd!';
CREATE DATABASE [app]; ALTER DATABASE [app] SET RECOVERY FULL;
BACKUP DATABASE [app] TO DISK = N'/var/opt/mssql/backup/app.bak';`)
	return l, s
}

const (
	certSQL     = `USE [master]; CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '20300101';`
	endpointSQL = `CREATE ENDPOINT [database_mirroring_endpoint] STATE = STARTED AS TCP (LISTENER_PORT = 5022, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE [Cert_sql01_endpoint], ENCRYPTION = REQUIRED ALGORITHM AES);`
	agSQL       = `CREATE AVAILABILITY GROUP [AG_payroll] WITH (CLUSTER_TYPE = NONE) FOR DATABASE [app] REPLICA ON N'sql01' WITH (ENDPOINT_URL = N'TCP://127.0.0.2:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);`
	dagSQL      = `CREATE AVAILABILITY GROUP [payroll] WITH (DISTRIBUTED) AVAILABILITY GROUP ON N'AG_payroll' WITH (LISTENER_URL = N'TCP://127.0.0.2:5022', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SESSION_TIMEOUT = 20), N'AG_payroll_MI' WITH (LISTENER_URL = N'tcp://127.0.0.3:5022;Server=[mi01]', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);`
)

// A public certificate (FROM BINARY) of another instance.
func otherCertDER(t *testing.T, subject string) []byte {
	t.Helper()
	c, err := newCertificate("x", subject, time.Now().UTC(), time.Now().UTC().AddDate(1, 0, 0), 1)
	if err != nil {
		t.Fatal(err)
	}
	return c.DER
}

func TestEndpointCertificateStatements(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, certSQL)
	r := mustRun(t, s, "SELECT name, certificate_id, thumbprint, expiry_date, pvt_key_encryption_type, subject FROM master.sys.certificates")
	if got := r.col(t, 0, "pvt_key_encryption_type"); !slices.Equal(got, []any{"MK"}) {
		t.Errorf("pvt_key_encryption_type %v", got)
	}
	if got := r.col(t, 0, "expiry_date")[0].(time.Time); got.Format("2006-01-02") != "2030-01-01" {
		t.Errorf("expiry %v", got)
	}
	der := mustRun(t, s, "SELECT CERTENCODED(CERT_ID(N'Cert_sql01_endpoint')) AS der").col(t, 0, "der")[0].([]byte)
	tp := sha1.Sum(der)
	if got := r.col(t, 0, "thumbprint")[0].([]byte); !slices.Equal(got, tp[:]) {
		t.Errorf("thumbprint %X, want SHA-1 of the DER %X", got, tp)
	}

	// The partner's certificate: public only, thumbprint = SHA-1 of the DER.
	mi := otherCertDER(t, "127.0.0.3")
	mustRun(t, s, fmt.Sprintf("USE [master]; CREATE CERTIFICATE [127.0.0.3] FROM BINARY = 0x%X;", mi))
	r = mustRun(t, s, "SELECT name, thumbprint, pvt_key_encryption_type FROM master.sys.certificates WHERE name = N'127.0.0.3'")
	mtp := sha1.Sum(mi)
	if got := r.col(t, 0, "thumbprint"); len(got) != 1 || !slices.Equal(got[0].([]byte), mtp[:]) {
		t.Errorf("partner thumbprint %v", got)
	}
	if got := r.col(t, 0, "pvt_key_encryption_type"); got[0] != "NA" {
		t.Errorf("partner pvt_key_encryption_type %v", got)
	}

	// A root with its issuer, in one transaction.
	root := otherCertDER(t, "Root")
	mustRun(t, s, fmt.Sprintf(`USE [master]; SET XACT_ABORT ON; BEGIN TRANSACTION; CREATE CERTIFICATE [MicrosoftPKI] FROM BINARY = 0x%X; DECLARE @CERTID int = CERT_ID(N'MicrosoftPKI'); EXEC sp_certificate_add_issuer @CERTID, N'*.database.windows.net'; COMMIT;`, root))
	var issuers []string
	for _, c := range s.inst.Certificates() {
		if c.Name == "MicrosoftPKI" {
			issuers = c.Issuers
		}
	}
	if !slices.Equal(issuers, []string{"*.database.windows.net"}) {
		t.Errorf("issuers %v", issuers)
	}
}

func TestLinkStatementErrors(t *testing.T) {
	der := fmt.Sprintf("%X", otherCertDER(t, "127.0.0.3"))
	for _, tc := range []struct {
		name    string
		profile string
		hadrOff bool
		setup   []string
		sql     string
		want    []int32
	}{
		{name: "certificate exists", setup: []string{certSQL}, sql: certSQL, want: []int32{15232}},
		{name: "binary certificate exists", setup: []string{"USE [master]; CREATE CERTIFICATE [a] FROM BINARY = 0x" + der},
			sql: "USE [master]; CREATE CERTIFICATE [b] FROM BINARY = 0x" + der, want: []int32{15232}},
		{name: "binary not a certificate", sql: "USE [master]; CREATE CERTIFICATE [a] FROM BINARY = 0x0102", want: []int32{15468}},
		{name: "issuer of a missing certificate", sql: "EXEC sp_certificate_add_issuer 4242, N'*.database.windows.net'", want: []int32{15151}},
		{name: "issuer without the Azure Connect pack", profile: "2016-sp3-windows", sql: "EXEC sp_certificate_add_issuer 1, N'*.database.windows.net'", want: []int32{2812}},
		{name: "endpoint twice", setup: []string{certSQL, endpointSQL}, sql: endpointSQL, want: []int32{7862}},
		{name: "endpoint with missing certificate", sql: endpointSQL, want: []int32{15151}},
		{name: "drop missing certificate", sql: "DROP CERTIFICATE [nope]", want: []int32{15151}},
		{name: "AG exists", setup: []string{agSQL}, sql: agSQL, want: []int32{35217}},
		{name: "AG with HADR off", hadrOff: true, sql: agSQL, want: []int32{35221}},
		{name: "DAG with HADR off", hadrOff: true, sql: dagSQL, want: []int32{35221}},
		{name: "AG database not FULL", setup: []string{"ALTER DATABASE [app] SET RECOVERY SIMPLE"}, sql: agSQL, want: []int32{1465}},
		{name: "AG database never backed up", setup: []string{"CREATE DATABASE [fresh]; ALTER DATABASE [fresh] SET RECOVERY FULL"},
			sql: strings.Replace(agSQL, "[app]", "[fresh]", 1), want: []int32{1475}},
		{name: "AG database missing", sql: strings.Replace(agSQL, "[app]", "[nope]", 1), want: []int32{35209}},
		{name: "CLUSTER_TYPE on 2016", profile: "2016-azure-connect-windows", sql: agSQL, want: []int32{155}},
		{name: "WSFC outside a cluster", sql: strings.Replace(agSQL, " WITH (CLUSTER_TYPE = NONE)", "", 1), want: []int32{35220}},
		{name: "DAG without its local AG", sql: dagSQL, want: []int32{15151}},
		{name: "modify a missing DAG", sql: "ALTER AVAILABILITY GROUP [x] MODIFY AVAILABILITY GROUP ON N'a' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)", want: []int32{15151}},
		{name: "modify an unknown member", setup: []string{agSQL, dagSQL},
			sql: "ALTER AVAILABILITY GROUP [payroll] MODIFY AVAILABILITY GROUP ON N'zz' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)", want: []int32{35226}},
		{name: "drop missing AG", sql: "DROP AVAILABILITY GROUP [nope]", want: []int32{15151}},
		{name: "grant on missing AG", sql: "ALTER AVAILABILITY GROUP [nope] GRANT CREATE ANY DATABASE", want: []int32{15151}},
		{name: "syntax: DAG with one member", setup: []string{agSQL},
			sql: "CREATE AVAILABILITY GROUP [d] WITH (DISTRIBUTED) AVAILABILITY GROUP ON N'AG_payroll' WITH (LISTENER_URL = N'TCP://h:5022', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT)", want: []int32{102}},
		{name: "write to a read-only database", setup: []string{"ALTER DATABASE [app] SET READ_ONLY"}, sql: "USE [app]; INSERT INTO dbo.t VALUES (1);", want: []int32{3906}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.profile
			if p == "" {
				p = DefaultProfile
			}
			l, s := linkLab(t, p)
			for _, q := range tc.setup {
				mustRun(t, s, q)
			}
			if tc.hadrOff {
				if err := l.inst.Start(Startup{}); err != nil {
					t.Fatal(err)
				}
				s = l.session(t)
			}
			r := run(t, s, tc.sql)
			if !slices.Equal(r.errNumbers(), tc.want) {
				t.Errorf("errors %v (%v), want %v", r.errNumbers(), r.errs, tc.want)
			}
		})
	}
}

// The whole SQL Server side of the spec's sequence, then the status reads.
func TestLinkSequenceAndStatusReads(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, certSQL)
	mustRun(t, s, endpointSQL)
	mustRun(t, s, agSQL)
	mustRun(t, s, dagSQL)
	r := mustRun(t, s, "SELECT e.name, e.endpoint_id, e.state_desc, e.role_desc, e.connection_auth_desc, e.certificate_id, e.is_encryption_enabled, e.encryption_algorithm_desc, t.port FROM sys.database_mirroring_endpoints e JOIN sys.tcp_endpoints t ON t.endpoint_id = e.endpoint_id")
	if got := fmt.Sprint(r.sets[0].rows); !strings.Contains(got, "STARTED ALL CERTIFICATE") || !strings.Contains(got, "AES 5022") {
		t.Errorf("endpoint %s", got)
	}
	r = mustRun(t, s, "SELECT ag.name, ag.group_id, ag.is_distributed, ag.cluster_type_desc FROM sys.availability_groups ag")
	if got := fmt.Sprint(r.col(t, 0, "name"), r.col(t, 0, "is_distributed"), r.col(t, 0, "cluster_type_desc")); got != "[AG_payroll payroll] [false true] [none none]" {
		t.Errorf("groups %s", got)
	}
	r = mustRun(t, s, "SELECT r.group_id, r.replica_id, r.replica_server_name, r.endpoint_url, r.availability_mode_desc, r.failover_mode_desc, r.seeding_mode_desc FROM sys.availability_replicas r")
	if got := fmt.Sprint(r.col(t, 0, "replica_server_name"), r.col(t, 0, "availability_mode_desc")); got != "[sql01 AG_payroll AG_payroll_MI] [SYNCHRONOUS_COMMIT ASYNCHRONOUS_COMMIT ASYNCHRONOUS_COMMIT]" {
		t.Errorf("replicas %s", got)
	}
	r = mustRun(t, s, "SELECT rs.group_id, rs.replica_id, rs.is_local, rs.role, rs.role_desc, rs.operational_state_desc, rs.connected_state_desc, rs.synchronization_health_desc, rs.last_connect_error_number, rs.last_connect_error_description FROM sys.dm_hadr_availability_replica_states rs")
	if got := fmt.Sprint(r.col(t, 0, "connected_state_desc")); got != "[CONNECTED CONNECTED DISCONNECTED]" {
		t.Errorf("connected %s", got)
	}
	q := "SELECT drs.group_id, drs.replica_id, drs.database_id, DB_NAME(drs.database_id) AS database_name, drs.is_local, drs.is_primary_replica, drs.synchronization_state_desc, drs.synchronization_health_desc, drs.last_hardened_lsn, drs.end_of_log_lsn, drs.log_send_queue_size, drs.redo_queue_size FROM sys.dm_hadr_database_replica_states drs"
	r = mustRun(t, s, q)
	if got := fmt.Sprint(r.col(t, 0, "database_name")); got != "[app app]" {
		t.Errorf("database rows %s", got)
	}
	before := r.col(t, 0, "end_of_log_lsn")[0].(int64)
	// A write moves the log; so does a log backup.
	mustRun(t, s, "USE [app]; CREATE TABLE dbo.t (id int); INSERT INTO dbo.t VALUES (1); USE [master];")
	after := mustRun(t, s, q).col(t, 0, "end_of_log_lsn")[0].(int64)
	if after <= before {
		t.Errorf("end_of_log_lsn %d after writes, was %d", after, before)
	}
	mustRun(t, s, "BACKUP LOG [app] TO DISK = N'/var/opt/mssql/backup/app.trn'")
	if got := mustRun(t, s, q).col(t, 0, "end_of_log_lsn")[0].(int64); got <= after {
		t.Errorf("end_of_log_lsn %d after BACKUP LOG, was %d", got, after)
	}
	if d, _ := s.inst.Database("app"); d.LogBackups != 1 {
		t.Errorf("log backups %d", d.LogBackups)
	}
	mustRun(t, s, "SELECT s.local_database_name, s.internal_state_desc, s.database_size_bytes, s.transferred_size_bytes FROM sys.dm_hadr_physical_seeding_stats s")
	mustRun(t, s, "SELECT a.ag_db_id, a.current_state, a.is_source, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a")

	// Switch to sync, then drop.
	mustRun(t, s, "ALTER AVAILABILITY GROUP [payroll] MODIFY AVAILABILITY GROUP ON N'AG_payroll' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT), N'AG_payroll_MI' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT);")
	r = mustRun(t, s, "SELECT availability_mode_desc FROM sys.availability_replicas")
	if got := fmt.Sprint(r.col(t, 0, "availability_mode_desc")); got != "[SYNCHRONOUS_COMMIT SYNCHRONOUS_COMMIT SYNCHRONOUS_COMMIT]" {
		t.Errorf("after MODIFY %s", got)
	}
	mustRun(t, s, "DROP AVAILABILITY GROUP [payroll]; DROP AVAILABILITY GROUP [AG_payroll];")
	if n := len(mustRun(t, s, "SELECT name FROM sys.availability_groups").sets[0].rows); n != 0 {
		t.Errorf("%d groups left", n)
	}
}

// The adopt form of ALTER ENDPOINT keeps Windows authentication beside
// the certificate and switches to AES.
func TestAlterEndpointAdopt(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, certSQL)
	mustRun(t, s, "CREATE ENDPOINT [Hadr_endpoint] STATE = STARTED AS TCP (LISTENER_PORT = 5023) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE, ENCRYPTION = REQUIRED ALGORITHM RC4)")
	mustRun(t, s, "ALTER ENDPOINT [Hadr_endpoint] STATE = STARTED AS TCP (LISTENER_PORT = 5023) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE [Cert_sql01_endpoint], ENCRYPTION = REQUIRED ALGORITHM AES);")
	e, ok := s.inst.MirroringEndpoint()
	if !ok || e.Auth != "NEGOTIATE, CERTIFICATE" || e.Encryption != "AES" || e.Certificate != "Cert_sql01_endpoint" || e.Port != 5023 {
		t.Errorf("endpoint %+v", e)
	}
	// An ALTER naming only the state keeps the security settings.
	mustRun(t, s, "ALTER ENDPOINT [Hadr_endpoint] STATE = STOPPED")
	if e, _ := s.inst.MirroringEndpoint(); e.Auth != "NEGOTIATE, CERTIFICATE" || e.State != "STOPPED" {
		t.Errorf("after STATE only: %+v", e)
	}
}

// The managed instance as initial primary: an AG without databases, then
// GRANT CREATE ANY DATABASE; 2016 without CLUSTER_TYPE (WSFC).
func TestAGForms(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, strings.Replace(agSQL, "FOR DATABASE [app] ", "FOR ", 1)+" ALTER AVAILABILITY GROUP [AG_payroll] GRANT CREATE ANY DATABASE;")
	_, s16 := linkLab(t, "2016-azure-connect-windows")
	mustRun(t, s16, strings.Replace(agSQL, " WITH (CLUSTER_TYPE = NONE)", "", 1))
	if r := run(t, s16, "SELECT cluster_type_desc FROM sys.availability_groups"); len(r.errs) == 0 {
		t.Errorf("2016 has no cluster_type_desc column, got %v", r.sets)
	}
}

// The state the link simulation sets shows in the DMVs.
func TestRemoteReplicaAndSeedingState(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, agSQL+dagSQL)
	s.inst.SetSeeding(SeedingState{AG: "payroll", Database: "app", State: "SEEDING", IsSource: true, Size: 1000, Transferred: 300, Attempts: 2})
	r := mustRun(t, s, "SELECT s.local_database_name, s.internal_state_desc, s.database_size_bytes, s.transferred_size_bytes FROM sys.dm_hadr_physical_seeding_stats s")
	if got := fmt.Sprint(r.sets[0].rows); got != "[[app ReadingAndSendingData 1000 300]]" {
		t.Errorf("physical seeding %s", got)
	}
	d, _ := s.inst.Database("app")
	s.inst.SetSeeding(SeedingState{AG: "payroll", Database: "app", State: "COMPLETED", IsSource: true, Size: 1000, Transferred: 1000, Attempts: 2})
	s.inst.SetRemoteReplica("payroll", "AG_payroll_MI", RemoteState{Connected: true, Health: "HEALTHY",
		Databases: []RemoteDatabase{{Name: "app", SyncState: "SYNCHRONIZING", Health: "HEALTHY", HardenedLSN: d.EndOfLogLSN}}})
	if n := len(mustRun(t, s, "SELECT * FROM sys.dm_hadr_physical_seeding_stats").sets[0].rows); n != 0 {
		t.Errorf("%d seeding rows after completion", n)
	}
	r = mustRun(t, s, "SELECT a.current_state, a.is_source, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a")
	if got := fmt.Sprint(r.sets[0].rows); got != "[[COMPLETED true 2]]" {
		t.Errorf("automatic seeding %s", got)
	}
	r = mustRun(t, s, "SELECT rs.connected_state_desc, rs.synchronization_health_desc FROM sys.dm_hadr_availability_replica_states rs WHERE rs.is_local = 0")
	if got := fmt.Sprint(r.sets[0].rows); got != "[[CONNECTED HEALTHY]]" {
		t.Errorf("remote replica %s", got)
	}
	r = mustRun(t, s, "SELECT drs.is_local, drs.synchronization_state_desc, drs.last_hardened_lsn, drs.end_of_log_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 0")
	if got := fmt.Sprint(r.sets[0].rows); got != fmt.Sprintf("[[false SYNCHRONIZING %d %d]]", d.EndOfLogLSN, d.EndOfLogLSN) {
		t.Errorf("remote database %s", got)
	}
}

// Microsoft's verification queries join the views; the lab answers them.
func TestLinkVerificationJoins(t *testing.T) {
	_, s := linkLab(t, DefaultProfile)
	mustRun(t, s, agSQL+dagSQL)
	d, _ := s.inst.Database("app")
	s.inst.SetRemoteReplica("payroll", "AG_payroll_MI", RemoteState{Connected: true, Health: "HEALTHY",
		Databases: []RemoteDatabase{{Name: "app", SyncState: "SYNCHRONIZING", Health: "HEALTHY", HardenedLSN: d.EndOfLogLSN - 1}}})
	for _, tc := range []struct{ q, want string }{
		{`SELECT r.replica_server_name, r.endpoint_url, rs.connected_state_desc, rs.last_connect_error_number
FROM sys.dm_hadr_availability_replica_states rs JOIN sys.availability_replicas r ON rs.replica_id = r.replica_id WHERE rs.is_local = 0`,
			"[[AG_payroll_MI tcp://127.0.0.3:5022;Server=[mi01] CONNECTED <nil>]]"},
		{`SELECT ag.name, ar.availability_mode_desc, ars.role_desc, ars.synchronization_health_desc FROM sys.availability_groups ag
JOIN sys.availability_replicas ar ON ag.group_id = ar.group_id LEFT JOIN sys.dm_hadr_availability_replica_states ars ON ars.replica_id = ar.replica_id
WHERE ag.is_distributed = 1 AND ars.is_local = 0`, "[[payroll ASYNCHRONOUS_COMMIT SECONDARY HEALTHY]]"},
		{`SELECT db.name, drs.synchronization_state_desc, drs.end_of_log_lsn - drs.last_hardened_lsn AS behind FROM sys.dm_hadr_database_replica_states drs
JOIN sys.databases db ON drs.database_id = db.database_id JOIN sys.availability_groups ag ON drs.group_id = ag.group_id
WHERE ag.is_distributed = 1 AND drs.is_local = 0`, "[[app SYNCHRONIZING 0]]"},
	} {
		r := mustRun(t, s, tc.q)
		if got := fmt.Sprint(r.sets[0].rows); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.q, got, tc.want)
		}
	}
}
