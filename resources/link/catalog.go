package link

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/milink/milink/resources/sqlserver"
)

// Catalogue is what one read of a SQL Server (or a managed instance, which
// answers the same views) found of the link's objects.
type Catalogue struct {
	Parts        Part // what was read
	Certificates []Certificate
	Endpoints    []Endpoint
	AGs          []AG
	Replicas     []Replica
	AGDatabases  []AGDatabase
	States       []ReplicaState
	DBStates     []DBReplicaState
	Seeding      []Seeding
	AutoSeeding  []AutoSeeding
}

// Certificate is a row of master.sys.certificates.
type Certificate struct {
	Name       string
	ID         int
	Thumbprint []byte
	Expiry     time.Time
	// KeyEncryption is pvt_key_encryption_type: MK (the master key), PW
	// (a password), NA (no private key).
	KeyEncryption string
	Subject       string
}

// Endpoint is a DATABASE_MIRRORING endpoint with its TCP port.
type Endpoint struct {
	Name       string
	ID         int
	State      string // STARTED, STOPPED, DISABLED
	Role       string // ALL, PARTNER, WITNESS, NONE
	Auth       string // connection_auth_desc: CERTIFICATE, NEGOTIATE, WINDOWS NEGOTIATE CERTIFICATE, ...
	CertID     int    // 0 when none
	Encryption bool
	Algorithm  string // AES, RC4, AES RC4, NONE
	Port       int
}

// AG is a row of sys.availability_groups; GroupID is opaque.
type AG struct {
	Name        string
	GroupID     string
	Distributed bool
	ClusterType string // NONE, WSFC, EXTERNAL; "" on 2016
}

// Replica is a row of sys.availability_replicas. In a distributed
// availability group, ServerName is the name of a member availability
// group.
type Replica struct {
	GroupID, ReplicaID, ServerName, EndpointURL string
	AvailabilityMode, FailoverMode, SeedingMode string
}

// AGDatabase is a database of an availability group.
type AGDatabase struct {
	GroupID, Database string
}

// ReplicaState is a row of sys.dm_hadr_availability_replica_states.
type ReplicaState struct {
	GroupID, ReplicaID   string
	Local                bool
	Role                 string // PRIMARY, SECONDARY, RESOLVING
	Operational          string
	Connected            string // CONNECTED, DISCONNECTED
	Health               string // HEALTHY, PARTIALLY_HEALTHY, NOT_HEALTHY
	LastConnectError     int
	LastConnectErrorText string
}

// DBReplicaState is a row of sys.dm_hadr_database_replica_states. LSNs
// are numeric(25,0), kept as decimal strings.
type DBReplicaState struct {
	GroupID, ReplicaID string
	DatabaseID         int
	Database           string
	Local, Primary     bool
	Sync               string // SYNCHRONIZING, SYNCHRONIZED, NOT SYNCHRONIZING
	Health             string
	LastHardenedLSN    string
	EndOfLogLSN        string
	LogSendQueue       int64
	RedoQueue          int64
}

// Seeding is a row of sys.dm_hadr_physical_seeding_stats.
type Seeding struct {
	Database          string
	State             string
	Size, Transferred int64
}

// AutoSeeding is a row of sys.dm_hadr_automatic_seeding.
type AutoSeeding struct {
	AGDatabaseID string
	State        string
	Source       bool
	Attempts     int
}

// Querier is what the link's kinds need of a SQL Server target
// (*sqlserver.Instance): one batch, several result sets; and a batch that
// changes the server.
type Querier interface {
	QuerySets(ctx context.Context, batch string) ([]sqlserver.ResultSet, error)
	Exec(ctx context.Context, batch string) error
}

// ReadCatalogue reads the parts asked for in one round trip.
func ReadCatalogue(ctx context.Context, q Querier, parts Part) (*Catalogue, error) {
	sets, err := q.QuerySets(ctx, ReadSQL(parts))
	if err != nil {
		return nil, err
	}
	return ParseCatalogue(parts, sets)
}

// ParseCatalogue reads the result sets of ReadSQL, recognising each by its
// columns.
func ParseCatalogue(parts Part, sets []sqlserver.ResultSet) (*Catalogue, error) {
	c := &Catalogue{Parts: parts}
	for _, rs := range sets {
		get := func(r []any, col string) any {
			if i := rs.Col(col); i >= 0 && i < len(r) {
				return r[i]
			}
			return nil
		}
		switch {
		case rs.Col("pvt_key_encryption_type") >= 0:
			for _, r := range rs.Rows {
				tp, _ := get(r, "thumbprint").([]byte)
				exp, _ := get(r, "expiry_date").(time.Time)
				c.Certificates = append(c.Certificates, Certificate{
					Name: str(get(r, "name")), ID: num(get(r, "certificate_id")), Thumbprint: tp, Expiry: exp.UTC(),
					KeyEncryption: strings.TrimSpace(str(get(r, "pvt_key_encryption_type"))), Subject: str(get(r, "subject")),
				})
			}
		case rs.Col("connection_auth_desc") >= 0:
			for _, r := range rs.Rows {
				c.Endpoints = append(c.Endpoints, Endpoint{
					Name: str(get(r, "name")), ID: num(get(r, "endpoint_id")), State: str(get(r, "state_desc")),
					Role: str(get(r, "role_desc")), Auth: str(get(r, "connection_auth_desc")), CertID: num(get(r, "certificate_id")),
					Encryption: num(get(r, "is_encryption_enabled")) == 1, Algorithm: str(get(r, "encryption_algorithm_desc")),
					Port: num(get(r, "port")),
				})
			}
		case rs.Col("is_distributed") >= 0:
			for _, r := range rs.Rows {
				c.AGs = append(c.AGs, AG{Name: str(get(r, "name")), GroupID: id(get(r, "group_id")),
					Distributed: num(get(r, "is_distributed")) == 1, ClusterType: str(get(r, "cluster_type_desc"))})
			}
		case rs.Col("replica_server_name") >= 0:
			for _, r := range rs.Rows {
				c.Replicas = append(c.Replicas, Replica{GroupID: id(get(r, "group_id")), ReplicaID: id(get(r, "replica_id")),
					ServerName: str(get(r, "replica_server_name")), EndpointURL: str(get(r, "endpoint_url")),
					AvailabilityMode: str(get(r, "availability_mode_desc")), FailoverMode: str(get(r, "failover_mode_desc")),
					SeedingMode: str(get(r, "seeding_mode_desc"))})
			}
		case rs.Col("connected_state_desc") >= 0:
			for _, r := range rs.Rows {
				c.States = append(c.States, ReplicaState{GroupID: id(get(r, "group_id")), ReplicaID: id(get(r, "replica_id")),
					Local: num(get(r, "is_local")) == 1, Role: str(get(r, "role_desc")), Operational: str(get(r, "operational_state_desc")),
					Connected: str(get(r, "connected_state_desc")), Health: str(get(r, "synchronization_health_desc")),
					LastConnectError: num(get(r, "last_connect_error_number")), LastConnectErrorText: str(get(r, "last_connect_error_description"))})
			}
		case rs.Col("last_hardened_lsn") >= 0:
			for _, r := range rs.Rows {
				c.DBStates = append(c.DBStates, DBReplicaState{GroupID: id(get(r, "group_id")), ReplicaID: id(get(r, "replica_id")),
					DatabaseID: num(get(r, "database_id")), Database: str(get(r, "database_name")),
					Local: num(get(r, "is_local")) == 1, Primary: num(get(r, "is_primary_replica")) == 1,
					Sync: str(get(r, "synchronization_state_desc")), Health: str(get(r, "synchronization_health_desc")),
					LastHardenedLSN: lsn(get(r, "last_hardened_lsn")), EndOfLogLSN: lsn(get(r, "end_of_log_lsn")),
					LogSendQueue: num64(get(r, "log_send_queue_size")), RedoQueue: num64(get(r, "redo_queue_size"))})
			}
		case rs.Col("transferred_size_bytes") >= 0:
			for _, r := range rs.Rows {
				c.Seeding = append(c.Seeding, Seeding{Database: str(get(r, "local_database_name")), State: str(get(r, "internal_state_desc")),
					Size: num64(get(r, "database_size_bytes")), Transferred: num64(get(r, "transferred_size_bytes"))})
			}
		case rs.Col("number_of_attempts") >= 0:
			for _, r := range rs.Rows {
				c.AutoSeeding = append(c.AutoSeeding, AutoSeeding{AGDatabaseID: id(get(r, "ag_db_id")), State: str(get(r, "current_state")),
					Source: num(get(r, "is_source")) == 1, Attempts: num(get(r, "number_of_attempts"))})
			}
		case rs.Col("database_name") >= 0 && rs.Col("group_id") >= 0:
			for _, r := range rs.Rows {
				c.AGDatabases = append(c.AGDatabases, AGDatabase{GroupID: id(get(r, "group_id")), Database: str(get(r, "database_name"))})
			}
		}
	}
	return c, nil
}

// Certificate finds a certificate by name (names in master compare without
// case under the default collations).
func (c *Catalogue) Certificate(name string) (Certificate, bool) {
	for _, x := range c.Certificates {
		if x.Name == name {
			return x, true
		}
	}
	for _, x := range c.Certificates {
		if strings.EqualFold(x.Name, name) {
			return x, true
		}
	}
	return Certificate{}, false
}

// CertificateByThumbprint finds a certificate by its thumbprint.
func (c *Catalogue) CertificateByThumbprint(tp []byte) (Certificate, bool) {
	for _, x := range c.Certificates {
		if len(tp) > 0 && string(x.Thumbprint) == string(tp) {
			return x, true
		}
	}
	return Certificate{}, false
}

// CertificateByID finds a certificate by certificate_id.
func (c *Catalogue) CertificateByID(n int) (Certificate, bool) {
	for _, x := range c.Certificates {
		if x.ID == n {
			return x, true
		}
	}
	return Certificate{}, false
}

// Endpoint is the instance's DATABASE_MIRRORING endpoint (there is at
// most one).
func (c *Catalogue) Endpoint() (Endpoint, bool) {
	if len(c.Endpoints) == 0 {
		return Endpoint{}, false
	}
	return c.Endpoints[0], true
}

// AG finds an availability group by name.
func (c *Catalogue) AG(name string) (AG, bool) {
	for _, x := range c.AGs {
		if strings.EqualFold(x.Name, name) {
			return x, true
		}
	}
	return AG{}, false
}

// ReplicasOf lists an availability group's replicas.
func (c *Catalogue) ReplicasOf(groupID string) []Replica {
	var out []Replica
	for _, r := range c.Replicas {
		if r.GroupID == groupID {
			out = append(out, r)
		}
	}
	return out
}

// DatabasesOf lists an availability group's databases.
func (c *Catalogue) DatabasesOf(groupID string) []string {
	var out []string
	for _, d := range c.AGDatabases {
		if d.GroupID == groupID {
			out = append(out, d.Database)
		}
	}
	return out
}

// DAGsUsing lists the distributed availability groups that have the
// availability group among their members.
func (c *Catalogue) DAGsUsing(ag string) []string {
	var out []string
	for _, g := range c.AGs {
		if !g.Distributed {
			continue
		}
		for _, r := range c.ReplicasOf(g.GroupID) {
			if strings.EqualFold(r.ServerName, ag) {
				out = append(out, g.Name)
				break
			}
		}
	}
	return out
}

// EndpointsUsing lists the endpoints that authenticate with the
// certificate.
func (c *Catalogue) EndpointsUsing(certID int) []string {
	var out []string
	for _, e := range c.Endpoints {
		if certID != 0 && e.CertID == certID {
			out = append(out, e.Name)
		}
	}
	return out
}

// str reads a text column.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// num64 reads a whole-number column, whatever its SQL type.
func num64(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case int:
		return int64(v)
	case uint8:
		return int64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return int64(v)
	case []byte, string:
		n, err := strconv.ParseInt(strings.TrimSpace(str(v)), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

func num(v any) int { return int(num64(v)) }

// id keeps a uniqueidentifier as an opaque key (go-mssqldb returns its 16
// bytes); text stays text.
func id(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%X", v)
	default:
		return strings.ToUpper(str(v))
	}
}

// lsn reads a numeric(25,0) as its decimal digits ("" for NULL).
func lsn(v any) string {
	s := strings.TrimSpace(str(v))
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return s
}
