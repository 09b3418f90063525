package engine

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The link simulation (package lab) reads an instance's certificates,
// endpoint, databases and availability groups through these methods, and
// sets what the other side of a link would: a remote replica's state, the
// seeding DMVs, and on the managed instance the database and groups the
// link creates there.

// CertificateInfo is one certificate of master.
type CertificateInfo struct {
	Name       string
	Thumbprint []byte // SHA-1 of DER
	DER        []byte
	Expiry     time.Time
	Issuers    []string // sp_certificate_add_issuer
	PrivateKey bool
}

// Certificates lists master's certificates.
func (i *Instance) Certificates() []CertificateInfo {
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []CertificateInfo
	for _, c := range i.cat.Certificates {
		out = append(out, certInfo(c))
	}
	return out
}

// certInfo is a certificate as the link simulation sees it (copies).
func certInfo(c *certificate) CertificateInfo {
	return CertificateInfo{Name: c.Name, Thumbprint: slices.Clone(c.Thumbprint), DER: slices.Clone(c.DER),
		Expiry: c.Expiry, Issuers: slices.Clone(c.Issuers), PrivateKey: c.KeyEnc != "NO_PRIVATE_KEY"}
}

// EnsureCertificate returns master's certificate of that name, creating
// it (self-signed, key protected by the instance) when missing: the
// managed instance's own DATABASE_MIRRORING endpoint certificate.
func (i *Instance) EnsureCertificate(name, subject string, validity time.Duration) (CertificateInfo, error) {
	i.mu.Lock()
	if c := i.cat.cert(name); c != nil {
		i.mu.Unlock()
		return certInfo(c), nil
	}
	i.mu.Unlock()
	start := time.Now().UTC().Truncate(time.Second)
	cert, err := newCertificate(name, subject, start, start.Add(validity), 0)
	if err != nil {
		return CertificateInfo{}, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if c := i.cat.cert(name); c != nil {
		return certInfo(c), nil
	}
	cert.ID = i.cat.nextID()
	i.cat.Certificates = append(i.cat.Certificates, cert)
	if err := i.saveLocked(); err != nil {
		return CertificateInfo{}, err
	}
	return certInfo(cert), nil
}

// EndpointInfo is the DATABASE_MIRRORING endpoint.
type EndpointInfo struct {
	Name, State string
	Port        int
	Auth        string // connection_auth_desc
	Encryption  string // encryption_algorithm_desc
	Certificate string // "" without certificate authentication
}

// MirroringEndpoint returns the instance's DATABASE_MIRRORING endpoint.
func (i *Instance) MirroringEndpoint() (EndpointInfo, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	// One DATABASE_MIRRORING endpoint per instance (7862).
	if len(i.cat.Endpoints) == 0 {
		return EndpointInfo{}, false
	}
	e := i.cat.Endpoints[0]
	out := EndpointInfo{Name: e.Name, State: e.State, Port: e.Port, Auth: e.Auth, Encryption: e.Encryption}
	if c := i.cat.certByID(e.CertID); c != nil {
		out.Certificate = c.Name
	}
	return out, true
}

// DatabaseInfo is what the link reads of a database.
type DatabaseInfo struct {
	Name             string
	ID               int
	State            string
	ReadOnly         bool
	SizeBytes        int64
	EndOfLogLSN      int64
	LastLogBackupLSN int64 // 0: none
	LogBackups       int
	TDEThumbprint    []byte // the certificate protecting its encryption key; nil without TDE
}

// Database returns a database by name.
func (i *Instance) Database(name string) (DatabaseInfo, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	d := i.cat.db(name)
	if d == nil {
		return DatabaseInfo{}, false
	}
	out := DatabaseInfo{Name: d.Name, ID: d.ID, State: d.State, ReadOnly: d.ReadOnly, SizeBytes: d.Pages * 8192,
		EndOfLogLSN: i.cat.endOfLog(d), LogBackups: d.LogBackups}
	if d.LastLogBackupLSN != nil {
		out.LastLogBackupLSN = *d.LastLogBackupLSN
	}
	for _, k := range i.cat.DEKs {
		if k.DatabaseID == d.ID && len(k.Thumbprint) > 0 {
			out.TDEThumbprint = slices.Clone(k.Thumbprint)
		}
	}
	return out, true
}

// AGInfo is an availability group.
type AGInfo struct {
	Name        string
	ID          [16]byte
	Distributed bool
	Databases   []string
	Replicas    []ReplicaInfo
}

// ReplicaInfo is one replica of an availability group (for a distributed
// group, Server is a member group's name and EndpointURL its LISTENER_URL).
type ReplicaInfo struct {
	ID          [16]byte
	Server      string
	EndpointURL string
	Mode        string
	Local       bool
}

// AvailabilityGroup returns an availability group by name.
func (i *Instance) AvailabilityGroup(name string) (AGInfo, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	a := i.cat.ag(name)
	if a == nil {
		return AGInfo{}, false
	}
	out := AGInfo{Name: a.Name, ID: a.ID, Distributed: a.Distributed}
	for _, d := range i.cat.agDatabases(a) {
		out.Databases = append(out.Databases, d.Name)
	}
	for _, r := range a.Replicas {
		out.Replicas = append(out.Replicas, ReplicaInfo{ID: r.ID, Server: r.Server, EndpointURL: r.EndpointURL, Mode: r.Mode, Local: r.Local})
	}
	return out, true
}

// RemoteState is the state of a remote replica of a group, as seen from
// this instance.
type RemoteState struct {
	Connected bool
	Health    string // HEALTHY, NOT_HEALTHY
	ErrNumber int
	ErrText   string
	Databases []RemoteDatabase
}

// RemoteDatabase is a database on a remote replica.
type RemoteDatabase struct {
	Name        string
	SyncState   string // SYNCHRONIZING, SYNCHRONIZED, NOT SYNCHRONIZING
	Health      string
	HardenedLSN int64
}

// SetRemoteReplica sets what this instance sees of a remote replica of
// group ag (for a distributed group, replica is the other member group's
// name). A missing group or replica is not an error: the user may have
// dropped it.
func (i *Instance) SetRemoteReplica(ag, replica string, st RemoteState) {
	i.mu.Lock()
	defer i.mu.Unlock()
	a := i.cat.ag(ag)
	if a == nil {
		return
	}
	changed := false
	for _, r := range a.Replicas {
		if r.Local || !equalFold(r.Server, replica) {
			continue
		}
		var dbs []*remoteReplicaDB
		for _, d := range st.Databases {
			dbs = append(dbs, &remoteReplicaDB{Database: d.Name, SyncState: d.SyncState, Health: d.Health, HardenedLSN: d.HardenedLSN})
		}
		same := r.Connected == st.Connected && r.Health == st.Health && r.ErrNumber == st.ErrNumber && r.ErrText == st.ErrText &&
			slices.EqualFunc(r.RemoteDBs, dbs, func(x, y *remoteReplicaDB) bool { return *x == *y })
		if !same {
			r.Connected, r.Health, r.ErrNumber, r.ErrText, r.RemoteDBs = st.Connected, st.Health, st.ErrNumber, st.ErrText, dbs
			changed = true
		}
	}
	// The simulation steps often: write only what changed.
	if changed {
		_ = i.saveLocked()
	}
}

// SeedingState is one automatic seeding of a database of group ag.
type SeedingState struct {
	AG, Database string
	State        string // SEEDING, COMPLETED, FAILED
	IsSource     bool
	Size         int64
	Transferred  int64
	Attempts     int
}

// SetSeeding records (or updates) the seeding of a database of a group in
// sys.dm_hadr_automatic_seeding and, while it runs,
// sys.dm_hadr_physical_seeding_stats.
func (i *Instance) SetSeeding(st SeedingState) {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	a := c.ag(st.AG)
	if a == nil {
		return
	}
	var rec *seedingRecord
	for _, r := range c.Seeding {
		if r.GroupID == a.ID && equalFold(r.Database, st.Database) {
			rec = r
		}
	}
	if rec == nil {
		rec = &seedingRecord{ID: uuid.New(), GroupID: a.ID, Database: st.Database}
		if d := c.db(st.Database); d != nil && d.GroupDatabaseID != nil {
			rec.AGDBID = *d.GroupDatabaseID
		} else {
			rec.AGDBID = groupDatabaseID(a.ID)
		}
		c.Seeding = append(c.Seeding, rec)
	}
	if rec.State == st.State && rec.IsSource == st.IsSource && rec.Size == st.Size && rec.Transferred == st.Transferred && rec.Attempts == st.Attempts {
		return
	}
	rec.State, rec.IsSource, rec.Size, rec.Transferred, rec.Attempts = st.State, st.IsSource, st.Size, st.Transferred, st.Attempts
	_ = i.saveLocked()
}

// LinkJoin is what a link creates on the managed instance once seeding
// is done: the database (a read-only secondary copy), the instance's own
// group with that database, and the distributed group.
type LinkJoin struct {
	DAG, DAGMode        string // the distributed group; its availability mode (ASYNCHRONOUS_COMMIT / SYNCHRONOUS_COMMIT)
	InstanceAG          string
	PartnerAG           string
	PartnerURL          string // the SQL Server's LISTENER_URL
	InstanceURL         string // the managed instance's own (tcp://fqdn:5022)
	Database            string
	SizeBytes           int64
	LSN                 int64
	DAGID               [16]byte // the same group id as on the SQL Server
	PartnerID, MemberID [16]byte // the replica ids of the two member groups
}

// JoinLink creates (or refreshes) the managed instance's side of a link.
func (i *Instance) JoinLink(j LinkJoin) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	d := c.db(j.Database)
	if d == nil {
		created := time.Now().UTC().Truncate(time.Second)
		d = &database{Name: j.Database, ID: c.nextDatabaseID(), Recovery: "FULL", State: "ONLINE", Created: created, Pages: max(j.SizeBytes/8192, 1)}
		c.Databases = append(c.Databases, d)
	}
	d.ReadOnly = true
	d.EndOfLogLSN = j.LSN
	mi := c.ag(j.InstanceAG)
	if mi == nil {
		mi = &availabilityGroup{Name: j.InstanceAG, ID: uuid.New(), ClusterType: "NONE"}
		mi.Replicas = []*agReplica{{ID: uuid.New(), Server: i.serverName(), EndpointURL: j.InstanceURL, Mode: "SYNCHRONOUS_COMMIT",
			Failover: "MANUAL", Seeding: "AUTOMATIC", SessionTimeout: 10, Local: true, Primary: true}}
		c.AGs = append(c.AGs, mi)
	}
	if d.GroupDatabaseID == nil {
		g := groupDatabaseID(mi.ID)
		d.GroupDatabaseID = &g
	}
	dag := c.ag(j.DAG)
	if dag == nil {
		dag = &availabilityGroup{Name: j.DAG, ID: j.DAGID, ClusterType: "NONE", Distributed: true}
		dag.Replicas = []*agReplica{
			{ID: j.PartnerID, Server: j.PartnerAG, EndpointURL: j.PartnerURL, Failover: "MANUAL", Seeding: "AUTOMATIC", SessionTimeout: 20, Primary: true},
			{ID: j.MemberID, Server: j.InstanceAG, EndpointURL: j.InstanceURL, Failover: "MANUAL", Seeding: "AUTOMATIC", SessionTimeout: 20, Local: true},
		}
		c.AGs = append(c.AGs, dag)
	}
	for _, r := range dag.Replicas {
		r.Mode = j.DAGMode
	}
	return i.saveLocked()
}

// SetDatabaseLSN sets a database's end_of_log_lsn (the managed instance's
// copy hardening what the SQL Server sent).
func (i *Instance) SetDatabaseLSN(name string, lsn int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if d := i.cat.db(name); d != nil && d.EndOfLogLSN != lsn {
		d.EndOfLogLSN = lsn
		_ = i.saveLocked()
	}
}

// LeaveLink removes the managed instance's side of a link: the
// distributed group and the instance's group go; the database stays,
// ONLINE and read/write.
func (i *Instance) LeaveLink(dag, instanceAG string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	if a := c.ag(instanceAG); a != nil {
		for _, d := range c.agDatabases(a) {
			d.ReadOnly = false
			d.State = "ONLINE"
		}
		c.dropAGLocked(a)
	}
	if a := c.ag(dag); a != nil {
		c.dropAGLocked(a)
	}
	_ = i.saveLocked()
}

// TrustCertificates are the certificates a managed instance trusts
// (serverTrustCertificates), by name.
func (i *Instance) TrustCertificates() map[string][]byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := map[string][]byte{}
	for _, t := range i.cat.TrustCerts {
		out[t.Name] = slices.Clone(t.DER)
	}
	return out
}

// PutTrustCertificate adds or replaces a trusted certificate.
func (i *Instance) PutTrustCertificate(name string, der []byte) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, t := range i.cat.TrustCerts {
		if strings.EqualFold(t.Name, name) {
			t.DER = slices.Clone(der)
			return i.saveLocked()
		}
	}
	i.cat.TrustCerts = append(i.cat.TrustCerts, &trustCert{Name: name, DER: slices.Clone(der)})
	return i.saveLocked()
}

// DeleteTrustCertificate removes a trusted certificate.
func (i *Instance) DeleteTrustCertificate(name string) (bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, t := range i.cat.TrustCerts {
		if strings.EqualFold(t.Name, name) {
			i.cat.TrustCerts = append(i.cat.TrustCerts[:k], i.cat.TrustCerts[k+1:]...)
			return true, i.saveLocked()
		}
	}
	return false, nil
}

// HasCertificateThumbprint reports whether master holds a certificate with
// this thumbprint.
func (i *Instance) HasCertificateThumbprint(tp []byte) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, c := range i.cat.Certificates {
		if bytes.Equal(c.Thumbprint, tp) {
			return true
		}
	}
	return false
}

// ServerName is @@SERVERNAME.
func (i *Instance) ServerName() string { return i.serverName() }

// nextDatabaseID is the id a new user database gets: after every other
// (1 to 4 are the system databases).
func (c *catalog) nextDatabaseID() int {
	id := 5
	for _, d := range c.Databases {
		id = max(id, d.ID+1)
	}
	return id
}

// GUIDString renders a uniqueidentifier as SQL Server shows it (CAST to
// nvarchar), so that an id Resource Manager reports matches the catalogue's.
func GUIDString(g [16]byte) string { return guidString(g) }
