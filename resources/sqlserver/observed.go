package sqlserver

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/milink/milink/resources/host"
)

// refreshSQL reads everything milink needs about an instance in one round
// trip. The lab engine answers this exact text.
//
//go:embed testdata/golden/refresh.sql
var refreshSQL string

// refreshBatch is the refresh's one batch: what every instance needs, then
// what the kinds configured on it contribute (the database kind: a check
// that its backup directories exist, so that a missing one stops the plan
// before any recovery model is changed).
//
// The statements of refresh.sql belong to the instance (properties, trace
// flags, startup parameters), to the master_key kind (the key's row) or to
// the database kind (databases and their backups); a kind's statements are
// sent only when a block of it is on the instance. With every kind present
// the batch is refresh.sql itself.
func refreshBatch(s *Server) string {
	var parts []string
	for _, st := range refreshStatements() {
		switch st.kind {
		case KindMasterKey:
			if s.MasterKey == nil {
				continue
			}
		case KindDatabase:
			if len(s.Databases) == 0 {
				continue
			}
		}
		parts = append(parts, st.text)
	}
	batch := strings.Join(parts, "\n") + "\n"
	var dirs []string
	for _, d := range s.Databases {
		if d.Backup != nil {
			dirs = append(dirs, d.Backup.Directory)
		}
	}
	if check := DirectoryCheckSQL(0, dirs); check != "" {
		batch += check + "\n"
	}
	var names []string
	for _, d := range s.Databases {
		names = append(names, d.DatabaseName)
	}
	if check := FilegroupCheckSQL(names); check != "" {
		batch += check + "\n"
	}
	if s.readTDE {
		batch += tdeReadSQL
	}
	return batch
}

// refreshStatement is one statement of refresh.sql and the kind it reads for
// ("" for the instance itself).
type refreshStatement struct{ kind, text string }

// refreshStatements splits refresh.sql into its statements (each ends with
// ";" at the end of a line) and tells whose each is.
func refreshStatements() []refreshStatement {
	var out []refreshStatement
	var cur []string
	for _, line := range strings.Split(strings.TrimRight(refreshSQL, "\n"), "\n") {
		cur = append(cur, line)
		if !strings.HasSuffix(line, ";") {
			continue
		}
		text := strings.Join(cur, "\n")
		cur = nil
		kind := ""
		switch {
		case strings.Contains(text, "symmetric_keys"):
			kind = KindMasterKey
		case strings.Contains(text, "sys.databases"), strings.Contains(text, "msdb.dbo.backupset"),
			strings.Contains(text, "sys.master_files"), strings.Contains(text, "sys.database_mirroring"):
			kind = KindDatabase
		}
		out = append(out, refreshStatement{kind, text})
	}
	if len(cur) > 0 {
		out = append(out, refreshStatement{"", strings.Join(cur, "\n")})
	}
	return out
}

// Observed is one instance as Refresh saw it.
type Observed struct {
	Banner         string // @@VERSION, lines joined by "\n\t"
	ProductVersion string // 15.0.4322.2
	ProductLevel   string // RTM, SP3
	UpdateLevel    string // CU22, "" when NULL
	Edition        string
	EngineEdition  int
	MachineName    string
	ServerName     string
	Platform       string // "linux" or "windows", from the banner

	HadrRunning       bool
	HadrManagerStatus int // -1 when NULL
	// Clustered: a failover cluster instance (SERVERPROPERTY('IsClustered')),
	// restarted by taking its clustered role offline and online.
	Clustered       bool
	HadrConfigured  bool
	FlagsRunning    []int // global trace flags now on
	FlagsConfigured []int // startup trace flags (mssql.conf or SQLArgN)

	AzureConnectPack bool // sys.sp_certificate_add_issuer exists
	// NotSysadmin: the login milink uses is not in the sysadmin server
	// role, which the link's preparation requires; Login is its name.
	NotSysadmin bool
	Login       string
	MasterKey   bool
	Databases   map[string]DatabaseState
	Registry    []host.RegistryValue // Windows startup parameters and HADR_Enabled

	// ConfTool is whether mssql-conf exists on a Linux host (plans show the
	// command then, otherwise the file edit).
	ConfTool bool

	// Directories are the backup directories of the configured databases,
	// as SQL Server sees them (the same round trip).
	Directories map[string]DirectoryState

	firewall *firewallObservation // the host firewall's rules of the firewall_rule blocks

	// tde holds each user database's TDE protector, when the batch read
	// them (see TDEReader), by database name.
	tde map[string]TDEProtector

	// readDatabases: the batch read the databases (a database block is on
	// the instance).
	readDatabases bool

	server *Server // the target's configuration, for Summary
	// encryption is what the login negotiated, for Summary.
	encryption string
	support    string // the support matrix's verdict

	dbaObserved // what the DBA checks read (eligibility.go)
}

// DatabaseState is one row of sys.databases with its backup history.
type DatabaseState struct {
	Name          string
	ID            int
	RecoveryModel string // FULL, BULK_LOGGED, SIMPLE
	State         string // ONLINE, ...
	ReadOnly      bool
	// LogChain: sys.database_recovery_status.last_log_backup_lsn is not
	// NULL, i.e. a full backup started the log chain in FULL recovery.
	LogChain bool
	// LastFullBackup is the newest full, non-copy-only backup; zero if none.
	LastFullBackup time.Time
	// LastCopyOnlyBackup is the newest COPY_ONLY full backup (which starts
	// no log chain); zero if none. Only the refresh batch reads it.
	LastCopyOnlyBackup time.Time

	dbaDatabaseState // what makes it ineligible for the link (eligibility.go)
}

// Database finds a database by name: exactly, else ignoring case (the
// default collations compare names case-insensitively).
func (o *Observed) Database(name string) (DatabaseState, bool) {
	if d, ok := o.Databases[name]; ok {
		return d, true
	}
	for n, d := range o.Databases {
		if strings.EqualFold(n, name) {
			return d, true
		}
	}
	return DatabaseState{}, false
}

// resultSet is one result set of the refresh batch, values as the driver
// returned them.
type resultSet struct {
	cols []string // lower case
	rows [][]any
}

func (r resultSet) col(name string) int {
	for i, c := range r.cols {
		if c == name {
			return i
		}
	}
	return -1
}

// parseSets builds Observed from the result sets, recognising each by its
// columns rather than its position, so that an empty DBCC TRACESTATUS
// (which may send no result set at all) cannot shift the others.
func parseSets(sets []resultSet) (*Observed, error) {
	o := &Observed{Databases: map[string]DatabaseState{}, HadrManagerStatus: -1}
	seen := map[string]bool{}
	backups, copyOnly := map[string]time.Time{}, map[string]time.Time{}
	for _, rs := range sets {
		if o.parseDBASet(rs) {
			continue
		}
		switch {
		case rs.col("tde_database") >= 0:
			if o.tde == nil {
				o.tde = map[string]TDEProtector{}
			}
			tdeRows(rs, o.tde)
		case rs.col("banner") >= 0:
			seen["properties"] = true
			if len(rs.rows) != 1 {
				return nil, fmt.Errorf("server properties: %d rows", len(rs.rows))
			}
			r := rs.rows[0]
			get := func(name string) any {
				if i := rs.col(name); i >= 0 {
					return r[i]
				}
				return nil
			}
			o.Banner = asString(get("banner"))
			o.ProductVersion = asString(get("product_version"))
			o.ProductLevel = asString(get("product_level"))
			o.UpdateLevel = asString(get("product_update_level"))
			o.Edition = asString(get("edition"))
			o.EngineEdition = asInt(get("engine_edition"), 0)
			o.HadrRunning = asInt(get("is_hadr_enabled"), 0) == 1
			o.HadrManagerStatus = asInt(get("hadr_manager_status"), -1)
			o.Clustered = asInt(get("is_clustered"), 0) == 1
			o.MachineName = asString(get("machine_name"))
			o.ServerName = asString(get("server_name"))
			o.AzureConnectPack = get("azure_connect_pack") != nil
			o.Login = asString(get("login_name"))
			// A batch without the column (an older golden) is not a
			// refusal: only an explicit 0 is.
			o.NotSysadmin = get("is_sysadmin") != nil && asInt(get("is_sysadmin"), 1) != 1
			o.Platform = "windows"
			if strings.Contains(o.Banner, " on Linux") {
				o.Platform = "linux"
			}
		case rs.col("traceflag") >= 0:
			tf, st, gl := rs.col("traceflag"), rs.col("status"), rs.col("global")
			for _, r := range rs.rows {
				if (st < 0 || asInt(r[st], 0) == 1) && (gl < 0 || asInt(r[gl], 0) == 1) {
					o.FlagsRunning = append(o.FlagsRunning, asInt(r[tf], 0))
				}
			}
		case rs.col("symmetric_key_id") >= 0:
			o.MasterKey = len(rs.rows) > 0
		case rs.col("database_id") >= 0:
			seen["databases"] = true
			for _, d := range databaseRows(rs) {
				o.Databases[d.Name] = d
			}
		case rs.col("database_name") >= 0:
			backupRows(rs, backups, copyOnly)
		case rs.col("registry_key") >= 0:
			o.Registry = append(o.Registry, registryRows(rs)...)
		}
	}
	// Backups of databases that no longer exist are ignored.
	for name, tm := range backups {
		if d, ok := o.Databases[name]; ok {
			d.LastFullBackup = tm
			o.Databases[name] = d
		}
	}
	for name, tm := range copyOnly {
		if d, ok := o.Databases[name]; ok {
			d.LastCopyOnlyBackup = tm
			o.Databases[name] = d
		}
	}
	if !seen["properties"] {
		return nil, fmt.Errorf("the refresh batch returned no server properties")
	}
	o.mergeDBA()
	o.readDatabases = seen["databases"]
	o.FlagsRunning = host.SortedFlags(o.FlagsRunning)
	return o, nil
}

// databaseRows reads sys.databases ⋈ sys.database_recovery_status rows.
func databaseRows(rs resultSet) []DatabaseState {
	var out []DatabaseState
	n, id, rm, sd, ro, lsn := rs.col("name"), rs.col("database_id"), rs.col("recovery_model_desc"), rs.col("state_desc"), rs.col("is_read_only"), rs.col("last_log_backup_lsn")
	for _, r := range rs.rows {
		d := DatabaseState{Name: asString(r[n]), ID: asInt(r[id], 0)}
		if rm >= 0 {
			d.RecoveryModel = asString(r[rm])
		}
		if sd >= 0 {
			d.State = asString(r[sd])
		}
		if ro >= 0 {
			d.ReadOnly = asInt(r[ro], 0) == 1
		}
		if lsn >= 0 {
			d.LogChain = r[lsn] != nil
		}
		dbaColumns(rs, r, &d)
		out = append(out, d)
	}
	return out
}

// backupRows adds msdb.dbo.backupset's last full backups to backups, and
// the COPY_ONLY ones to copyOnly when the result set tells them apart
// (rows without is_copy_only are full, non-copy-only backups).
func backupRows(rs resultSet, backups, copyOnly map[string]time.Time) {
	n, t, c := rs.col("database_name"), rs.col("last_full_backup"), rs.col("is_copy_only")
	for _, r := range rs.rows {
		tm, ok := r[t].(time.Time)
		if !ok {
			continue
		}
		if c >= 0 && asBool(r[c]) {
			copyOnly[asString(r[n])] = tm.UTC()
		} else {
			backups[asString(r[n])] = tm.UTC()
		}
	}
}

// asBool reads a bit column.
func asBool(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return false
}

// registryRows reads sys.dm_server_registry rows.
func registryRows(rs resultSet) []host.RegistryValue {
	k, n, v := rs.col("registry_key"), rs.col("value_name"), rs.col("value_data")
	if k < 0 || n < 0 || v < 0 {
		return nil
	}
	var out []host.RegistryValue
	for _, r := range rs.rows {
		out = append(out, host.RegistryValue{Key: asString(r[k]), Name: asString(r[n]), Data: asString(r[v])})
	}
	return out
}

// parseDatabase reads the result sets of DatabaseSQL: the database (ok
// false when it does not exist) with its last full backup.
func parseDatabase(sets []resultSet) (DatabaseState, bool) {
	var dbs []DatabaseState
	backups, copyOnly := map[string]time.Time{}, map[string]time.Time{}
	for _, rs := range sets {
		switch {
		case rs.col("database_id") >= 0:
			dbs = append(dbs, databaseRows(rs)...)
		case rs.col("database_name") >= 0:
			backupRows(rs, backups, copyOnly)
		}
	}
	if len(dbs) != 1 {
		return DatabaseState{}, false
	}
	d := dbs[0]
	d.LastFullBackup = backups[d.Name]
	return d, true
}

func asString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}

func asInt(v any, def int) int {
	switch v := v.(type) {
	case int64:
		return int(v)
	case int32:
		return int(v)
	case int16:
		return int(v)
	case int:
		return v
	case uint8:
		return int(v)
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return int(v)
	case []byte, string:
		n, err := strconv.Atoi(strings.TrimSpace(asString(v)))
		if err != nil {
			return def
		}
		return n
	}
	return def
}
