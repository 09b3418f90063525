package engine

import (
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// This file holds what the managed instance link needs of an instance:
// availability groups with their replicas (CLUSTER_TYPE = NONE, the
// DISTRIBUTED form and its MODIFY), the HADR catalogue views and DMVs, the
// per-database log (end_of_log_lsn moved by writes and backups), and the
// state the link simulation (package lab) sets: a remote replica's
// connection and LSNs, seeding, the managed instance's side of a link.

// hadrCatalog is the server-wide HADR state beside dbaCatalog.
type hadrCatalog struct {
	// Seeding is sys.dm_hadr_automatic_seeding's history; the running
	// ones are sys.dm_hadr_physical_seeding_stats.
	Seeding []*seedingRecord `json:"automatic_seeding,omitempty"`
	// TrustCerts are the SQL Server certificates a managed instance trusts
	// (ARM serverTrustCertificates), by name.
	TrustCerts []*trustCert `json:"server_trust_certificates,omitempty"`
}

type trustCert struct {
	Name string `json:"name"`
	DER  []byte `json:"der"`
}

type seedingRecord struct {
	ID          [16]byte `json:"operation_id"`
	GroupID     [16]byte `json:"group_id"`
	AGDBID      [16]byte `json:"ag_db_id"`
	Database    string   `json:"database"`
	State       string   `json:"current_state"` // SEEDING, COMPLETED, FAILED
	IsSource    bool     `json:"is_source"`
	Size        int64    `json:"database_size_bytes"`
	Transferred int64    `json:"transferred_size_bytes"`
	Attempts    int      `json:"number_of_attempts"`
}

// agReplica is one replica of an availability group: a server, or for a
// distributed group one of its two member groups.
type agReplica struct {
	ID             [16]byte `json:"replica_id"`
	Server         string   `json:"replica_server_name"`
	EndpointURL    string   `json:"endpoint_url"`
	Mode           string   `json:"availability_mode_desc"`
	Failover       string   `json:"failover_mode_desc"`
	Seeding        string   `json:"seeding_mode_desc"`
	SessionTimeout int      `json:"session_timeout"`
	Local          bool     `json:"is_local"`
	Primary        bool     `json:"primary"`
	// The state of a remote replica, as the link simulation sets it.
	Connected bool               `json:"connected,omitempty"`
	Health    string             `json:"health,omitempty"`
	ErrNumber int                `json:"last_connect_error_number,omitempty"`
	ErrText   string             `json:"last_connect_error_description,omitempty"`
	RemoteDBs []*remoteReplicaDB `json:"databases,omitempty"`
}

type remoteReplicaDB struct {
	Database    string `json:"database"`
	SyncState   string `json:"synchronization_state_desc"`
	Health      string `json:"synchronization_health_desc"`
	HardenedLSN int64  `json:"last_hardened_lsn"`
}

// agStmt is CREATE AVAILABILITY GROUP (both forms) and ALTER AVAILABILITY
// GROUP ... MODIFY / GRANT.
type agStmt struct {
	op          string // "CREATE", "MODIFY AG", "MODIFY REPLICA", "GRANT CREATE ANY DATABASE", "DENY CREATE ANY DATABASE"
	name        string
	distributed bool
	clusterType string // "" when not given
	withOpts    []string
	databases   []string
	forGiven    bool
	replicas    []replicaSpec
}

type replicaSpec struct {
	server string
	opts   map[string]string // upper-case option → value as written
}

// writeStmt is a data or schema change the lab does not model beyond the
// log it writes: INSERT, UPDATE, DELETE, MERGE, TRUNCATE TABLE, CREATE
// TABLE/INDEX/VIEW/PROCEDURE. It advances the database's end_of_log_lsn.
type writeStmt struct {
	verb string
	db   string // from a three-part name; "" is the session's
}

// parseAG parses what follows CREATE AVAILABILITY GROUP.
func (p *parser) parseCreateAG() (stmt, *sqlError) {
	n, err := p.ident()
	if err != nil {
		return nil, err
	}
	x := &agStmt{op: "CREATE", name: n}
	if p.accept("WITH") {
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			o = strings.ToUpper(o)
			x.withOpts = append(x.withOpts, o)
			switch o {
			case "DISTRIBUTED":
				x.distributed = true
			default:
				v, err := p.optValue()
				if err != nil {
					return nil, err
				}
				if o == "CLUSTER_TYPE" {
					x.clusterType = strings.ToUpper(v)
					if x.clusterType != "NONE" && x.clusterType != "WSFC" && x.clusterType != "EXTERNAL" {
						return nil, syntaxNear(v)
					}
				}
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if x.distributed {
		if err := p.expectSeq("AVAILABILITY", "GROUP", "ON"); err != nil {
			return nil, err
		}
		if x.replicas, err = p.replicaList(); err != nil {
			return nil, err
		}
		if len(x.replicas) != 2 {
			return nil, syntaxNear(";")
		}
		return x, nil
	}
	if p.accept("FOR") {
		x.forGiven = true
		if p.accept("DATABASE") {
			for {
				d, err := p.ident()
				if err != nil {
					return nil, err
				}
				x.databases = append(x.databases, d)
				if !p.acceptOp(",") {
					break
				}
			}
		}
	}
	if err := p.expectSeq("REPLICA", "ON"); err != nil {
		return nil, err
	}
	if x.replicas, err = p.replicaList(); err != nil {
		return nil, err
	}
	return x, nil
}

// replicaList reads N'name' WITH (OPT = value, ...) [, ...]. A nested
// option list (SECONDARY_ROLE (...)) is read, not kept.
func (p *parser) replicaList() ([]replicaSpec, *sqlError) {
	var out []replicaSpec
	for {
		srv, err := p.stringLit()
		if err != nil {
			return nil, err
		}
		r := replicaSpec{server: srv, opts: map[string]string{}}
		if err := p.expect("WITH"); err != nil {
			return nil, err
		}
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			if p.peek().isOp("(") {
				if err := p.skipParens(); err != nil {
					return nil, err
				}
			} else {
				v, err := p.optValue()
				if err != nil {
					return nil, err
				}
				r.opts[strings.ToUpper(o)] = v
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		out = append(out, r)
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}

// parseAlterAG parses MODIFY ... and GRANT/DENY CREATE ANY DATABASE after
// ALTER AVAILABILITY GROUP [name]; ok false for the other forms.
func (p *parser) parseAlterAG(name string) (stmt, bool, *sqlError) {
	switch {
	case p.accept("MODIFY"):
		x := &agStmt{op: "MODIFY REPLICA", name: name}
		if p.accept("AVAILABILITY") {
			if err := p.expect("GROUP"); err != nil {
				return nil, true, err
			}
			x.op = "MODIFY AG"
		} else if err := p.expect("REPLICA"); err != nil {
			return nil, true, err
		}
		if err := p.expect("ON"); err != nil {
			return nil, true, err
		}
		r, err := p.replicaList()
		if err != nil {
			return nil, true, err
		}
		x.replicas = r
		return x, true, nil
	case p.accept("GRANT"), p.accept("DENY"):
		op := strings.ToUpper(p.toks[p.i-1].text) + " CREATE ANY DATABASE"
		if err := p.expectSeq("CREATE", "ANY", "DATABASE"); err != nil {
			return nil, true, err
		}
		return &agStmt{op: op, name: name}, true, nil
	}
	return nil, false, nil
}

// parseWrite reads a write statement (its verb already read) up to its
// end: a semicolon, the end of the batch, or an END closing an enclosing
// block; a procedure or view takes the rest of the batch.
func (p *parser) parseWrite(verb string) (stmt, *sqlError) {
	x := &writeStmt{verb: verb}
	switch x.verb {
	case "INSERT", "DELETE", "UPDATE", "MERGE", "TRUNCATE":
		p.accept("INTO")
		p.accept("FROM")
		p.accept("TABLE")
	}
	whole := verb == "CREATE PROCEDURE" || verb == "CREATE PROC" || verb == "CREATE VIEW"
	if verb == "CREATE INDEX" {
		// CREATE INDEX ix ON [db].dbo.t (c)
		if _, err := p.ident(); err != nil {
			return nil, err
		}
		if err := p.expect("ON"); err != nil {
			return nil, err
		}
	}
	if nm, err := p.name(); err == nil && len(nm) >= 3 {
		x.db = nm[len(nm)-3]
	} else if err != nil {
		return nil, err
	}
	depth, cases := 0, 0
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return x, nil
		case whole:
		case depth == 0 && t.isOp(";"):
			return x, nil
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			if depth == 0 {
				return nil, p.errNear()
			}
			depth--
		case t.is("CASE"):
			cases++
		case t.is("END"):
			if cases == 0 && depth == 0 {
				return x, nil
			}
			if cases > 0 {
				cases--
			}
		}
		p.i++
	}
}

func (s *Session) execWrite(x *writeStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	name := s.db
	if x.db != "" {
		name = x.db
	}
	d := i.cat.db(name)
	if d == nil {
		return errf(911, 16, "Database '%s' does not exist. Make sure that the name is entered correctly.", name)
	}
	if d.State != "ONLINE" {
		return errf(942, 14, "Database '%s' cannot be opened because it is offline.", d.Name)
	}
	if d.ReadOnly {
		return errf(3906, 16, "Failed to update database \"%s\" because the database is read-only.", d.Name)
	}
	d.EndOfLogLSN = i.cat.lsn()
	d.Pages++
	s.changed = true
	if err := i.persistLocked(); err != nil {
		return err
	}
	if strings.HasPrefix(x.verb, "CREATE") || x.verb == "TRUNCATE" {
		return nil
	}
	s.done(1)
	return nil
}

// endOfLog is a database's end_of_log_lsn; a database that has not
// written since the lab began gets one now.
func (c *catalog) endOfLog(d *database) int64 {
	if d.EndOfLogLSN == 0 {
		d.EndOfLogLSN = c.lsn()
	}
	return d.EndOfLogLSN
}

// agDatabases are the databases of an availability group; a distributed
// group's are those of its local member group.
func (c *catalog) agDatabases(a *availabilityGroup) []*database {
	if a.Distributed {
		for _, r := range a.Replicas {
			if m := c.ag(r.Server); m != nil && !m.Distributed {
				return c.agDatabases(m)
			}
		}
		return nil
	}
	var out []*database
	for _, d := range c.Databases {
		if c.agOfDatabase(d) == a {
			out = append(out, d)
		}
	}
	return out
}

func replicaOpt(r replicaSpec, key, def string) string {
	if v, ok := r.opts[key]; ok {
		return strings.ToUpper(v)
	}
	return def
}

func (s *Session) execAG(x *agStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	if !i.startup.Hadr {
		return hadrDisabled()
	}
	switch x.op {
	case "CREATE":
		if c.ag(x.name) != nil {
			return errf(35217, 16, "The availability group '%s' already exists. Specify a unique name for the availability group.", x.name)
		}
		// CLUSTER_TYPE and DISTRIBUTED came with SQL Server 2017 and 2016.
		if x.clusterType != "" && i.opts.Profile.compatibilityLevel() < 140 {
			return errf(155, 15, "'CLUSTER_TYPE' is not a recognized CREATE AVAILABILITY GROUP option.")
		}
		ag := &availabilityGroup{Name: x.name, ID: uuid.New(), ClusterType: x.clusterType, Distributed: x.distributed}
		if ag.ClusterType == "" {
			ag.ClusterType = "WSFC"
		}
		if x.distributed {
			local := 0
			for _, r := range x.replicas {
				if _, ok := r.opts["LISTENER_URL"]; !ok {
					return errf(35250, 16, "The LISTENER_URL option is required for each availability group of the distributed availability group '%s'.", x.name)
				}
				if m := c.ag(r.server); m != nil && !m.Distributed {
					local++
				}
			}
			if local == 0 {
				return errf(15151, 16, "Cannot find the availability group '%s', because it does not exist or you do not have permission.", x.replicas[0].server)
			}
			ag.ClusterType = "NONE"
		} else {
			if ag.ClusterType == "WSFC" && !i.opts.Profile.Clustered && i.opts.Profile.OS != "windows" {
				return errf(35220, 16, "Could not process the operation. Always On Availability Groups does not have permissions to access the Windows Server Failover Clustering (WSFC) cluster. Disconnect and reconnect to the local instance of SQL Server, and retry the operation. If the error persists, create the availability group with CLUSTER_TYPE = NONE.")
			}
			for _, dn := range x.databases {
				d := c.db(dn)
				if d == nil {
					return errf(35209, 16, "The database '%s' does not exist on this instance of SQL Server.", dn)
				}
				if d.GroupDatabaseID != nil {
					return errf(35223, 16, "Cannot add %d availability database(s) to availability group '%s'. The availability group already contains the maximum number of availability databases, or the database '%s' is already joined to an availability group.", 1, x.name, d.Name)
				}
				if d.Recovery != "FULL" {
					return errf(1465, 16, "Database \"%s\" database is not in full recovery mode on each of the server instances. The full recovery model is required for a database to participate in database mirroring or in an availability group.", d.Name)
				}
				if d.LastLogBackupLSN == nil {
					return errf(1475, 16, "Database \"%s\" might contain bulk logged changes that have not been backed up. Take a log backup on the principal database or primary database. Then restore this backup either on the mirror database to enable database mirroring or on every secondary database to enable you to join it to the availability group.", d.Name)
				}
			}
		}
		for _, r := range x.replicas {
			rep := &agReplica{ID: uuid.New(), Server: r.server, Mode: replicaOpt(r, "AVAILABILITY_MODE", ""),
				Failover: replicaOpt(r, "FAILOVER_MODE", "MANUAL"), Seeding: replicaOpt(r, "SEEDING_MODE", "MANUAL"), SessionTimeout: 10}
			if x.distributed {
				rep.EndpointURL = r.opts["LISTENER_URL"]
				rep.Local = c.ag(r.server) != nil
			} else {
				rep.EndpointURL = r.opts["ENDPOINT_URL"]
				rep.Local = equalFold(r.server, i.serverName())
			}
			if v, ok := r.opts["SESSION_TIMEOUT"]; ok {
				fmt.Sscan(v, &rep.SessionTimeout)
			}
			if rep.Mode == "" {
				return errf(35245, 16, "The AVAILABILITY_MODE option is required for replica '%s'.", r.server)
			}
			if rep.Mode != "SYNCHRONOUS_COMMIT" && rep.Mode != "ASYNCHRONOUS_COMMIT" && rep.Mode != "CONFIGURATION_ONLY" {
				return syntaxNear(rep.Mode)
			}
			rep.Primary = rep.Local
			ag.Replicas = append(ag.Replicas, rep)
		}
		c.AGs = append(c.AGs, ag)
		for _, dn := range x.databases {
			g := groupDatabaseID(ag.ID)
			c.db(dn).GroupDatabaseID = &g
		}
	case "MODIFY AG", "MODIFY REPLICA":
		ag := c.ag(x.name)
		if ag == nil {
			return errf(15151, 16, "Cannot alter the availability group '%s', because it does not exist or you do not have permission.", x.name)
		}
		if (x.op == "MODIFY AG") != ag.Distributed {
			return syntaxNear("MODIFY")
		}
		for _, r := range x.replicas {
			var rep *agReplica
			for _, e := range ag.Replicas {
				if equalFold(e.Server, r.server) {
					rep = e
				}
			}
			if rep == nil {
				return errf(35226, 16, "The replica '%s' is not part of availability group '%s'.", r.server, ag.Name)
			}
			rep.Mode = replicaOpt(r, "AVAILABILITY_MODE", rep.Mode)
			rep.Failover = replicaOpt(r, "FAILOVER_MODE", rep.Failover)
			rep.Seeding = replicaOpt(r, "SEEDING_MODE", rep.Seeding)
			if v, ok := r.opts["LISTENER_URL"]; ok {
				rep.EndpointURL = v
			}
			if v, ok := r.opts["ENDPOINT_URL"]; ok {
				rep.EndpointURL = v
			}
		}
	case "GRANT CREATE ANY DATABASE", "DENY CREATE ANY DATABASE":
		ag := c.ag(x.name)
		if ag == nil {
			return errf(15151, 16, "Cannot alter the availability group '%s', because it does not exist or you do not have permission.", x.name)
		}
		ag.GrantCreateDB = x.op == "GRANT CREATE ANY DATABASE"
	}
	s.changed = true
	return i.persistLocked()
}

// dropAGLocked removes an availability group and frees its databases.
func (c *catalog) dropAGLocked(ag *availabilityGroup) {
	for _, d := range c.Databases {
		if c.agOfDatabase(d) == ag {
			d.GroupDatabaseID = nil
		}
	}
	var keep []*availabilityGroup
	for _, e := range c.AGs {
		if e != ag {
			keep = append(keep, e)
		}
	}
	c.AGs = keep
	var seeds []*seedingRecord
	for _, r := range c.Seeding {
		if r.GroupID != ag.ID {
			seeds = append(seeds, r)
		}
	}
	c.Seeding = seeds
}

// lookupHADRTable materialises the HADR views; ok false for other names.
// Called with i.mu held.
func (s *Session) lookupHADRTable(view string) (*table, bool) {
	i := s.inst
	c := i.cat
	t := &table{name: view[strings.IndexByte(view, '.')+1:]}
	modern := i.opts.Profile.compatibilityLevel() >= 140
	switch view {
	case "sys.availability_groups":
		t.cols = cols("group_id", tGUID, "name", tNVarChar(128), "resource_id", tNVarChar(40), "is_distributed", tBit)
		if modern {
			// cluster_type came with SQL Server 2017.
			t.cols = append(t.cols, cols("cluster_type", tTinyInt, "cluster_type_desc", tNVarChar(60))...)
		}
		for _, a := range c.AGs {
			row := []any{a.ID, a.Name, nil, a.Distributed}
			if modern {
				ct := a.clusterType()
				row = append(row, map[string]int64{"WSFC": 0, "EXTERNAL": 1, "NONE": 2}[ct], strings.ToLower(ct))
			}
			t.rows = append(t.rows, row)
		}
	case "sys.availability_replicas":
		t.cols = cols("group_id", tGUID, "replica_id", tGUID, "replica_server_name", tNVarChar(256), "endpoint_url", tNVarChar(128),
			"availability_mode", tTinyInt, "availability_mode_desc", tNVarChar(60), "failover_mode", tTinyInt, "failover_mode_desc", tNVarChar(60),
			"session_timeout", tInt, "seeding_mode", tTinyInt, "seeding_mode_desc", tNVarChar(60))
		for _, a := range c.AGs {
			for _, r := range a.Replicas {
				t.rows = append(t.rows, []any{a.ID, r.ID, r.Server, r.EndpointURL,
					map[string]int64{"ASYNCHRONOUS_COMMIT": 0, "SYNCHRONOUS_COMMIT": 1, "CONFIGURATION_ONLY": 4}[r.Mode], r.Mode,
					map[string]int64{"AUTOMATIC": 0, "MANUAL": 1, "EXTERNAL": 2}[r.Failover], r.Failover,
					int64(r.SessionTimeout), map[string]int64{"AUTOMATIC": 0, "MANUAL": 1}[r.Seeding], r.Seeding})
			}
		}
	case "sys.dm_hadr_availability_replica_states":
		t.cols = cols("replica_id", tGUID, "group_id", tGUID, "is_local", tBit, "role", tTinyInt, "role_desc", tNVarChar(60),
			"operational_state", tTinyInt, "operational_state_desc", tNVarChar(60), "connected_state", tTinyInt, "connected_state_desc", tNVarChar(60),
			"recovery_health_desc", tNVarChar(60), "synchronization_health", tTinyInt, "synchronization_health_desc", tNVarChar(60),
			"last_connect_error_number", tInt, "last_connect_error_description", tNVarChar(1024), "last_connect_error_timestamp", tDateTime)
		for _, a := range c.AGs {
			for _, r := range a.Replicas {
				row := []any{r.ID, a.ID, r.Local}
				var role, roleDesc, op, opDesc, rec any
				conn, health := r.Connected, r.Health
				if r.Local {
					conn, health = true, "HEALTHY"
					op, opDesc, rec = int64(2), "ONLINE", "ONLINE"
				}
				if r.Local || r.Connected {
					role, roleDesc = int64(2), "SECONDARY"
					if r.Primary {
						role, roleDesc = int64(1), "PRIMARY"
					}
				}
				if health == "" {
					health = "NOT_HEALTHY"
				}
				cs, csd := int64(0), "DISCONNECTED"
				if conn {
					cs, csd = 1, "CONNECTED"
				}
				var en, et, ets any
				if r.ErrNumber != 0 {
					en, et, ets = int64(r.ErrNumber), r.ErrText, nowUTC()
				}
				row = append(row, role, roleDesc, op, opDesc, cs, csd, rec,
					map[string]int64{"NOT_HEALTHY": 0, "PARTIALLY_HEALTHY": 1, "HEALTHY": 2}[health], health, en, et, ets)
				t.rows = append(t.rows, row)
			}
		}
	case "sys.dm_hadr_database_replica_states":
		t.cols = cols("database_id", tInt, "group_id", tGUID, "group_database_id", tGUID, "replica_id", tGUID, "is_local", tBit,
			"is_primary_replica", tBit, "synchronization_state", tTinyInt, "synchronization_state_desc", tNVarChar(60),
			"synchronization_health", tTinyInt, "synchronization_health_desc", tNVarChar(60),
			"last_hardened_lsn", tLSN, "end_of_log_lsn", tLSN, "last_commit_lsn", tLSN, "log_send_queue_size", tBigInt, "redo_queue_size", tBigInt)
		syncCode := map[string]int64{"NOT SYNCHRONIZING": 0, "SYNCHRONIZING": 1, "SYNCHRONIZED": 2, "REVERTING": 3, "INITIALIZING": 4}
		healthCode := map[string]int64{"NOT_HEALTHY": 0, "PARTIALLY_HEALTHY": 1, "HEALTHY": 2}
		for _, a := range c.AGs {
			for _, d := range c.agDatabases(a) {
				var gid any
				if d.GroupDatabaseID != nil {
					gid = *d.GroupDatabaseID
				}
				end := c.endOfLog(d)
				if len(a.Replicas) == 0 {
					// A group joined by the older JOIN statement has no
					// replica rows: one local row.
					t.rows = append(t.rows, []any{int64(d.ID), a.ID, gid, nil, true, !a.Secondary, int64(2), "SYNCHRONIZED",
						int64(2), "HEALTHY", end, end, end, int64(0), int64(0)})
					continue
				}
				for _, r := range a.Replicas {
					if r.Local {
						st := "SYNCHRONIZED"
						if !r.Primary && r.Mode == "ASYNCHRONOUS_COMMIT" {
							st = "SYNCHRONIZING"
						}
						t.rows = append(t.rows, []any{int64(d.ID), a.ID, gid, r.ID, true, r.Primary, syncCode[st], st,
							int64(2), "HEALTHY", end, end, end, int64(0), int64(0)})
						continue
					}
					for _, rd := range r.RemoteDBs {
						if !equalFold(rd.Database, d.Name) {
							continue
						}
						queue := int64(0)
						if end > rd.HardenedLSN {
							queue = (end - rd.HardenedLSN) / 100000000 * 4 // KB, four per log write
						}
						t.rows = append(t.rows, []any{int64(d.ID), a.ID, gid, r.ID, false, r.Primary, syncCode[rd.SyncState], rd.SyncState,
							healthCode[rd.Health], rd.Health, rd.HardenedLSN, rd.HardenedLSN, rd.HardenedLSN, queue, int64(0)})
					}
				}
			}
		}
	case "sys.dm_hadr_physical_seeding_stats":
		t.cols = cols("local_physical_seeding_id", tGUID, "remote_physical_seeding_id", tGUID, "local_database_id", tInt,
			"local_database_name", tNVarChar(128), "remote_machine_name", tNVarChar(128), "role_desc", tNVarChar(60),
			"internal_state_desc", tNVarChar(60), "transfer_rate_bytes_per_second", tBigInt, "transferred_size_bytes", tBigInt,
			"database_size_bytes", tBigInt, "is_compression_enabled", tBit)
		for _, r := range c.Seeding {
			if r.State != "SEEDING" {
				continue
			}
			var id any
			role, st := "Destination", "ReceivingAndWritingData"
			if d := c.db(r.Database); d != nil {
				id = int64(d.ID)
			}
			if r.IsSource {
				role, st = "Source", "ReadingAndSendingData"
			}
			t.rows = append(t.rows, []any{r.ID, r.ID, id, r.Database, nil, role, st, int64(seedRate), r.Transferred, r.Size, true})
		}
	case "sys.dm_hadr_automatic_seeding":
		t.cols = cols("start_time", tDateTime, "completion_time", tDateTime, "ag_id", tGUID, "ag_db_id", tGUID, "ag_remote_replica_id", tGUID,
			"operation_id", tGUID, "is_source", tBit, "current_state", tNVarChar(32), "performed_seeding", tBit, "failure_state", tInt,
			"failure_state_desc", tNVarChar(256), "error_code", tInt, "number_of_attempts", tInt)
		for _, r := range c.Seeding {
			var fs, fsd any
			if r.State == "FAILED" {
				fs, fsd = int64(21), "Seeding Check Message Timeout"
			}
			t.rows = append(t.rows, []any{c.Created, nil, r.GroupID, r.AGDBID, nil, r.ID, r.IsSource, r.State, r.State == "COMPLETED",
				fs, fsd, int64(0), int64(r.Attempts)})
		}
	default:
		return nil, false
	}
	return t, true
}

// seedRate is the simulated seeding's rate in bytes a second of the
// link's clock: a 1 MB database seeds in about 2 s.
const seedRate = 512 * 1024

func (a *availabilityGroup) clusterType() string {
	if a.ClusterType == "" {
		return "NONE"
	}
	return a.ClusterType
}

// addIssuer is sp_certificate_add_issuer @certificate_id, @issuer_name:
// the Azure Connect pack's procedure (SQL Server 2016/2017 with the pack,
// 2019 and later), recorded per certificate.
func (s *Session) addIssuer(args []procArg) *sqlError {
	if err := checkArgs("sp_certificate_add_issuer", args, "@certificate_id", "@issuer_name"); err != nil {
		return err
	}
	idArg, ok := arg(args, "@certificate_id", 0)
	if !ok || idArg.v == nil {
		return errf(201, 16, "Procedure or function 'sp_certificate_add_issuer' expects parameter '@certificate_id', which was not supplied.")
	}
	nameArg, ok := arg(args, "@issuer_name", 1)
	if !ok || nameArg.v == nil {
		return errf(201, 16, "Procedure or function 'sp_certificate_add_issuer' expects parameter '@issuer_name', which was not supplied.")
	}
	id, cerr := convert(idArg.v, tInt)
	if cerr != nil {
		return cerr
	}
	issuer := toString(nameArg.v)
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	ct := i.cat.certByID(int(id.(int64)))
	if ct == nil {
		return errf(15151, 16, "Cannot find the certificate '%v', because it does not exist or you do not have permission.", id)
	}
	for _, x := range ct.Issuers {
		if equalFold(x, issuer) {
			return nil
		}
	}
	ct.Issuers = append(ct.Issuers, issuer)
	s.changed = true
	return i.persistLocked()
}

// hasAddIssuer: sp_certificate_add_issuer exists on 2016/2017 with the
// Azure Connect pack and from SQL Server 2019 on (the link's builds).
func (p Profile) hasAddIssuer() bool {
	return p.AzureConnectPack || p.Kind == "sqlserver" && p.compatibilityLevel() >= 150
}

// publicCert makes the catalogue entry of CREATE CERTIFICATE ... FROM
// BINARY: the certificate without a private key (pvt_key_encryption_type
// NA); the thumbprint is the SHA-1 of the DER.
func publicCert(name string, der []byte, id int) (*certificate, *sqlError) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errf(15468, 16, "An error occurred during the generation of the certificate.")
	}
	subject := cert.Subject.CommonName
	if subject == "" {
		subject = cert.Subject.String()
	}
	tp := sha1.Sum(der)
	return &certificate{Name: name, ID: id, Subject: subject, Start: cert.NotBefore.UTC(), Expiry: cert.NotAfter.UTC(),
		Thumbprint: tp[:], Serial: strings.ToLower(fmt.Sprintf("%x", cert.SerialNumber.Bytes())),
		DER: append([]byte(nil), der...), KeyEnc: "NO_PRIVATE_KEY"}, nil
}
