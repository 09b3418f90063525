package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of the language, in one place.
const (
	DefaultPort           = 1433
	DefaultConnectTimeout = 15 * time.Second
	DefaultRestartTimeout = 5 * time.Minute
	DefaultMssqlConf      = "/var/opt/mssql/mssql.conf"
	DefaultMssqlConfTool  = "/opt/mssql/bin/mssql-conf"
)

// DefaultTraceFlags are the startup trace flags the link needs.
var DefaultTraceFlags = []int{1800, 9567}

// DefaultRestartCommand is the command restarting SQL Server for an OS and
// instance name ("" for the default instance). On Windows it is empty: the
// host driver then runs its own script, which restarts the service and
// starts again the dependent services (SQL Server Agent) that were running;
// a bare Restart-Service -Force would leave them stopped.
func DefaultRestartCommand(os, instance string) []string {
	if os == "windows" {
		return nil
	}
	return []string{"systemctl", "restart", "mssql-server"}
}

// systemDatabases cannot be linked.
var systemDatabases = map[string]bool{"master": true, "model": true, "msdb": true, "tempdb": true}

// blockKinds are the kinds a depends_on reference may name.
var blockKinds = []string{"sql_server", "master_key", "hadr", "startup_trace_flags", "database"}

var dependsOnAttr = hcl.AttributeSchema{Name: "depends_on"}

var sqlServerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "address", Required: true}, {Name: "port"}, {Name: "instance"}, {Name: "encrypt"},
		{Name: "trust_server_certificate"}, {Name: "connect_timeout"}, {Name: "restart"},
		{Name: "support_matrix"}, dependsOnAttr,
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "authentication"}, {Type: "host"}},
}

var authSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "method"}, {Name: "user"}, {Name: "password"}},
}

var hostSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "os"}, {Name: "transport"}, {Name: "mssql_conf"}, {Name: "mssql_conf_tool"},
		{Name: "restart_command"}, {Name: "restart_timeout"},
	},
}

var masterKeySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "server", Required: true}, {Name: "password", Required: true}, dependsOnAttr},
}

var hadrSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "server", Required: true}, {Name: "enabled"}, dependsOnAttr},
}

var traceFlagsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "server", Required: true}, {Name: "flags"}, {Name: "exclusive"}, dependsOnAttr},
}

var databaseSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "server", Required: true}, {Name: "name"}, {Name: "recovery_model"}, dependsOnAttr},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "backup"}},
}

var backupSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "directory", Required: true}, {Name: "compression"}, {Name: "checksum"}},
}

// pendingDeps are depends_on lists checked once every block is known.
type pendingDep struct {
	from string
	expr hcl.Expression
	into *[]string
}

func (l *loader) decodeAll(cfg *Config, blocks map[string][]*hcl.Block) {
	var deps []pendingDep
	known := map[string]hcl.Range{}
	declare := func(kind string, b *hcl.Block) bool {
		addr := kind + "." + b.Labels[0]
		if prev, ok := known[addr]; ok {
			l.diags = append(l.diags, duplicate(kind, b.Labels[0], b, prev))
			return false
		}
		known[addr] = b.DefRange
		return true
	}

	servers := map[string]cty.Value{}
	for _, b := range blocks["sql_server"] {
		if !declare("sql_server", b) {
			continue
		}
		s := l.decodeSQLServer(b)
		cfg.SQLServers = append(cfg.SQLServers, s)
		servers[s.Name] = cty.ObjectVal(map[string]cty.Value{
			"name":    cty.StringVal(s.Name),
			"address": cty.StringVal(s.Address),
			"port":    cty.NumberIntVal(int64(s.Port)),
		})
		if a, ok := l.dependsOn(b); ok {
			deps = append(deps, pendingDep{s.Addr(), a, &s.DependsOn})
		}
	}

	// Resource blocks may refer to sql_server.NAME as a value too.
	ctx := l.ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"sql_server": cty.ObjectVal(servers)}

	for _, b := range blocks["master_key"] {
		if !declare("master_key", b) {
			continue
		}
		bd, _ := l.content(b.Body, masterKeySchema, ctx)
		s := l.serverRef(cfg, bd, b)
		mk := &MasterKey{Name: b.Labels[0], DeclRange: b.DefRange}
		mk.Password = bd.required("password", true, b.DefRange, "in a master_key block")
		deps = l.addDeps(deps, bd, mk.Addr(), &mk.DependsOn)
		if s == nil {
			continue
		}
		if s.MasterKey != nil {
			l.diags = append(l.diags, onePerServer("master_key", s, b, s.MasterKey.DeclRange))
			continue
		}
		s.MasterKey = mk
	}

	for _, b := range blocks["hadr"] {
		if !declare("hadr", b) {
			continue
		}
		bd, _ := l.content(b.Body, hadrSchema, ctx)
		s := l.serverRef(cfg, bd, b)
		h := &Hadr{Name: b.Labels[0], DeclRange: b.DefRange, Enabled: bd.boolean("enabled", true)}
		deps = l.addDeps(deps, bd, h.Addr(), &h.DependsOn)
		if s == nil {
			continue
		}
		if s.Hadr != nil {
			l.diags = append(l.diags, onePerServer("hadr", s, b, s.Hadr.DeclRange))
			continue
		}
		s.Hadr = h
	}

	for _, b := range blocks["startup_trace_flags"] {
		if !declare("startup_trace_flags", b) {
			continue
		}
		bd, _ := l.content(b.Body, traceFlagsSchema, ctx)
		s := l.serverRef(cfg, bd, b)
		t := &StartupTraceFlags{Name: b.Labels[0], DeclRange: b.DefRange, Exclusive: bd.boolean("exclusive", false)}
		t.Flags = l.traceFlags(bd)
		deps = l.addDeps(deps, bd, t.Addr(), &t.DependsOn)
		if s == nil {
			continue
		}
		if s.StartupTraceFlags != nil {
			l.diags = append(l.diags, onePerServer("startup_trace_flags", s, b, s.StartupTraceFlags.DeclRange))
			continue
		}
		s.StartupTraceFlags = t
	}

	dbNames := map[string]map[string]hcl.Range{} // server → lower-cased database name → where
	for _, b := range blocks["database"] {
		if !declare("database", b) {
			continue
		}
		bd, sub := l.content(b.Body, databaseSchema, ctx)
		s := l.serverRef(cfg, bd, b)
		d := &Database{Name: b.Labels[0], DeclRange: b.DefRange}
		d.DatabaseName = bd.str("name", d.Name, false)
		if a := bd.attrs["name"]; a != nil && (d.DatabaseName == "" || len(d.DatabaseName) > 128) {
			bd.errorf(a, "Invalid database name", "A database name has 1 to 128 characters.")
		}
		d.RecoveryModel = bd.str("recovery_model", "FULL", false)
		if !strings.EqualFold(d.RecoveryModel, "FULL") {
			bd.errorf(bd.attrs["recovery_model"], "Invalid recovery model",
				"The managed instance link needs databases in the FULL recovery model; %q is not accepted.", d.RecoveryModel)
		}
		d.RecoveryModel = "FULL"
		d.Backup = l.decodeBackup(sub, ctx)
		if len(sub) == 0 {
			// Not an error: the backup may be taken outside milink. But
			// validate would otherwise say "Success!" for a configuration
			// whose link cannot be created as written.
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "No backup block",
				Detail:   fmt.Sprintf("%s has no backup block: the link needs a full, non-copy-only backup; milink will not take one. Add a backup block with a directory, or take that backup yourself before creating the link.", d.Addr()),
				Subject:  b.DefRange.Ptr(),
			})
		}
		deps = l.addDeps(deps, bd, d.Addr(), &d.DependsOn)
		if systemDatabases[strings.ToLower(d.DatabaseName)] {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "System database",
				Detail:   fmt.Sprintf("The database %q is a system database; system databases (master, model, msdb, tempdb) cannot be replicated with the link.", d.DatabaseName),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		if s == nil {
			continue
		}
		names := dbNames[s.Name]
		if names == nil {
			names = map[string]hcl.Range{}
			dbNames[s.Name] = names
		}
		key := strings.ToLower(d.DatabaseName)
		if prev, ok := names[key]; ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate database",
				Detail:   fmt.Sprintf("The database %q on %s is already declared at %s.", d.DatabaseName, s.Addr(), prev),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		names[key] = b.DefRange
		s.Databases = append(s.Databases, d)
	}

	for _, dep := range deps {
		*dep.into = l.resolveDeps(dep, known)
	}
	l.checkCycles(cfg, known)
}

func onePerServer(kind string, s *SQLServer, b *hcl.Block, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s for %s", kind, s.Addr()),
		Detail:   fmt.Sprintf("%s already has a %s block, at %s; at most one is allowed per server.", s.Addr(), kind, prev),
		Subject:  b.DefRange.Ptr(),
	}
}

func (l *loader) dependsOn(b *hcl.Block) (hcl.Expression, bool) {
	attrs, _ := b.Body.JustAttributes()
	if a, ok := attrs["depends_on"]; ok {
		return a.Expr, true
	}
	return nil, false
}

func (l *loader) addDeps(deps []pendingDep, bd *body, from string, into *[]string) []pendingDep {
	if a, ok := bd.attrs["depends_on"]; ok {
		deps = append(deps, pendingDep{from, a.Expr, into})
	}
	return deps
}

// resolveDeps turns a depends_on list of references into addresses.
func (l *loader) resolveDeps(dep pendingDep, known map[string]hcl.Range) []string {
	exprs, diags := hcl.ExprList(dep.expr)
	l.diags = append(l.diags, diags...)
	var out []string
	seen := map[string]bool{}
	for _, e := range exprs {
		tr, diags := hcl.AbsTraversalForExpr(e)
		if diags.HasErrors() || len(tr) != 2 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid depends_on reference",
				Detail:   "Each element of depends_on is a reference to a block, such as master_key.sql01 or database.sales.",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid depends_on reference",
				Detail:   "Each element of depends_on is a reference to a block, such as master_key.sql01 or database.sales.",
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		kind := tr.RootName()
		addr := kind + "." + attr.Name
		if !contains(blockKinds, kind) {
			hint := ""
			if s := suggest(kind, blockKinds); s != "" {
				hint = fmt.Sprintf(" Did you mean %q?", s)
			}
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid depends_on reference",
				Detail:   fmt.Sprintf("%q is not a kind of block; depends_on can name %s.%s", kind, strings.Join(blockKinds, ", "), hint),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if _, ok := known[addr]; !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Reference to undeclared block",
				Detail:   fmt.Sprintf("depends_on names %s, which is not declared.%s", addr, suggestAddr(addr, known)),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if addr == dep.from {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Self-referential depends_on",
				Detail:   fmt.Sprintf("%s cannot depend on itself.", addr),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	return out
}

func suggestAddr(addr string, known map[string]hcl.Range) string {
	if s := suggest(addr, sortedKeys(known)); s != "" {
		return fmt.Sprintf(" Did you mean %s?", s)
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// serverRef reads `server = sql_server.NAME` as a reference, not a value,
// and returns the server it names (nil after a diagnostic).
func (l *loader) serverRef(cfg *Config, bd *body, b *hcl.Block) *SQLServer {
	a, ok := bd.attrs["server"]
	if !ok {
		return nil // the schema reported it
	}
	tr, diags := hcl.AbsTraversalForExpr(a.Expr)
	if diags.HasErrors() || len(tr) < 2 || tr.RootName() != "sql_server" {
		bd.errorf(a, "Invalid server reference", "The argument \"server\" must be a reference to a sql_server block, such as sql_server.sql01.")
		return nil
	}
	name, ok := tr[1].(hcl.TraverseAttr)
	if !ok || len(tr) != 2 {
		bd.errorf(a, "Invalid server reference", "The argument \"server\" must be a reference to a sql_server block, such as sql_server.sql01.")
		return nil
	}
	if s := cfg.Server(name.Name); s != nil {
		return s
	}
	names := make([]string, 0, len(cfg.SQLServers))
	for _, s := range cfg.SQLServers {
		names = append(names, s.Name)
	}
	hint := ""
	if s := suggest(name.Name, names); s != "" {
		hint = fmt.Sprintf(" Did you mean sql_server.%s?", s)
	}
	bd.errorf(a, "Reference to undeclared sql_server", "There is no sql_server %q in the configuration.%s", name.Name, hint)
	return nil
}

func (l *loader) decodeSQLServer(b *hcl.Block) *SQLServer {
	bd, sub := l.content(b.Body, sqlServerSchema, l.ctx)
	s := &SQLServer{Name: b.Labels[0], DeclRange: b.DefRange}
	s.Address = bd.required("address", false, b.DefRange, "in a sql_server block")
	s.Port = bd.integer("port", DefaultPort, 1, 65535)
	s.Instance = bd.str("instance", "", false)
	s.Encrypt = bd.oneOf("encrypt", "false", "disable", "false", "true", "strict")
	s.TrustServerCertificate = bd.boolean("trust_server_certificate", false)
	s.ConnectTimeout = bd.duration("connect_timeout", DefaultConnectTimeout)
	s.Restart = bd.oneOf("restart", "auto", "auto", "never")
	s.SupportMatrix = bd.oneOf("support_matrix", "current", "current", "2022-06")

	var auth, host *hcl.Block
	for _, blk := range sub {
		prev := &auth
		if blk.Type == "host" {
			prev = &host
		}
		if *prev != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
				Detail:   fmt.Sprintf("A sql_server block has at most one %s block; the first is at %s.", blk.Type, (*prev).DefRange),
				Subject:  blk.DefRange.Ptr(),
			})
			continue
		}
		*prev = blk
	}
	if auth == nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing authentication block",
			Detail:   fmt.Sprintf("sql_server %q needs an authentication block saying how milink logs in (method, user, password).", s.Name),
			Subject:  b.DefRange.Ptr(),
		})
	} else {
		s.Auth = l.decodeAuth(auth)
	}
	s.Host = l.decodeHost(host, s.Instance, b.DefRange)
	return s
}

func (l *loader) decodeAuth(b *hcl.Block) Auth {
	bd, _ := l.content(b.Body, authSchema, l.ctx)
	a := Auth{Method: bd.oneOf("method", "sql", "sql", "windows", "entra")}
	if a.Method == "sql" {
		a.User = bd.required("user", false, b.DefRange, "for SQL authentication")
		a.Password = bd.required("password", true, b.DefRange, "for SQL authentication")
	} else {
		// windows and entra validate here and fail at connect, where the
		// missing implementation is explained.
		a.User = bd.str("user", "", false)
		a.Password = bd.str("password", "", true)
	}
	return a
}

func (l *loader) decodeHost(b *hcl.Block, instance string, serverRange hcl.Range) Host {
	h := Host{OS: "linux", Transport: "local", RestartTimeout: DefaultRestartTimeout, DeclRange: serverRange}
	if b == nil {
		h.MssqlConf, h.MssqlConfTool = DefaultMssqlConf, DefaultMssqlConfTool
		h.RestartCommand = DefaultRestartCommand(h.OS, instance)
		return h
	}
	h.DeclRange = b.DefRange
	bd, _ := l.content(b.Body, hostSchema, l.ctx)
	h.OS = bd.oneOf("os", "linux", "linux", "windows")
	h.Transport = bd.oneOf("transport", "local", "local", "ssh", "winrm")
	if h.Transport != "local" {
		bd.errorf(bd.attrs["transport"], "Transport not yet supported",
			"The %s transport is not yet supported; only \"local\" (milink runs on the SQL Server host) is.", h.Transport)
	}
	if h.OS == "linux" {
		h.MssqlConf = bd.str("mssql_conf", DefaultMssqlConf, false)
		h.MssqlConfTool = bd.str("mssql_conf_tool", DefaultMssqlConfTool, false)
	} else {
		for _, name := range []string{"mssql_conf", "mssql_conf_tool"} {
			if a, ok := bd.attrs[name]; ok {
				bd.errorf(a, "Argument not valid on Windows", "%q applies to SQL Server on Linux; on Windows the settings live in the registry.", name)
			}
		}
	}
	h.RestartCommand = bd.strList("restart_command", DefaultRestartCommand(h.OS, instance))
	if a, ok := bd.attrs["restart_command"]; ok && len(h.RestartCommand) == 0 {
		bd.errorf(a, "Invalid restart command", "The restart command must name a program.")
		h.RestartCommand = DefaultRestartCommand(h.OS, instance)
	}
	h.RestartTimeout = bd.duration("restart_timeout", DefaultRestartTimeout)
	return h
}

func (l *loader) decodeBackup(blocks hcl.Blocks, ctx *hcl.EvalContext) *Backup {
	var bk *Backup
	for _, b := range blocks {
		if bk != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate backup block",
				Detail:   fmt.Sprintf("A database has at most one backup block; the first is at %s.", bk.DeclRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		bd, _ := l.content(b.Body, backupSchema, ctx)
		bk = &Backup{DeclRange: b.DefRange}
		bk.Directory = bd.required("directory", false, b.DefRange, "in a backup block")
		bk.Compression = bd.boolean("compression", true)
		bk.Checksum = bd.boolean("checksum", true)
	}
	return bk
}

// traceFlags reads flags: each 1..32767, sorted and deduplicated.
func (l *loader) traceFlags(bd *body) []int {
	v, a, st := bd.value("flags", cty.List(cty.Number), false)
	if st != good {
		return append([]int(nil), DefaultTraceFlags...)
	}
	seen := map[int]bool{}
	var out []int
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		n, ok := 0, false
		if !e.IsNull() {
			n, ok = wholeNumber(e.AsBigFloat(), 1, 32767)
		}
		if !ok {
			bd.errorf(a, "Invalid trace flag", "Each trace flag is a whole number from 1 to 32767.")
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// checkCycles reports depends_on cycles, including the implicit edges from
// a resource to its server.
func (l *loader) checkCycles(cfg *Config, known map[string]hcl.Range) {
	edges := map[string][]string{}
	for _, s := range cfg.SQLServers {
		edges[s.Addr()] = s.DependsOn
		for _, n := range s.nodes() {
			edges[n.addr] = append(append([]string(nil), n.deps...), s.Addr())
		}
	}
	state := map[string]int{}
	var visit func(addr string, path []string) bool
	visit = func(addr string, path []string) bool {
		switch state[addr] {
		case 2:
			return false
		case 1:
			i := indexOf(path, addr)
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Dependency cycle",
				Detail:   fmt.Sprintf("The blocks depend on each other in a cycle: %s → %s.", strings.Join(path[i:], " → "), addr),
				Subject:  ptr(known[addr]),
			})
			return true
		}
		state[addr] = 1
		for _, d := range edges[addr] {
			if visit(d, append(path, addr)) {
				state[addr] = 2
				return true
			}
		}
		state[addr] = 2
		return false
	}
	for _, a := range sortedKeys(edges) {
		if visit(a, nil) {
			return // one cycle is enough to explain
		}
	}
}

func ptr(r hcl.Range) *hcl.Range {
	if r.Filename == "" {
		return nil
	}
	return &r
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return 0
}

type node struct {
	addr string
	deps []string
}

// nodes are the resource blocks attached to the server.
func (s *SQLServer) nodes() []node {
	var out []node
	if s.MasterKey != nil {
		out = append(out, node{s.MasterKey.Addr(), s.MasterKey.DependsOn})
	}
	if s.Hadr != nil {
		out = append(out, node{s.Hadr.Addr(), s.Hadr.DependsOn})
	}
	if s.StartupTraceFlags != nil {
		out = append(out, node{s.StartupTraceFlags.Addr(), s.StartupTraceFlags.DependsOn})
	}
	for _, d := range s.Databases {
		out = append(out, node{d.Addr(), d.DependsOn})
	}
	return out
}
