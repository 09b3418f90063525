package link

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// linkInstance is what the link needs of the managed_instance target
// (*azure.ManagedInstance).
type linkInstance interface {
	Address() string
	Name() string
	FQDN() string
	ResourceID() string
	Link(ctx context.Context, name string) (*azure.Link, error)
	CreateLink(ctx context.Context, name string, spec azure.LinkSpec) (*azure.Link, error)
	SetLinkReplicationMode(ctx context.Context, name, mode string) error
	DeleteLink(ctx context.Context, name string) error
	DatabaseFormat(ctx context.Context) (string, error)
}

// linkSQL is what the link needs of the sql_server target
// (*sqlserver.Instance): its read-only queries and its address.
type linkSQL interface {
	Address() string
	Query(ctx context.Context, batch string) ([][]any, error)
	Server() *sqlserver.Server
}

// The status reads on SQL Server (the spec's statements, one view each,
// since the lab's parser need not join them).
const (
	linkAGsSQL       = "SELECT ag.name, ag.group_id, ag.is_distributed, ag.cluster_type_desc FROM sys.availability_groups ag"
	linkReplicasSQL  = "SELECT rs.group_id, rs.replica_id, rs.is_local, rs.role, rs.role_desc, rs.operational_state_desc, rs.connected_state_desc, rs.synchronization_health_desc, rs.last_connect_error_number, rs.last_connect_error_description FROM sys.dm_hadr_availability_replica_states rs"
	linkDatabasesSQL = "SELECT drs.group_id, drs.replica_id, drs.database_id, DB_NAME(drs.database_id) AS database_name, drs.is_local, drs.is_primary_replica, drs.synchronization_state_desc, drs.synchronization_health_desc, drs.last_hardened_lsn, drs.end_of_log_lsn, drs.log_send_queue_size, drs.redo_queue_size FROM sys.dm_hadr_database_replica_states drs"
)

// sqlSide is the distributed AG as SQL Server sees it.
type sqlSide struct {
	found bool
	// remote: the managed instance's replica of the DAG, as SQL Server
	// sees it (connected state, health, last error).
	remoteConnected, remoteHealth, remoteRole, localRole string
	lastConnectError                                     string
	// databases by lower-cased name: SQL Server's own replica.
	databases map[string]sqlDB
	// err says why the status could not be read (the plan still goes on).
	err error
}

type sqlDB struct {
	name, syncState, health, lastHardened, endOfLog string
}

// linkRead is what Read found.
type linkRead struct {
	azure   *azure.Link // nil: no link on the managed instance
	sql     sqlSide
	mi      string // the managed instance's address
	miID    string
	sqlAddr string
	// endpoint is the partner endpoint, the default filled in.
	endpoint string
	// gates are problems of versions and policies, as diagnostics.
	gates hcl.Diagnostics
}

func linkDiag(c *LinkConfig, sev hcl.DiagnosticSeverity, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: c.Address + ": " + detail, Subject: c.DeclRange.Ptr()}
}

// Read reads the link on Resource Manager (GET; 404 is absent) and the
// distributed AG's status on SQL Server, and checks the gates.
func (linkImpl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*LinkConfig)
	mi, ok := req.Target.(linkInstance)
	if !ok {
		return nil, hcl.Diagnostics{linkDiag(c, hcl.DiagError, "Not a managed instance", req.Target.Address()+" cannot hold a link")}
	}
	other := req.Others["sql_server"]
	sq, ok := other.Target.(linkSQL)
	if !ok || other.Target == nil {
		return nil, hcl.Diagnostics{linkDiag(c, hcl.DiagError, "Cannot read SQL Server", "the sql_server target cannot run queries")}
	}
	r := linkRead{mi: mi.Address(), miID: mi.ResourceID(), sqlAddr: sq.Address(), endpoint: c.PartnerEndpoint}
	if r.endpoint == "" {
		r.endpoint = fmt.Sprintf("TCP://%s:%d", sq.Server().Address, linkEndpointPort)
	}
	l, err := mi.Link(ctx, c.Name)
	if err != nil {
		d := linkDiag(c, hcl.DiagError, "Cannot read the link", err.Error())
		if azure.NotAvailable(err) {
			d.Detail += fmt.Sprintf(" (Resource Manager does not serve distributedAvailabilityGroups at api-version %s here)", azure.LinkAPIVersion)
		}
		return nil, hcl.Diagnostics{d}
	}
	r.azure = l
	r.sql = readSQLSide(ctx, sq, c.Name)
	r.gates = checkGates(ctx, c, mi, other.Observed)
	r.gates = append(r.gates, checkTarget(c, req.Observed, other.Observed)...)
	if c.MultiDatabase && !r.gates.HasErrors() {
		r.gates = append(r.gates, checkMultiDB(ctx, c, sq)...)
	}
	return r, nil
}

// MultiDBSQL asks SQL Server whether multi-database links are on (0 or 1).
const MultiDBSQL = "EXEC sys.sp_multidb_milink"

// checkMultiDB: the preview's switch must be on before a multi-database
// link is made (it cannot be turned while links exist, so milink does not
// turn it: that is the DBA's step on every replica).
func checkMultiDB(ctx context.Context, c *LinkConfig, q linkSQL) hcl.Diagnostics {
	rows, err := q.Query(ctx, MultiDBSQL)
	if err != nil {
		return hcl.Diagnostics{linkDiag(c, hcl.DiagError, "Cannot read the multi-database setting",
			fmt.Sprintf("%s on %s: %v (the procedure exists from SQL Server 2022 CU27 and 2025 CU9)", MultiDBSQL, q.Address(), err))}
	}
	if len(rows) > 0 && len(rows[0]) > 0 && linkCell(rows[0][0]) == "1" {
		return nil
	}
	return hcl.Diagnostics{linkDiag(c, hcl.DiagError, "Multi-database links are off",
		fmt.Sprintf("multi_database = true needs EXEC sys.sp_multidb_milink 1 on every replica of %s's availability group first, while no link exists (it persists).", q.Address()))}
}

// linkEndpointPort is the mirroring endpoint's default port.
const linkEndpointPort = 5022

// readSQLSide reads the DAG's rows on SQL Server. A failure is kept, not
// returned: the link's own status is Azure's, SQL Server's is extra.
func readSQLSide(ctx context.Context, q linkSQL, dag string) sqlSide {
	s := sqlSide{databases: map[string]sqlDB{}}
	ags, err := q.Query(ctx, linkAGsSQL)
	if err != nil {
		s.err = err
		return s
	}
	var group string
	for _, row := range ags {
		if len(row) >= 2 && strings.EqualFold(linkCell(row[0]), dag) {
			group = linkCell(row[1])
		}
	}
	if group == "" {
		return s
	}
	s.found = true
	reps, err := q.Query(ctx, linkReplicasSQL)
	if err != nil {
		s.err = err
		return s
	}
	for _, row := range reps {
		if len(row) < 10 || linkCell(row[0]) != group {
			continue
		}
		if linkCellBool(row[2]) {
			s.localRole = linkCell(row[4])
			continue
		}
		s.remoteRole, s.remoteConnected, s.remoteHealth = linkCell(row[4]), linkCell(row[6]), linkCell(row[7])
		if n := linkCell(row[8]); n != "" && n != "0" {
			s.lastConnectError = n + ": " + linkCell(row[9])
		}
	}
	dbs, err := q.Query(ctx, linkDatabasesSQL)
	if err != nil {
		s.err = err
		return s
	}
	for _, row := range dbs {
		if len(row) < 12 || linkCell(row[0]) != group || !linkCellBool(row[4]) {
			continue
		}
		d := sqlDB{name: linkCell(row[3]), syncState: linkCell(row[6]), health: linkCell(row[7]),
			lastHardened: linkCell(row[8]), endOfLog: linkCell(row[9])}
		s.databases[strings.ToLower(d.name)] = d
	}
	return s
}

// linkCell renders a cell as text: LSNs (numeric(25,0)) as decimal
// digits, GUIDs as hex, whatever type the driver chose.
func linkCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if allDigits(string(x)) {
			return string(x) // a decimal the driver kept as text
		}
		return fmt.Sprintf("%X", x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return new(big.Float).SetFloat64(x).Text('f', 0)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

func linkCellBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	}
	s := linkCell(v)
	return s == "1" || strings.EqualFold(s, "true")
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// SameLSN compares two LSNs as decimal strings (numeric(25,0)): leading
// zeros and white space ignored; an empty LSN equals nothing.
func SameLSN(a, b string) bool {
	a = strings.TrimLeft(strings.TrimSpace(a), "0")
	b = strings.TrimLeft(strings.TrimSpace(b), "0")
	if strings.TrimSpace(a+b) == "" {
		return false
	}
	return a == b && allDigits(a)
}

// The gates as data. Sources: ../../../shared/reference/link.md §1 (MI as
// initial primary) and §1 "Multi-database mode" (preview).
type versionGate struct {
	major    int
	minCU    int    // ProductUpdateLevel CUnn
	minBuild string // the build of that CU, when known
	name     string
	// format is the managed instance's databaseFormat the gate needs ("" any).
	format string
}

var (
	// initialPrimaryGates: SQL Server 2022 CU10 (16.0.4095.4) with the
	// SQL Server 2022 update policy, or 2025 with the 2025 policy.
	initialPrimaryGates = []versionGate{
		{major: 16, minCU: 10, minBuild: "16.0.4095.4", name: "SQL Server 2022 CU10", format: "SQLServer2022"},
		{major: 17, minCU: 0, minBuild: "17.0.1000.7", name: "SQL Server 2025", format: "SQLServer2025"},
	}
	// multiDatabaseGates: the preview's builds are known by CU only.
	multiDatabaseGates = []versionGate{
		{major: 16, minCU: 27, name: "SQL Server 2022 CU27"},
		{major: 17, minCU: 9, name: "SQL Server 2025 CU9"},
	}
)

// sqlVersion is what the gates read of the SQL Server's observation.
type sqlVersion struct {
	build   [4]int
	cu      int // -1 unknown
	edition string
	text    string
}

func observedVersion(o resources.Observation) (sqlVersion, bool) {
	v := sqlVersion{cu: -1}
	if o == nil {
		return v, false
	}
	vals := o.Values()
	str := func(k string) string {
		x, ok := vals[k]
		if !ok || x.Type() != cty.String || !x.IsKnown() || x.IsNull() {
			return ""
		}
		return x.AsString()
	}
	v.text = str("product_version")
	b, ok := sqlserver.ParseBuild(v.text)
	if !ok {
		return v, false
	}
	v.build = b
	if ul := strings.ToUpper(str("update_level")); strings.HasPrefix(ul, "CU") {
		if n, err := strconv.Atoi(strings.TrimPrefix(ul, "CU")); err == nil {
			v.cu = n
		}
	}
	v.edition = str("edition")
	return v, true
}

func linkBuildAtLeast(have [4]int, min string) bool {
	m, ok := sqlserver.ParseBuild(min)
	if !ok {
		return false
	}
	for i := range have {
		if have[i] != m[i] {
			return have[i] > m[i]
		}
	}
	return true
}

// passesGate reports whether the version meets one of the gates, and which.
func passesGate(v sqlVersion, gates []versionGate) (versionGate, bool) {
	for _, g := range gates {
		if v.build[0] != g.major {
			continue
		}
		if v.cu >= g.minCU || g.minBuild != "" && linkBuildAtLeast(v.build, g.minBuild) {
			return g, true
		}
		return g, false
	}
	return versionGate{}, false
}

func gateNames(gates []versionGate) string {
	var n []string
	for _, g := range gates {
		n = append(n, g.name)
	}
	return strings.Join(n, " or ")
}

// checkGates checks initial_primary and multi_database against the SQL
// Server's observed version and the managed instance's update policy.
func checkGates(ctx context.Context, c *LinkConfig, mi linkInstance, linkSQLObs resources.Observation) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if c.InitialPrimary != "managed_instance" && !c.MultiDatabase {
		return nil
	}
	v, ok := observedVersion(linkSQLObs)
	if !ok {
		return hcl.Diagnostics{linkDiag(c, hcl.DiagError, "SQL Server version unknown", "the SQL Server's version could not be read, so the link's options cannot be checked")}
	}
	if c.InitialPrimary == "managed_instance" {
		g, ok := passesGate(v, initialPrimaryGates)
		if !ok {
			diags = append(diags, linkDiag(c, hcl.DiagError, "Managed instance as initial primary not supported here",
				fmt.Sprintf("initial_primary = \"managed_instance\" needs %s or later; the SQL Server runs %s (%s).", gateNames(initialPrimaryGates), v.text, linkCUText(v.cu))))
		} else {
			format, err := mi.DatabaseFormat(ctx)
			switch {
			case err != nil:
				diags = append(diags, linkDiag(c, hcl.DiagError, "Cannot read the managed instance's update policy", err.Error()))
			case !strings.EqualFold(format, g.format):
				diags = append(diags, linkDiag(c, hcl.DiagError, "Update policy does not match",
					fmt.Sprintf("initial_primary = \"managed_instance\" with %s needs the managed instance's update policy %s; %s has %s. Change the update policy (databaseFormat) first; note that Always-up-to-date cannot go back.", g.name, g.format, mi.Address(), linkOrNone(format))))
			}
		}
	}
	if c.MultiDatabase {
		if _, ok := passesGate(v, multiDatabaseGates); !ok {
			diags = append(diags, linkDiag(c, hcl.DiagError, "Multi-database links not supported here",
				fmt.Sprintf("multi_database = true (preview) needs %s or later; the SQL Server runs %s (%s).", gateNames(multiDatabaseGates), v.text, linkCUText(v.cu))))
		}
		if e := strings.ToLower(v.edition); e != "" && !strings.Contains(e, "enterprise") && !strings.Contains(e, "developer") {
			diags = append(diags, linkDiag(c, hcl.DiagError, "Multi-database links need Enterprise or Developer",
				fmt.Sprintf("multi_database = true (preview) supports Enterprise and Developer editions; the SQL Server is %s.", v.edition)))
		}
	}
	return diags
}

func linkCUText(cu int) string {
	if cu < 0 {
		return "no cumulative update"
	}
	return fmt.Sprintf("CU%d", cu)
}

func linkOrNone(s string) string {
	if s == "" {
		return "none reported"
	}
	return s
}

// The targets the link runs on satisfy its interfaces.
var (
	_ linkInstance = (*azure.ManagedInstance)(nil)
	_ linkSQL      = (*sqlserver.Instance)(nil)
)
