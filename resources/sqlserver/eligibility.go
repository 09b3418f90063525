package sqlserver

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// What makes a database ineligible for the link, read in the refresh's one
// round trip and checked at plan time, before anything changes. Sources:
// the availability group prerequisites (a database joins the link's
// availability group, so it must be read-write, multi-user, without
// AUTO_CLOSE, in no other group and not mirrored), the link's feature
// overview (limitations: FILESTREAM and FileTable, more than one log file,
// In-Memory OLTP on the General Purpose tier) and the link's ARM errors
// (ManagedInstanceLinkSourceDbHas{Filestream,HekatonFile,MultipleLogFiles}),
// ../../shared/reference/link.md.

// dbaDatabaseState is the part of DatabaseState the eligibility checks read.
type dbaDatabaseState struct {
	UserAccess string // MULTI_USER, SINGLE_USER, RESTRICTED_USER ("" not read)
	AutoClose  bool
	Standby    bool
	// InGroup: sys.databases.group_database_id is set: the database is in
	// an availability group (Group names it when known).
	InGroup bool
	Group   string
	// Secondary: this replica is a secondary of that group
	// (sys.dm_hadr_database_replica_states.is_primary_replica = 0).
	Secondary  bool
	Mirrored   bool // sys.database_mirroring.mirroring_guid is set
	Collation  string
	Encrypted  bool // TDE (sys.databases.is_encrypted)
	Broker     bool // is_broker_enabled
	ADR        bool // is_accelerated_database_recovery_on (2019 and later)
	ADRKnown   bool // the column was read (2019 and later)
	LogFiles   int  // sys.master_files type 1; 0 when not read
	Filestream bool // a FILESTREAM filegroup (FD): FILESTREAM or FileTable
	// MemoryOptimized: a MEMORY_OPTIMIZED_DATA filegroup (FX): In-Memory OLTP.
	MemoryOptimized bool
}

// dbaObserved is the part of Observed the DBA checks read.
type dbaObserved struct {
	// AvailabilityGroups are the instance's availability groups, sorted.
	AvailabilityGroups []string
	// ClusterNode: the Windows host is a failover cluster node (its
	// cluster service runs), asked only of SQL Server 2016 when Always On
	// must be enabled; ClusterNodeErr says why it could not be asked.
	ClusterNode    bool
	ClusterNodeErr string
	// NoSystemd: the Linux host has no running systemd (/run/systemd/system
	// is missing), as in a container; the default restart command would fail.
	NoSystemd bool
	// tdeCertificates: the databases a tde_certificate block on the
	// instance names; tdeAll: a tde_certificate block names none (it covers
	// every database).
	tdeCertificates map[string]bool
	tdeAll          bool
	// declaredGroups: the availability groups the configuration puts
	// each database in (GroupMember), lower case, by lower-case database.
	declaredGroups map[string]map[string]bool

	adr      map[int]bool
	logFiles map[int]int
	mirrored map[int]bool
	groups   map[string]agMembership // by database name
	// distributed: the availability groups (lower case) that are
	// replicas of a distributed availability group.
	distributed map[string]bool
	fgTypes     map[string][]string // by database name (as configured): FD, FX
}

type agMembership struct {
	group     string
	secondary bool
}

// parseDBASet reads the refresh's result sets of the DBA checks; false when
// rs is none of them.
func (o *Observed) parseDBASet(rs resultSet) bool {
	switch {
	case rs.col("adr_database_id") >= 0:
		o.adr = map[int]bool{}
		id, v := rs.col("adr_database_id"), rs.col("is_accelerated_database_recovery_on")
		for _, r := range rs.rows {
			o.adr[asInt(r[id], 0)] = asInt(r[v], 0) == 1
		}
	case rs.col("files_database_id") >= 0:
		o.logFiles = map[int]int{}
		id, n := rs.col("files_database_id"), rs.col("log_files")
		for _, r := range rs.rows {
			o.logFiles[asInt(r[id], 0)] = asInt(r[n], 0)
		}
	case rs.col("mirrored_database_id") >= 0:
		o.mirrored = map[int]bool{}
		for _, r := range rs.rows {
			o.mirrored[asInt(r[rs.col("mirrored_database_id")], 0)] = true
		}
	case rs.col("availability_group") >= 0:
		if o.groups == nil {
			o.groups = map[string]agMembership{}
		}
		g, d, p := rs.col("availability_group"), rs.col("ag_database_name"), rs.col("is_primary_replica")
		seen := map[string]bool{}
		for _, r := range rs.rows {
			name := asString(r[g])
			if !seen[name] {
				seen[name] = true
				o.AvailabilityGroups = append(o.AvailabilityGroups, name)
			}
			if d >= 0 && r[d] != nil {
				m := agMembership{group: name}
				if p >= 0 && r[p] != nil {
					m.secondary = asInt(r[p], 1) == 0
				}
				o.groups[asString(r[d])] = m
			}
		}
		sort.Strings(o.AvailabilityGroups)
	case rs.col("distributed_member") >= 0:
		// The availability groups that are replicas of a distributed one:
		// a database in one is linked already (or its link is being
		// dropped), which its database block does not hold against it.
		o.distributed = map[string]bool{}
		for _, r := range rs.rows {
			o.distributed[strings.ToLower(asString(r[rs.col("distributed_member")]))] = true
		}
	case rs.col(filegroupColumn) >= 0:
		if o.fgTypes == nil {
			o.fgTypes = map[string][]string{}
		}
		db, t := rs.col(filegroupColumn), rs.col("filegroup_type")
		for _, r := range rs.rows {
			o.fgTypes[asString(r[db])] = append(o.fgTypes[asString(r[db])], strings.TrimSpace(asString(r[t])))
		}
	default:
		return false
	}
	return true
}

// mergeDBA folds the per-database sets into Databases.
func (o *Observed) mergeDBA() {
	for name, d := range o.Databases {
		if v, ok := o.adr[d.ID]; ok {
			d.ADR, d.ADRKnown = v, true
		}
		d.LogFiles = o.logFiles[d.ID]
		d.Mirrored = o.mirrored[d.ID]
		if m, ok := o.groups[name]; ok {
			d.Group, d.Secondary = m.group, m.secondary
		}
		o.Databases[name] = d
	}
}

// filegroups returns the special filegroup types the batch read for a
// configured database name (FD, FX).
func (o *Observed) filegroups(configured string) (filestream, memoryOptimized bool) {
	for _, t := range o.fgTypes[configured] {
		switch t {
		case "FD":
			filestream = true
		case "FX":
			memoryOptimized = true
		}
	}
	return
}

// dbaColumns reads the DBA columns of one sys.databases row.
func dbaColumns(rs resultSet, r []any, d *DatabaseState) {
	get := func(name string) any {
		if i := rs.col(name); i >= 0 {
			return r[i]
		}
		return nil
	}
	d.UserAccess = asString(get("user_access_desc"))
	d.AutoClose = asInt(get("is_auto_close_on"), 0) == 1
	d.Standby = asInt(get("is_in_standby"), 0) == 1
	d.InGroup = get("group_database_id") != nil
	d.Collation = asString(get("collation_name"))
	d.Encrypted = asInt(get("is_encrypted"), 0) == 1
	d.Broker = asInt(get("is_broker_enabled"), 0) == 1
}

// filegroupColumn names, in each result set of the filegroup check, the
// database as the configuration wrote it.
const filegroupColumn = "filegroup_database"

// FilegroupCheckSQL reads the FILESTREAM (FD) and memory-optimized (FX)
// filegroups of the configured databases. sys.filegroups is per database,
// so each is read through its own dynamic statement, sent only when the
// database exists and can be opened: a database that is missing, offline
// or single-user is reported by its own check, and must not fail the
// batch (as a static three-part name of a missing database would, at
// compile time). "" for no names.
func FilegroupCheckSQL(names []string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		inner := fmt.Sprintf("SELECT %s AS %s, type AS filegroup_type, name AS filegroup_name FROM %s.sys.filegroups WHERE type IN ('FD', 'FX');",
			QuoteString(n), filegroupColumn, QuoteIdent(n))
		fmt.Fprintf(&b, "IF EXISTS (SELECT 1 FROM sys.databases WHERE name = %s AND state_desc = N'ONLINE' AND user_access_desc = N'MULTI_USER')\n    EXEC (%s);\n",
			QuoteString(n), QuoteString(inner))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// LinkTarget is what the managed instance a database is linked to tells
// the checks: its service tier ("GeneralPurpose", "BusinessCritical",
// "NextGenGeneralPurpose") and its server collation.
type LinkTarget struct {
	ServiceTier string
	Collation   string
}

// LinkTargetFor finds the managed instance a database block is linked to,
// once the configuration can say so (the managed_instance data source is
// being built on the azure branch). Nil, or ok false, means unknown: the
// checks that depend on it warn instead of deciding.
var LinkTargetFor func(req resources.DiffRequest, db *Database) (LinkTarget, bool)

// tdeCertificateKind is the kind whose blocks migrate a TDE certificate.
// It is found by its type name, not its Go type, so this package needs no
// import of it.
const tdeCertificateKind = "tde_certificate"

// tdeCoverage finds the databases the tde_certificate blocks on the
// instance name. A block's configuration may say so with a method
// TDEDatabases() []string, or with a string field Database/DatabaseName or
// a []string field Databases; a block that names none covers every
// database.
func tdeCoverage(res []resources.Instance) (dbs map[string]bool, all bool) {
	dbs = map[string]bool{}
	for _, r := range res {
		if r.Type != tdeCertificateKind {
			continue
		}
		names := namedDatabases(r.Config)
		if len(names) == 0 {
			all = true
		}
		for _, n := range names {
			dbs[strings.ToLower(n)] = true
		}
	}
	return dbs, all
}

// GroupMember is implemented by the configuration of blocks that put
// databases in an availability group on the instance (the link's
// availability_group block, resources/link): a database in the group the
// configuration puts it in is the link being built, not an obstacle to it.
type GroupMember interface {
	GroupDatabases() (group string, databases []string)
}

// groupsDeclared maps each database a GroupMember names to its groups.
func groupsDeclared(res []resources.Instance) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range res {
		gm, ok := r.Config.(GroupMember)
		if !ok {
			continue
		}
		group, dbs := gm.GroupDatabases()
		for _, d := range dbs {
			k := strings.ToLower(d)
			if out[k] == nil {
				out[k] = map[string]bool{}
			}
			out[k][strings.ToLower(group)] = true
		}
	}
	return out
}

// inDeclaredGroup: the database is in the availability group the
// configuration puts it in (its name known).
func (o *Observed) inDeclaredGroup(d DatabaseState, db *Database) bool {
	if d.Group == "" {
		return false
	}
	g := strings.ToLower(d.Group)
	return o.declaredGroups[strings.ToLower(d.Name)][g] || o.declaredGroups[strings.ToLower(db.DatabaseName)][g]
}

func namedDatabases(cfg any) []string {
	if x, ok := cfg.(interface{ TDEDatabases() []string }); ok {
		return x.TDEDatabases()
	}
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for _, f := range []string{"Database", "DatabaseName", "Databases"} {
		fv := v.FieldByName(f)
		switch {
		case !fv.IsValid():
		case fv.Kind() == reflect.String && fv.String() != "":
			out = append(out, fv.String())
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
			for k := 0; k < fv.Len(); k++ {
				out = append(out, fv.Index(k).String())
			}
		}
	}
	return out
}

// eligibility checks one database for the link. Errors stop the plan
// before any change; warnings are called out in it.
func eligibility(req resources.DiffRequest, db *Database, d DatabaseState, o *Observed) hcl.Diagnostics {
	rng := db.DeclRange
	q := QuoteIdent(d.Name)
	var diags hcl.Diagnostics
	add := func(sev hcl.DiagnosticSeverity, summary, detail string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: db.Addr() + ": " + fmt.Sprintf(detail, args...), Subject: &rng})
	}
	if d.State != "" && d.State != "ONLINE" {
		add(hcl.DiagError, "Database is not online",
			"database %s is %s; it must be ONLINE to be prepared for the link. Bring it online (ALTER DATABASE %s SET ONLINE) or leave it out.", q, d.State, q)
		// Nothing else can be read of an offline database.
		return diags
	}
	if d.ReadOnly {
		add(hcl.DiagError, "Database is read-only",
			"database %s is read-only; an availability group, and so the link, accepts only read-write databases (and its recovery model cannot be changed). Make it writable: ALTER DATABASE %s SET READ_WRITE.", q, q)
	}
	if d.UserAccess != "" && d.UserAccess != "MULTI_USER" {
		add(hcl.DiagError, "Database is not multi-user",
			"database %s is %s; an availability group accepts only multi-user databases. When the work that needed it is done: ALTER DATABASE %s SET MULTI_USER.", q, d.UserAccess, q)
	}
	if d.AutoClose {
		add(hcl.DiagError, "Database has AUTO_CLOSE on",
			"database %s has AUTO_CLOSE on, which an availability group does not accept. Turn it off: ALTER DATABASE %s SET AUTO_CLOSE OFF.", q, q)
	}
	if d.InGroup && !o.inDeclaredGroup(d, db) && !o.distributed[strings.ToLower(d.Group)] {
		group := "an availability group"
		if d.Group != "" {
			group = "availability group " + QuoteIdent(d.Group)
		}
		extra := ""
		if d.Secondary {
			extra = " This replica is a secondary of it: milink never takes a normal full backup on a secondary."
		}
		add(hcl.DiagError, "Database is already in an availability group",
			"database %s is in %s (sys.databases.group_database_id is set); a database can be in only one, and the link creates its own. Remove it from the group first, or link it from the group's primary with the procedure for databases in an availability group.%s", q, group, extra)
	}
	if d.Mirrored {
		add(hcl.DiagError, "Database is mirrored",
			"database %s is configured for database mirroring (sys.database_mirroring.mirroring_guid is set); an availability group does not accept a mirrored database. Remove mirroring first: ALTER DATABASE %s SET PARTNER OFF.", q, q)
	}
	if d.Standby {
		add(hcl.DiagError, "Database is in standby",
			"database %s is in standby (restored WITH STANDBY, read-only between log restores); only an online, read-write database can be linked. Finish the restore (RESTORE DATABASE %s WITH RECOVERY) first.", q, q)
	}
	if d.LogFiles > 1 {
		add(hcl.DiagError, "Database has more than one log file",
			"database %s has %d log files; the link does not accept a database with more than one (the managed instance supports one). Empty and remove the extra ones first: DBCC SHRINKFILE (name, EMPTYFILE); ALTER DATABASE %s REMOVE FILE name.", q, d.LogFiles, q)
	}
	if d.Filestream {
		add(hcl.DiagError, "Database uses FILESTREAM",
			"database %s has a FILESTREAM filegroup (FILESTREAM or FileTable data); Azure SQL Managed Instance supports neither, so the link cannot replicate it. Move that data out of the database and remove the filegroup first.", q)
	}
	target, known := LinkTarget{}, false
	if LinkTargetFor != nil {
		target, known = LinkTargetFor(req, db)
	}
	if d.MemoryOptimized {
		switch {
		case known && strings.Contains(target.ServiceTier, "BusinessCritical"):
			// In-Memory OLTP is supported on Business Critical.
		case known:
			add(hcl.DiagError, "Database uses In-Memory OLTP",
				"database %s has a MEMORY_OPTIMIZED_DATA filegroup; the managed instance is %s, which does not support In-Memory OLTP, so the link would fail. Use a Business Critical managed instance, or remove the memory-optimized objects and filegroup first.", q, target.ServiceTier)
		default:
			add(hcl.DiagWarning, "Database uses In-Memory OLTP",
				"database %s has a MEMORY_OPTIMIZED_DATA filegroup; only a Business Critical managed instance supports In-Memory OLTP, and the link to a General Purpose one fails. milink does not know the managed instance's tier here: check it.", q)
		}
	}
	if known && target.Collation != "" && d.Collation != "" && !strings.EqualFold(target.Collation, d.Collation) {
		add(hcl.DiagWarning, "Collation differs from the managed instance's",
			"database %s uses collation %s, the managed instance %s; the link replicates the database as it is, but queries that join with tempdb or system objects on the managed instance may behave differently. Use a managed instance with the same collation where you can.", q, d.Collation, target.Collation)
	}
	if d.Encrypted && !o.tdeAll && !o.tdeCertificates[strings.ToLower(d.Name)] && !o.tdeCertificates[strings.ToLower(db.DatabaseName)] {
		add(hcl.DiagWarning, "Database is TDE-protected",
			"database %s is encrypted with TDE; the managed instance needs the certificate that protects its encryption key before the link can seed it. Add a tde_certificate block for it (or migrate the certificate yourself).", q)
	}
	return diags
}

// probeHost asks the host what the DBA checks need and only the host
// knows, only when a check needs it: whether a Linux host runs systemd
// (the default restart command is systemctl), and whether the Windows host
// of a SQL Server 2016 that must enable Always On is a failover cluster
// node.
func (i *Instance) probeHost(ctx context.Context, o *Observed) {
	s := i.s
	restarts := s.Hadr != nil || s.StartupTraceFlags != nil
	// A Runner (the lab's tests) runs the restart command itself, so
	// the host's init system does not matter then.
	if i.linux != nil && i.linux.Runner == nil && restarts && !s.Host.RestartCommandSet && s.Restart != "never" {
		ok, err := i.linux.Systemd(ctx)
		if err != nil {
			i.log.Debug("cannot tell whether the host runs systemd", "error", err)
		}
		o.NoSystemd = err == nil && !ok
	}
	if i.windows != nil && MajorVersion(o.ProductVersion) == 13 && s.Hadr != nil && s.Hadr.Enabled && !o.HadrConfigured && !o.Clustered {
		ok, err := i.windows.ClusterNode(ctx)
		o.ClusterNode = ok
		if err != nil {
			o.ClusterNodeErr = redact(s, err).Error()
		}
	}
}

// hasErrors reports whether diags hold an error.
func hasErrors(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			return true
		}
	}
	return false
}

// hadrOffRefusal refuses to turn HADR off while availability groups exist:
// the restart would bring them all down.
func hadrOffRefusal(h *Hadr, o *Observed) *hcl.Diagnostic {
	if h.Enabled || len(o.AvailabilityGroups) == 0 || !(o.HadrConfigured || o.HadrRunning) {
		return nil
	}
	names := make([]string, len(o.AvailabilityGroups))
	for i, n := range o.AvailabilityGroups {
		names[i] = QuoteIdent(n)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Availability groups exist",
		Detail: fmt.Sprintf("%s: turning Always On off would take down the availability groups of this instance: %s. Remove them first (DROP AVAILABILITY GROUP), or keep enabled = true.",
			h.Addr(), strings.Join(names, ", ")),
		Subject: h.DeclRange.Ptr(),
	}
}
