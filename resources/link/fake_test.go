package link

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	goldenfile "github.com/milink/milink/internal/golden"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	if !strings.HasSuffix(got, "\n") {
		got += "\n"
	}
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), []byte(got))
}

func rng(line int) hcl.Range {
	return hcl.Range{Filename: "main.milink.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 10}}
}

// sqlErr is SQL Server's error as go-mssqldb reports it.
type sqlErr struct {
	n   int32
	msg string
}

func (e sqlErr) Error() string         { return fmt.Sprintf("mssql: %s", e.msg) }
func (e sqlErr) SQLErrorNumber() int32 { return e.n }

// errLost stands for a connection lost after the statement ran.
var errLost = errors.New("connection lost; whether the statement ran is unknown")

// fakeSQL is a SQL Server holding a catalogue: it answers ReadSQL's
// statements from it and carries out the statements milink sends (each
// recognised by its shape), with SQL Server's errors for duplicates.
type sqlFake struct {
	mu    sync.Mutex
	addr  string
	host  string
	cat   Catalogue
	execs []string
	reads int
	// crashAfter: the next Exec runs, then reports a lost connection
	// (a run killed after sending it).
	crashAfter bool
	// failWith: the next Exec fails with this error, without running.
	failWith error
	nextID   int
}

func newSQLFake() *sqlFake {
	return &sqlFake{addr: "sql_server.sql01", host: "127.0.0.2", nextID: 256}
}

func (f *sqlFake) Address() string { return f.addr }
func (f *sqlFake) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return fakeObs{"sql01", "15.0.4322.2"}, nil
}
func (f *sqlFake) Close() error { return nil }
func (f *sqlFake) Server() *sqlserver.Server {
	return &sqlserver.Server{Name: "sql01", Address: f.host}
}

type fakeObs struct{ server, version string }

func (o fakeObs) Summary() resources.TargetSummary { return resources.TargetSummary{} }
func (o fakeObs) Values() map[string]cty.Value {
	return map[string]cty.Value{"server_name": cty.StringVal(o.server), "product_version": cty.StringVal(o.version)}
}

func set(cols string, rows ...[]any) sqlserver.ResultSet {
	return sqlserver.ResultSet{Columns: strings.Split(cols, ","), Rows: rows}
}

func (f *sqlFake) QuerySets(_ context.Context, batch string) ([]sqlserver.ResultSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var out []sqlserver.ResultSet
	c := &f.cat
	if strings.Contains(batch, readCertificates) {
		rs := set("name,certificate_id,thumbprint,expiry_date,pvt_key_encryption_type,subject")
		for _, x := range c.Certificates {
			rs.Rows = append(rs.Rows, []any{x.Name, int64(x.ID), x.Thumbprint, x.Expiry, x.KeyEncryption, x.Subject})
		}
		out = append(out, rs)
	}
	if strings.Contains(batch, readEndpoints) {
		rs := set("name,endpoint_id,state_desc,role_desc,connection_auth_desc,certificate_id,is_encryption_enabled,encryption_algorithm_desc,port")
		for _, e := range c.Endpoints {
			rs.Rows = append(rs.Rows, []any{e.Name, int64(e.ID), e.State, e.Role, e.Auth, int64(e.CertID), e.Encryption, e.Algorithm, int64(e.Port)})
		}
		out = append(out, rs)
	}
	if strings.Contains(batch, readAGs) {
		rs := set("name,group_id,is_distributed,cluster_type_desc")
		for _, g := range c.AGs {
			rs.Rows = append(rs.Rows, []any{g.Name, []byte(g.GroupID), g.Distributed, g.ClusterType})
		}
		reps := set("group_id,replica_id,replica_server_name,endpoint_url,availability_mode_desc,failover_mode_desc,seeding_mode_desc")
		for _, r := range c.Replicas {
			reps.Rows = append(reps.Rows, []any{[]byte(r.GroupID), []byte(r.ReplicaID), r.ServerName, r.EndpointURL, r.AvailabilityMode, r.FailoverMode, r.SeedingMode})
		}
		dbs := set("group_id,database_name")
		for _, d := range c.AGDatabases {
			dbs.Rows = append(dbs.Rows, []any{[]byte(d.GroupID), d.Database})
		}
		out = append(out, rs, reps, dbs)
	}
	if strings.Contains(batch, readStates) {
		rs := set("group_id,replica_id,is_local,role,role_desc,operational_state_desc,connected_state_desc,synchronization_health_desc,last_connect_error_number,last_connect_error_description")
		for _, s := range c.States {
			var errn any
			if s.LastConnectError != 0 {
				errn = int64(s.LastConnectError)
			}
			rs.Rows = append(rs.Rows, []any{[]byte(s.GroupID), []byte(s.ReplicaID), s.Local, uint8(1), s.Role, s.Operational, s.Connected, s.Health, errn, s.LastConnectErrorText})
		}
		drs := set("group_id,replica_id,database_id,database_name,is_local,is_primary_replica,synchronization_state_desc,synchronization_health_desc,last_hardened_lsn,end_of_log_lsn,log_send_queue_size,redo_queue_size")
		for _, d := range c.DBStates {
			drs.Rows = append(drs.Rows, []any{[]byte(d.GroupID), []byte(d.ReplicaID), int64(d.DatabaseID), d.Database, d.Local, d.Primary, d.Sync, d.Health,
				[]byte(d.LastHardenedLSN), []byte(d.EndOfLogLSN), d.LogSendQueue, d.RedoQueue})
		}
		out = append(out, rs, drs)
	}
	if strings.Contains(batch, readSeeding) {
		rs := set("local_database_name,internal_state_desc,database_size_bytes,transferred_size_bytes")
		for _, s := range c.Seeding {
			rs.Rows = append(rs.Rows, []any{s.Database, s.State, s.Size, s.Transferred})
		}
		out = append(out, rs, set("ag_db_id,current_state,is_source,number_of_attempts"))
	}
	// The driver hands the values over as rows of a fresh result set;
	// ParseCatalogue must not keep references into the fake.
	return out, nil
}

var (
	reCreateCert   = regexp.MustCompile(`CREATE CERTIFICATE \[((?:[^\]]|\]\])+)\] WITH SUBJECT = N'((?:[^']|'')*)', EXPIRY_DATE = '(\d{8})'`)
	reBinaryCert   = regexp.MustCompile(`CREATE CERTIFICATE \[((?:[^\]]|\]\])+)\] FROM BINARY = 0x([0-9A-F]+)`)
	reDropCert     = regexp.MustCompile(`DROP CERTIFICATE \[((?:[^\]]|\]\])+)\]`)
	reCreateEP     = regexp.MustCompile(`CREATE ENDPOINT \[((?:[^\]]|\]\])+)\] .*LISTENER_PORT = (\d+).*AUTHENTICATION = CERTIFICATE \[((?:[^\]]|\]\])+)\]`)
	reAlterEP      = regexp.MustCompile(`ALTER ENDPOINT \[((?:[^\]]|\]\])+)\] .*AUTHENTICATION = ((?:WINDOWS NEGOTIATE )?CERTIFICATE) \[((?:[^\]]|\]\])+)\]`)
	reDropEP       = regexp.MustCompile(`DROP ENDPOINT \[((?:[^\]]|\]\])+)\]`)
	reCreateDAG    = regexp.MustCompile(`CREATE AVAILABILITY GROUP \[((?:[^\]]|\]\])+)\] WITH \(DISTRIBUTED\) AVAILABILITY GROUP ON N'([^']+)' WITH \(LISTENER_URL = N'([^']+)', AVAILABILITY_MODE = (\w+).*\), N'([^']+)' WITH \(LISTENER_URL = N'([^']+)'`)
	reCreateAG     = regexp.MustCompile(`CREATE AVAILABILITY GROUP \[((?:[^\]]|\]\])+)\](?: WITH \(CLUSTER_TYPE = (\w+)\))?(?: FOR DATABASE (.*?))? REPLICA ON N'([^']+)' WITH \(ENDPOINT_URL = N'([^']+)'`)
	reModifyDAG    = regexp.MustCompile(`ALTER AVAILABILITY GROUP \[((?:[^\]]|\]\])+)\] MODIFY AVAILABILITY GROUP ON .*AVAILABILITY_MODE = (\w+)\)`)
	reDropAG       = regexp.MustCompile(`DROP AVAILABILITY GROUP \[((?:[^\]]|\]\])+)\]`)
	reIdentInList  = regexp.MustCompile(`\[((?:[^\]]|\]\])+)\]`)
	errUnknownStmt = errors.New("fake: statement not understood")
)

func unq(s string) string { return strings.ReplaceAll(s, "]]", "]") }

func (f *sqlFake) Exec(_ context.Context, batch string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		err := f.failWith
		f.failWith = nil
		return err
	}
	f.execs = append(f.execs, batch)
	if err := f.run(batch); err != nil {
		return err
	}
	if f.crashAfter {
		f.crashAfter = false
		return errLost
	}
	return nil
}

func (f *sqlFake) id() int { f.nextID++; return f.nextID }

func (f *sqlFake) run(batch string) error {
	c := &f.cat
	handled := false
	if m := reDropCert.FindStringSubmatch(batch); m != nil {
		handled = true
		n := unq(m[1])
		x, ok := c.Certificate(n)
		if !ok {
			return sqlErr{15151, "Cannot drop the certificate '" + n + "', because it does not exist or you do not have permission."}
		}
		if len(c.EndpointsUsing(x.ID)) > 0 {
			return sqlErr{15352, "The certificate cannot be dropped because one or more entities are either signed or encrypted using it."}
		}
		f.dropCert(n)
	}
	if m := reCreateCert.FindStringSubmatch(batch); m != nil {
		handled = true
		exp, _ := time.Parse("20060102", m[3])
		der := fakeDER(unq(m[1]), exp)
		if err := f.addCert(unq(m[1]), der, "MK", strings.ReplaceAll(m[2], "''", "'"), exp); err != nil {
			return err
		}
	}
	for _, m := range reBinaryCert.FindAllStringSubmatch(batch, -1) {
		handled = true
		der, _ := azure.ParseHexBlob(m[2])
		if err := f.addCert(unq(m[1]), der, "NA", "", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return err
		}
	}
	if m := reCreateEP.FindStringSubmatch(batch); m != nil {
		handled = true
		if len(c.Endpoints) > 0 {
			return sqlErr{7862, "An endpoint of the requested type already exists. Only one endpoint of this type is supported. Use ALTER ENDPOINT or DROP the existing endpoint and execute the CREATE ENDPOINT statement."}
		}
		port, _ := strconv.Atoi(m[2])
		x, ok := c.Certificate(unq(m[3]))
		if !ok {
			return sqlErr{15151, "Cannot find the certificate '" + unq(m[3]) + "', because it does not exist or you do not have permission."}
		}
		c.Endpoints = append(c.Endpoints, Endpoint{Name: unq(m[1]), ID: 65536, State: "STARTED", Role: "ALL", Auth: "CERTIFICATE", CertID: x.ID, Encryption: true, Algorithm: "AES", Port: port})
	}
	if m := reAlterEP.FindStringSubmatch(batch); m != nil {
		handled = true
		x, ok := c.Certificate(unq(m[3]))
		if !ok {
			return sqlErr{15151, "Cannot find the certificate."}
		}
		for i := range c.Endpoints {
			if c.Endpoints[i].Name == unq(m[1]) {
				e := &c.Endpoints[i]
				e.State, e.Role, e.Auth, e.CertID, e.Encryption, e.Algorithm = "STARTED", "ALL", m[2], x.ID, true, "AES"
			}
		}
	}
	if m := reDropEP.FindStringSubmatch(batch); m != nil {
		handled = true
		c.Endpoints = nil
	}
	if m := reDropAG.FindStringSubmatch(batch); m != nil {
		handled = true
		g, ok := c.AG(unq(m[1]))
		if !ok {
			return sqlErr{15151, "Cannot drop the availability group '" + unq(m[1]) + "', because it does not exist or you do not have permission."}
		}
		f.dropAG(g)
	}
	if m := reCreateDAG.FindStringSubmatch(batch); m != nil {
		handled = true
		if _, ok := c.AG(unq(m[1])); ok {
			return sqlErr{35217, "The availability group '" + unq(m[1]) + "' already exists."}
		}
		gid := fmt.Sprintf("G%d", f.id())
		c.AGs = append(c.AGs, AG{Name: unq(m[1]), GroupID: gid, Distributed: true})
		c.Replicas = append(c.Replicas,
			Replica{GroupID: gid, ReplicaID: fmt.Sprintf("R%d", f.id()), ServerName: m[2], EndpointURL: m[3], AvailabilityMode: m[4]},
			Replica{GroupID: gid, ReplicaID: fmt.Sprintf("R%d", f.id()), ServerName: m[5], EndpointURL: m[6], AvailabilityMode: m[4]})
	} else if m := reCreateAG.FindStringSubmatch(batch); m != nil {
		handled = true
		if _, ok := c.AG(unq(m[1])); ok {
			return sqlErr{35217, "The availability group '" + unq(m[1]) + "' already exists."}
		}
		gid := fmt.Sprintf("G%d", f.id())
		c.AGs = append(c.AGs, AG{Name: unq(m[1]), GroupID: gid, ClusterType: m[2]})
		c.Replicas = append(c.Replicas, Replica{GroupID: gid, ReplicaID: fmt.Sprintf("R%d", f.id()), ServerName: m[4], EndpointURL: m[5], AvailabilityMode: "SYNCHRONOUS_COMMIT"})
		for _, d := range reIdentInList.FindAllStringSubmatch(m[3], -1) {
			c.AGDatabases = append(c.AGDatabases, AGDatabase{GroupID: gid, Database: unq(d[1])})
		}
	}
	if m := reModifyDAG.FindStringSubmatch(batch); m != nil {
		handled = true
		g, ok := c.AG(unq(m[1]))
		if !ok {
			return sqlErr{15151, "Cannot alter the availability group."}
		}
		for i := range c.Replicas {
			if c.Replicas[i].GroupID == g.GroupID {
				c.Replicas[i].AvailabilityMode = m[2]
			}
		}
	}
	if !handled {
		return fmt.Errorf("%w: %s", errUnknownStmt, batch)
	}
	return nil
}

func (f *sqlFake) addCert(name string, der []byte, enc, subject string, exp time.Time) error {
	c := &f.cat
	if _, ok := c.Certificate(name); ok {
		return sqlErr{15232, "A certificate with name '" + name + "' already exists or this certificate already has been added to the database."}
	}
	tp := azure.Thumbprint(der)
	if _, ok := c.CertificateByThumbprint(tp); ok {
		return sqlErr{15232, "A certificate with name '" + name + "' already exists or this certificate already has been added to the database."}
	}
	c.Certificates = append(c.Certificates, Certificate{Name: name, ID: f.id(), Thumbprint: tp, Expiry: exp, KeyEncryption: enc, Subject: subject})
	return nil
}

func (f *sqlFake) dropCert(name string) {
	c := &f.cat
	for i, x := range c.Certificates {
		if strings.EqualFold(x.Name, name) {
			c.Certificates = append(c.Certificates[:i], c.Certificates[i+1:]...)
			return
		}
	}
}

func (f *sqlFake) dropAG(g AG) {
	c := &f.cat
	var ags []AG
	for _, x := range c.AGs {
		if x.GroupID != g.GroupID {
			ags = append(ags, x)
		}
	}
	var reps []Replica
	for _, r := range c.Replicas {
		if r.GroupID != g.GroupID {
			reps = append(reps, r)
		}
	}
	var dbs []AGDatabase
	for _, d := range c.AGDatabases {
		if d.GroupID != g.GroupID {
			dbs = append(dbs, d)
		}
	}
	c.AGs, c.Replicas, c.AGDatabases = ags, reps, dbs
}

// fakeDER is a distinct DER per certificate name (the fake's certificates
// need only distinct thumbprints).
func fakeDER(name string, exp time.Time) []byte {
	return []byte("fake certificate " + name + " " + exp.Format(time.DateOnly))
}

// fakeMI is the managed instance target.
type miFake struct {
	addr, fqdn, name string
	der              []byte
	err              error
	reads            int
}

func (m *miFake) Address() string { return m.addr }
func (m *miFake) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return fakeObs{}, nil
}
func (m *miFake) Close() error { return nil }
func (m *miFake) FQDN() string { return m.fqdn }
func (m *miFake) Name() string { return m.name }
func (m *miFake) EndpointCertificate(context.Context) ([]byte, error) {
	m.reads++
	return m.der, m.err
}

// selfSigned is a real certificate, as Azure returns the managed
// instance's, expiring at notAfter.
func selfSigned(t testing.TB, cn string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newMIFake(t testing.TB) *miFake {
	return &miFake{addr: "managed_instance.mi01", fqdn: "mi01.0123456789ab.database.windows.net", name: "mi01",
		der: selfSigned(t, "mi01.0123456789ab.database.windows.net", time.Now().AddDate(1, 0, 0))}
}

// The kinds' behaviour as the registry and the planner see it.
var (
	_ resources.Resource    = endpointCertImpl{}
	_ resources.Reader      = endpointCertImpl{}
	_ resources.Deleter     = endpointCertImpl{}
	_ resources.Resource    = partnerCertImpl{}
	_ resources.Reader      = partnerCertImpl{}
	_ resources.Deleter     = partnerCertImpl{}
	_ resources.Resource    = endpointImpl{}
	_ resources.Reader      = endpointImpl{}
	_ resources.Deleter     = endpointImpl{}
	_ resources.Resource    = agImpl{}
	_ resources.Reader      = agImpl{}
	_ resources.Deleter     = agImpl{}
	_ resources.Resource    = dagImpl{}
	_ resources.Reader      = dagImpl{}
	_ resources.Deleter     = dagImpl{}
	_ SQLServer             = (*sqlserver.Instance)(nil)
	_ configured            = (*sqlserver.Instance)(nil)
	_ sqlserver.GroupMember = (*AvailabilityGroup)(nil)
)

// cycle runs one kind as the planner does: Read, Diff; then Apply when
// the change does something. It returns the change and the result.
type cycle struct {
	t     *testing.T
	kind  *resources.Kind
	cfg   any
	addr  string
	sql   *sqlFake
	mi    *miFake
	prior *resources.Prior
}

func (c *cycle) diffReq() resources.DiffRequest {
	req := resources.DiffRequest{Address: c.addr, Config: c.cfg, Target: c.sql, Observed: fakeObs{"sql01", "15.0.4322.2"}, Prior: c.prior}
	if c.mi != nil {
		req.Others = map[string]resources.OtherTarget{AttrManagedInstance: {Target: c.mi, Observed: fakeObs{}}}
	}
	return req
}

func (c *cycle) plan() (resources.Change, hcl.Diagnostics) {
	c.t.Helper()
	req := c.diffReq()
	r, diags := c.kind.Impl.(resources.Reader).Read(context.Background(), req)
	if diags.HasErrors() {
		return resources.Change{}, diags
	}
	req.Read = r
	ch, d2 := c.kind.Impl.(resources.Resource).Diff(req)
	ch.Address, ch.Kind, ch.Target = c.addr, c.kind.Type, c.sql.addr
	return ch, append(diags, d2...)
}

func (c *cycle) apply(ch resources.Change) (resources.Result, error) {
	req := resources.ApplyRequest{Change: ch, Config: c.cfg, Target: c.sql}
	if c.mi != nil {
		req.Others = map[string]resources.Target{AttrManagedInstance: c.mi}
	}
	res, err := c.kind.Impl.(resources.Resource).Apply(context.Background(), req)
	if err == nil && res.Attributes != nil {
		c.prior = &resources.Prior{Attributes: res.Attributes}
	}
	return res, err
}

// planDelete plans the removal as the planner does for a block that is
// gone, and applies it.
func (c *cycle) planDelete() resources.Change {
	ch := c.kind.Impl.(resources.Deleter).PlanDelete(*c.prior, c.sql)
	ch.Address, ch.Kind, ch.Target, ch.Action = c.addr, c.kind.Type, c.sql.addr, resources.Delete
	if ch.Before == nil {
		ch.Before = c.prior.Attributes
	}
	return ch
}
