package lab_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/arm"
)

// linkEnv is a lab whose sql01 runs HADR, with a database in FULL
// recovery and backed up, and the link clock stopped (Advance moves it).
type linkEnv struct {
	l       *lab.Lab
	sql, mi *sql.DB
	be      arm.LinkBackend
	ctl     lab.LinkControl
	fqdn    string
	sqlAddr string
	db      string
	backups string
}

func newLinkEnv(t *testing.T) *linkEnv {
	t.Helper()
	l := startLab(t, lab.Config{LinkSpeed: -1})
	sql01, _ := l.Server(lab.SQLServerName)
	if err := os.WriteFile(sql01.MSSQLConf(), []byte("[hadr]\nhadrenabled = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sql01.Restart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	info, _ := l.File().Server(lab.SQLServerName)
	miInfo, _ := l.File().Server(lab.ManagedInstanceName)
	e := &linkEnv{l: l, sql: open(t, l, lab.SQLServerName), mi: open(t, l, lab.ManagedInstanceName), be: l.LinkBackend(), ctl: l.Link(),
		fqdn: miInfo.Address, sqlAddr: info.Address, db: "sales", backups: info.BackupDirectory}
	mustExec(t, e.sql, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Master-Key-Passw0rd!'")
	e.prepareDB(t, "sales")
	return e
}

func (e *linkEnv) prepareDB(t *testing.T, db string) {
	t.Helper()
	mustExec(t, e.sql, fmt.Sprintf("ALTER DATABASE [%s] SET RECOVERY FULL", db))
	mustExec(t, e.sql, fmt.Sprintf("BACKUP DATABASE [%s] TO DISK = N'%s/%s.bak'", db, e.backups, db))
}

// selfSigned is a stand-in for Azure's roots (the lab checks names and
// issuers, not the blobs).
func selfSigned(t *testing.T, cn string, notAfter time.Time) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.AddDate(-2, 0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// steps of the SQL Server side, in the spec's order; skip names steps a
// test leaves out.
func (e *linkEnv) setup(t *testing.T, skip ...string) {
	t.Helper()
	skipped := func(s string) bool {
		for _, k := range skip {
			if k == s {
				return true
			}
		}
		return false
	}
	cert := "Cert_sql01_endpoint"
	if !skipped("cert") {
		mustExec(t, e.sql, "USE [master]; CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'Certificate for database mirroring endpoint of sql01', EXPIRY_DATE = '20991231';")
	}
	if !skipped("trust") {
		var der []byte
		if err := e.sql.QueryRowContext(ctx(t), "SELECT CERTENCODED(CERT_ID(N'Cert_sql01_endpoint'))").Scan(&der); err != nil {
			t.Fatal(err)
		}
		if err := e.be.PutTrustCertificate(cert, der); err != nil {
			t.Fatal(err)
		}
	}
	if !skipped("partner") {
		der, err := e.be.EndpointCertificate()
		if err != nil {
			t.Fatal(err)
		}
		name := e.fqdn
		if skipped("partner-name") {
			name = "mi01"
		}
		mustExec(t, e.sql, fmt.Sprintf("USE [master]; CREATE CERTIFICATE [%s] FROM BINARY = 0x%X;", name, der))
	}
	if !skipped("roots") {
		for _, root := range []string{"MicrosoftPKI", "DigiCertPKI"} {
			mustExec(t, e.sql, fmt.Sprintf("USE [master]; SET XACT_ABORT ON; BEGIN TRANSACTION; CREATE CERTIFICATE [%s] FROM BINARY = 0x%X; DECLARE @CERTID int = CERT_ID(N'%s'); EXEC sp_certificate_add_issuer @CERTID, N'*.database.windows.net'; COMMIT;",
				root, selfSigned(t, root, time.Now().AddDate(10, 0, 0)), root))
		}
	}
	if !skipped("endpoint") {
		mustExec(t, e.sql, "CREATE ENDPOINT [database_mirroring_endpoint] STATE = STARTED AS TCP (LISTENER_PORT = 5022, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE [Cert_sql01_endpoint], ENCRYPTION = REQUIRED ALGORITHM AES);")
	}
	mustExec(t, e.sql, fmt.Sprintf("CREATE AVAILABILITY GROUP [AG_link] WITH (CLUSTER_TYPE = NONE) FOR DATABASE [%s] REPLICA ON N'sql01' WITH (ENDPOINT_URL = N'TCP://%s:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);", e.db, e.sqlAddr))
	server := "mi01"
	if skipped("server-suffix") {
		server = "other"
	}
	mustExec(t, e.sql, fmt.Sprintf("CREATE AVAILABILITY GROUP [link] WITH (DISTRIBUTED) AVAILABILITY GROUP ON N'AG_link' WITH (LISTENER_URL = N'TCP://%s:5022', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SESSION_TIMEOUT = 20), N'AG_link_MI' WITH (LISTENER_URL = N'tcp://%s:5022;Server=[%s]', AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC);", e.sqlAddr, e.fqdn, server))
}

func (e *linkEnv) spec() arm.LinkSpec {
	return arm.LinkSpec{Name: "link", PartnerAG: "AG_link", InstanceAG: "AG_link_MI", PartnerEndpoint: fmt.Sprintf("TCP://%s:5022", e.sqlAddr),
		InstanceLinkRole: "Secondary", FailoverMode: "Manual", SeedingMode: "Automatic", ReplicationMode: "Async", Databases: []string{e.db}}
}

func (e *linkEnv) status(t *testing.T) arm.LinkDatabase {
	t.Helper()
	st, ok := e.be.Link("link")
	if !ok || len(st.Databases) != 1 {
		t.Fatalf("link status %+v %v", st, ok)
	}
	return st.Databases[0]
}

// rows reads a query as text rows.
func rows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	r, err := db.QueryContext(ctx(t), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out []string
	for r.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(cols))
		for k := range v {
			p[k] = &v[k]
		}
		if err := r.Scan(p...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, x := range v {
			if b, ok := x.([]byte); ok {
				x = string(b)
			}
			parts = append(parts, fmt.Sprint(x))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// The whole sequence through go-mssqldb and the Go API: the link seeds,
// synchronizes, LSNs converge on both sides, writes move them apart
// (async until the next step; sync at once), and deleting the link leaves
// mi01's copy read/write.
func TestLinkEndToEnd(t *testing.T) {
	e := newLinkEnv(t)
	e.setup(t)
	if err := e.be.CreateLink(e.spec()); err != nil {
		t.Fatal(err)
	}
	if got := e.status(t).ReplicaState; got != "CreatingLink" {
		t.Fatalf("state after create %s", got)
	}
	e.ctl.Advance(time.Second)
	if d := e.status(t); d.ReplicaState != "Seeding" || d.SeedingProgress != "0%" {
		t.Fatalf("after the first step %+v", d)
	}
	e.ctl.Advance(time.Second) // 8 MB of sales' ~19 MB
	if d := e.status(t); d.ReplicaState != "Seeding" || d.SeedingProgress == "0%" || d.ConnectedState != "CONNECTED" {
		t.Fatalf("seeding %+v", d)
	}
	if got := rows(t, e.sql, "SELECT s.local_database_name, s.internal_state_desc FROM sys.dm_hadr_physical_seeding_stats s"); len(got) != 1 || got[0] != "sales ReadingAndSendingData" {
		t.Errorf("sql01 seeding stats %v", got)
	}
	e.ctl.Advance(time.Minute)
	d := e.status(t)
	if d.ReplicaState != "LinkSynchronizing" || d.SynchronizationHealth != "HEALTHY" || d.ConnectedState != "CONNECTED" || d.SeedingProgress != "100%" {
		t.Fatalf("after seeding %+v", d)
	}
	end := scalar(t, e.sql, "SELECT drs.end_of_log_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 1 AND drs.group_id = (SELECT group_id FROM sys.availability_groups WHERE name = N'link')")
	if d.LastHardenedLSN != end {
		t.Errorf("hardened %s, sql01 end of log %s", d.LastHardenedLSN, end)
	}
	if got := rows(t, e.sql, "SELECT rs.connected_state_desc, rs.synchronization_health_desc FROM sys.dm_hadr_availability_replica_states rs WHERE rs.is_local = 0"); len(got) != 1 || got[0] != "CONNECTED HEALTHY" {
		t.Errorf("sql01 remote replica %v", got)
	}
	if got := rows(t, e.sql, "SELECT drs.synchronization_state_desc, drs.last_hardened_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 0"); len(got) != 1 || got[0] != "SYNCHRONIZING "+end {
		t.Errorf("sql01 remote database %v (end %s)", got, end)
	}
	if got := rows(t, e.sql, "SELECT a.current_state, a.is_source, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a"); len(got) != 1 || got[0] != "COMPLETED true 1" {
		t.Errorf("sql01 automatic seeding %v", got)
	}
	// mi01: the database (read-only), its group and the DAG under the same name.
	if got := rows(t, e.mi, "SELECT name, is_read_only FROM sys.databases WHERE name = N'sales'"); len(got) != 1 || got[0] != "sales true" {
		t.Errorf("mi01 database %v", got)
	}
	if got := rows(t, e.mi, "SELECT ag.name, ag.is_distributed FROM sys.availability_groups ag ORDER BY ag.name"); strings.Join(got, ",") != "AG_link_MI false,link true" {
		t.Errorf("mi01 groups %v", got)
	}
	if got := rows(t, e.mi, "SELECT CAST(ag.group_id AS nvarchar(36)) FROM sys.availability_groups ag WHERE ag.name = N'link'"); len(got) != 1 || !strings.EqualFold(got[0], mustID(t, e.be)) {
		t.Errorf("mi01 DAG id %v", got)
	}
	if got := rows(t, e.mi, "SELECT drs.is_local, drs.is_primary_replica, drs.last_hardened_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.group_id = (SELECT group_id FROM sys.availability_groups WHERE name = N'link')"); len(got) != 1 || got[0] != "true false "+end {
		t.Errorf("mi01 database replica %v", got)
	}
	if got := rows(t, e.mi, "SELECT rs.role_desc, rs.connected_state_desc FROM sys.dm_hadr_availability_replica_states rs WHERE rs.is_local = 0"); len(got) != 1 || got[0] != "PRIMARY CONNECTED" {
		t.Errorf("mi01 remote replica %v", got)
	}
	if got := rows(t, e.mi, "SELECT name FROM master.sys.certificates WHERE name = N'MI_DATABASE_MIRRORING_ENDPOINT'"); len(got) != 1 {
		t.Errorf("mi01 endpoint certificate %v", got)
	}

	// Async: a write is hardened one step later; the lag counts from the
	// first step that saw it behind.
	mustExec(t, e.sql, "USE [sales]; INSERT INTO dbo.orders VALUES (1);")
	first := e.endOfLog(t)
	e.ctl.Advance(time.Second)
	if d := e.status(t); d.LastHardenedLSN == first {
		t.Errorf("async: hardened %s caught up with %s at once", d.LastHardenedLSN, first)
	}
	mustExec(t, e.sql, "USE [sales]; INSERT INTO dbo.orders VALUES (2);")
	e.ctl.Advance(3 * time.Second)
	if d := e.status(t); d.LastHardenedLSN != first || d.SendLagSeconds != 3 {
		t.Errorf("async: hardened %s (want %s), lag %d s (want 3)", d.LastHardenedLSN, first, d.SendLagSeconds)
	}
	if got := scalar(t, e.sql, "SELECT drs.log_send_queue_size FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 0"); got == "0" {
		t.Errorf("sql01 log_send_queue_size %s while behind", got)
	}
	e.ctl.Advance(time.Second)
	if d := e.status(t); d.LastHardenedLSN != e.endOfLog(t) || d.SendLagSeconds != 0 {
		t.Errorf("async: hardened %s, end %s, lag %d after the next step", d.LastHardenedLSN, e.endOfLog(t), d.SendLagSeconds)
	}
	if got := scalar(t, e.mi, "SELECT drs.end_of_log_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 1 AND drs.group_id = (SELECT group_id FROM sys.availability_groups WHERE name = N'link')"); got != e.endOfLog(t) {
		t.Errorf("mi01 end_of_log_lsn %s, sql01 %s", got, e.endOfLog(t))
	}
	// Sync: at the same step.
	if err := e.be.SetReplicationMode("link", "Sync"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, e.sql, "USE [sales]; UPDATE dbo.orders SET id = 2;")
	e.ctl.Advance(time.Second)
	if d := e.status(t); d.LastHardenedLSN != e.endOfLog(t) {
		t.Errorf("sync: hardened %s, end %s", d.LastHardenedLSN, e.endOfLog(t))
	}
	if got := rows(t, e.mi, "SELECT availability_mode_desc FROM sys.availability_replicas WHERE group_id = (SELECT group_id FROM sys.availability_groups WHERE name = N'link')"); strings.Join(got, ",") != "SYNCHRONOUS_COMMIT,SYNCHRONOUS_COMMIT" {
		t.Errorf("mi01 DAG modes %v", got)
	}

	// A read-only copy refuses writes until the link goes.
	if _, err := e.mi.ExecContext(ctx(t), "USE [sales]; INSERT INTO dbo.orders VALUES (3);"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("write on the secondary: %v", err)
	}
	if found, err := e.be.DeleteLink("link"); !found || err != nil {
		t.Fatalf("delete %v %v", found, err)
	}
	mustExec(t, e.mi, "USE [sales]; INSERT INTO dbo.orders VALUES (3);")
	if got := rows(t, e.mi, "SELECT name, state_desc, is_read_only FROM sys.databases WHERE name = N'sales'"); len(got) != 1 || got[0] != "sales ONLINE false" {
		t.Errorf("mi01 database after delete %v", got)
	}
	if got := rows(t, e.mi, "SELECT name FROM sys.availability_groups"); len(got) != 0 {
		t.Errorf("mi01 groups after delete %v", got)
	}
	if got := rows(t, e.sql, "SELECT rs.connected_state_desc FROM sys.dm_hadr_availability_replica_states rs WHERE rs.is_local = 0"); len(got) != 1 || got[0] != "DISCONNECTED" {
		t.Errorf("sql01 remote replica after delete %v", got)
	}
	if len(e.ctl.Links()) != 0 {
		t.Errorf("links left %v", e.ctl.Links())
	}
}

func mustID(t *testing.T, be arm.LinkBackend) string {
	t.Helper()
	st, ok := be.Link("link")
	if !ok {
		t.Fatal("no link")
	}
	return st.ID
}

func (e *linkEnv) endOfLog(t *testing.T) string {
	t.Helper()
	return scalar(t, e.sql, "SELECT drs.end_of_log_lsn FROM sys.dm_hadr_database_replica_states drs WHERE drs.is_local = 1 AND drs.group_id = (SELECT group_id FROM sys.availability_groups WHERE name = N'link')")
}

// Each synchronous refusal has its ARM code and status.
func TestLinkRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skip   []string
		before func(t *testing.T, e *linkEnv)
		spec   func(s *arm.LinkSpec)
		status int
		code   string
	}{
		{name: "database not in the partner AG", spec: func(s *arm.LinkSpec) { s.Databases = []string{"inventory"} }, status: 400, code: "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished"},
		{name: "DAG missing", spec: func(s *arm.LinkSpec) { s.Name = "other" }, status: 400, code: "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished"},
		{name: "instance AG name differs", spec: func(s *arm.LinkSpec) { s.InstanceAG = "AG_other" }, status: 400, code: "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished"},
		{name: "LISTENER_URL without Server=[mi01]", skip: []string{"server-suffix"}, status: 400, code: "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished"},
		{name: "database already on mi01", before: func(t *testing.T, e *linkEnv) { mustExec(t, e.mi, "CREATE DATABASE [sales]") }, status: 409, code: "RemoteDatabaseExists"},
		{name: "link exists", before: func(t *testing.T, e *linkEnv) {
			if err := e.be.CreateLink(e.spec()); err != nil {
				t.Fatal(err)
			}
		}, status: 409, code: "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists"},
		{name: "partner unresolvable", spec: func(s *arm.LinkSpec) { s.PartnerEndpoint = "TCP://sql99.nowhere.invalid:5022" }, status: 400, code: "UnableToResolveRemoteServer"},
		{name: "bad body", spec: func(s *arm.LinkSpec) { s.ReplicationMode = "Fast" }, status: 400, code: "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLinkEnv(t)
			e.setup(t, tc.skip...)
			if tc.before != nil {
				tc.before(t, e)
			}
			s := e.spec()
			if tc.spec != nil {
				tc.spec(&s)
			}
			err := e.be.CreateLink(s)
			var le *arm.LinkError
			if !errors.As(err, &le) || le.Status != tc.status || le.Code != tc.code {
				t.Fatalf("CreateLink: %v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
}

// A TDE database needs its certificate on mi01 first.
func TestLinkTDECertificateMissing(t *testing.T) {
	e := newLinkEnv(t)
	e.db = "payroll"
	e.prepareDB(t, "payroll")
	e.setup(t)
	s := e.spec()
	err := e.be.CreateLink(s)
	var le *arm.LinkError
	if !errors.As(err, &le) || le.Code != "ManagedInstanceLinkTdeCertificateMissing" {
		t.Fatalf("CreateLink: %v", err)
	}
}

// Asynchronous init failures: LinkInitError with the number, and the link
// recovers by itself once the cause is fixed.
func TestLinkInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip []string
		want string
		fix  func(t *testing.T, e *linkEnv)
	}{
		{name: "SQL Server certificate not trusted on mi01", skip: []string{"trust"}, want: "41973:", fix: func(t *testing.T, e *linkEnv) {
			var der []byte
			if err := e.sql.QueryRowContext(ctx(t), "SELECT CERTENCODED(CERT_ID(N'Cert_sql01_endpoint'))").Scan(&der); err != nil {
				t.Fatal(err)
			}
			if err := e.be.PutTrustCertificate("Cert_sql01_endpoint", der); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "mi01 certificate under the wrong name", skip: []string{"partner-name"}, want: "41974:", fix: func(t *testing.T, e *linkEnv) {
			der, _ := e.be.EndpointCertificate()
			mustExec(t, e.sql, "DROP CERTIFICATE [mi01]")
			mustExec(t, e.sql, fmt.Sprintf("USE [master]; CREATE CERTIFICATE [%s] FROM BINARY = 0x%X;", e.fqdn, der))
		}},
		{name: "Azure roots missing", skip: []string{"roots"}, want: "41974:"},
		{name: "endpoint stopped", want: "41986:", fix: func(t *testing.T, e *linkEnv) {
			mustExec(t, e.sql, "ALTER ENDPOINT [database_mirroring_endpoint] STATE = STARTED")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLinkEnv(t)
			e.setup(t, tc.skip...)
			if tc.want == "41986:" {
				mustExec(t, e.sql, "ALTER ENDPOINT [database_mirroring_endpoint] STATE = STOPPED")
			}
			if err := e.be.CreateLink(e.spec()); err != nil {
				t.Fatal(err)
			}
			e.ctl.Advance(time.Second)
			d := e.status(t)
			if d.ReplicaState != "LinkInitError" || !strings.HasPrefix(d.MostRecentLinkError, tc.want) {
				t.Fatalf("%+v, want LinkInitError %s", d, tc.want)
			}
			num := strings.TrimSuffix(tc.want, ":")
			if got := rows(t, e.sql, "SELECT rs.connected_state_desc, rs.last_connect_error_number FROM sys.dm_hadr_availability_replica_states rs WHERE rs.is_local = 0"); len(got) != 1 || got[0] != "DISCONNECTED "+num {
				t.Errorf("sql01 remote replica %v", got)
			}
			if tc.fix == nil {
				return
			}
			tc.fix(t, e)
			e.ctl.Advance(time.Second)
			if d := e.status(t); d.ReplicaState != "Seeding" || d.MostRecentLinkError != "" {
				t.Errorf("after the fix %+v", d)
			}
		})
	}
}

// An expired endpoint certificate stops the link at init.
func TestLinkExpiredCertificate(t *testing.T) {
	e := newLinkEnv(t)
	mustExec(t, e.sql, "USE [master]; CREATE CERTIFICATE [Cert_sql01_endpoint] WITH SUBJECT = N'old', START_DATE = '20200101', EXPIRY_DATE = '20210101';")
	e.setup(t, "cert")
	if err := e.be.CreateLink(e.spec()); err != nil {
		t.Fatal(err)
	}
	e.ctl.Advance(time.Second)
	if d := e.status(t); d.ReplicaState != "LinkInitError" || !strings.Contains(d.MostRecentLinkError, "expired") {
		t.Fatalf("%+v", d)
	}
}

// Faults: port_closed (41986, recovers when off), seeding_interrupted
// (restart from 0, one more attempt), and BACKUP LOG during seeding
// (LinkCreationError 1412).
func TestLinkFaults(t *testing.T) {
	start := func(t *testing.T) *linkEnv {
		e := newLinkEnv(t)
		e.setup(t)
		if err := e.be.CreateLink(e.spec()); err != nil {
			t.Fatal(err)
		}
		return e
	}
	t.Run("port_closed", func(t *testing.T) {
		e := start(t)
		e.ctl.SetFault(lab.LinkFaults[0], true)
		e.ctl.Advance(time.Second)
		if d := e.status(t); d.ReplicaState != "LinkInitError" || !strings.HasPrefix(d.MostRecentLinkError, "41986:") {
			t.Fatalf("%+v", d)
		}
		e.ctl.SetFault("port_closed", false)
		e.ctl.Advance(time.Second)
		if d := e.status(t); d.ReplicaState != "Seeding" {
			t.Fatalf("after the fault %+v", d)
		}
	})
	t.Run("seeding_interrupted", func(t *testing.T) {
		e := start(t)
		e.ctl.Advance(time.Second)
		e.ctl.Advance(time.Second) // part of the way
		e.ctl.SetFault("seeding_interrupted", true)
		e.ctl.Advance(time.Second)
		if d := e.status(t); d.ReplicaState != "Seeding" || d.SeedingProgress != "0%" {
			t.Fatalf("%+v", d)
		}
		if got := rows(t, e.sql, "SELECT a.current_state, a.number_of_attempts FROM sys.dm_hadr_automatic_seeding a"); len(got) != 1 || got[0] != "SEEDING 2" {
			t.Errorf("automatic seeding %v", got)
		}
		e.ctl.Advance(time.Minute)
		if d := e.status(t); d.ReplicaState != "LinkSynchronizing" {
			t.Errorf("after the restart %+v", d)
		}
	})
	t.Run("deleted while seeding", func(t *testing.T) {
		e := start(t)
		e.ctl.Advance(time.Second)
		if _, err := e.be.DeleteLink("link"); err != nil {
			t.Fatal(err)
		}
		if got := rows(t, e.sql, "SELECT s.local_database_name FROM sys.dm_hadr_physical_seeding_stats s"); len(got) != 0 {
			t.Errorf("seeding still running: %v", got)
		}
		if got := rows(t, e.mi, "SELECT name FROM sys.databases WHERE name = N'sales'"); len(got) != 0 {
			t.Errorf("mi01 has the half-seeded database: %v", got)
		}
		// The same link can be made again.
		if err := e.be.CreateLink(e.spec()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("log backup during seeding", func(t *testing.T) {
		e := start(t)
		e.ctl.Advance(time.Second)
		mustExec(t, e.sql, fmt.Sprintf("BACKUP LOG [sales] TO DISK = N'%s/sales.trn'", e.backups))
		e.ctl.Advance(time.Second)
		if d := e.status(t); d.ReplicaState != "LinkCreationError" || !strings.HasPrefix(d.MostRecentLinkError, "1412:") {
			t.Fatalf("%+v", d)
		}
		if got := rows(t, e.sql, "SELECT a.current_state FROM sys.dm_hadr_automatic_seeding a"); len(got) != 1 || got[0] != "FAILED" {
			t.Errorf("automatic seeding %v", got)
		}
	})
}

// The link and its clock survive the lab going down and up; a running
// clock (speed > 0) seeds without Advance.
func TestLinkPersistsAndRunsOnItsClock(t *testing.T) {
	e := newLinkEnv(t)
	e.setup(t)
	if err := e.be.CreateLink(e.spec()); err != nil {
		t.Fatal(err)
	}
	e.ctl.Advance(time.Second)
	dir := e.l.Dir()
	e.l.Close()
	l, err := lab.Open(lab.Config{Dir: dir, LinkSpeed: 200, RestartDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	// At speed 200 a tick may already have finished the seeding: the
	// link must be there, past its creation, either way.
	st, ok := l.LinkBackend().Link("link")
	if !ok || (st.Databases[0].ReplicaState != "Seeding" && st.Databases[0].ReplicaState != "LinkSynchronizing") {
		t.Fatalf("after restart %+v %v", st, ok)
	}
	eventually(t, 20*time.Second, "the link synchronizing on its own clock", func() bool {
		st, _ := l.LinkBackend().Link("link")
		return st.Databases[0].ReplicaState == "LinkSynchronizing"
	})
}
