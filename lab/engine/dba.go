package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// This file holds what a careful DBA's checks need the lab to do: create
// and drop databases, put them into the states that make a database
// ineligible for the link (offline, read-only, single-user, AUTO_CLOSE, a
// second log file, FILESTREAM and memory-optimized filegroups, a member of
// an availability group), logins and the sysadmin role (a non-sysadmin
// login gets SQL Server's permission errors), and availability groups as
// catalogue rows.

// dbaDatabase is the part of a database the DBA checks read. Embedded in
// database, so its JSON fields sit beside the others in catalog.json.
type dbaDatabase struct {
	UserAccess string `json:"user_access_desc,omitempty"` // "" is MULTI_USER
	AutoClose  bool   `json:"is_auto_close_on,omitempty"`
	Standby    bool   `json:"is_in_standby,omitempty"`
	Collation  string `json:"collation_name,omitempty"` // "" is the server's
	ADR        bool   `json:"is_accelerated_database_recovery_on,omitempty"`
	// BrokerOff: Service Broker is disabled (new databases have it on,
	// as model has).
	BrokerOff bool `json:"broker_disabled,omitempty"`
	// GroupDatabaseID is set while the database is joined to an
	// availability group (sys.databases.group_database_id).
	GroupDatabaseID *[16]byte    `json:"group_database_id,omitempty"`
	ExtraFiles      []*dataFile  `json:"extra_files,omitempty"`
	Filegroups      []*filegroup `json:"filegroups,omitempty"`
	// MirroringGUID is set for a mirrored database (sys.database_mirroring).
	MirroringGUID *[16]byte `json:"mirroring_guid,omitempty"`
}

func (d *dbaDatabase) userAccess() string {
	if d.UserAccess == "" {
		return "MULTI_USER"
	}
	return d.UserAccess
}

// dataFile is a file beyond a database's first data and log files.
type dataFile struct {
	Name      string `json:"name"`
	Physical  string `json:"physical_name"`
	Type      int    `json:"type"` // 0 ROWS, 1 LOG, 2 FILESTREAM
	Filegroup string `json:"filegroup,omitempty"`
}

// filegroup is a filegroup beyond PRIMARY.
type filegroup struct {
	Name string `json:"name"`
	Type string `json:"type"` // FG, FD (FILESTREAM), FX (memory-optimized data)
}

// dbaCatalog is the server-wide part: logins and availability groups.
type dbaCatalog struct {
	Logins []*login `json:"logins,omitempty"`
	// NotSysadmin lists logins the lab starts with (its own) that were
	// dropped from the sysadmin role.
	NotSysadmin []string             `json:"not_sysadmin,omitempty"`
	AGs         []*availabilityGroup `json:"availability_groups,omitempty"`
}

type login struct {
	Name     string     `json:"name"`
	Password secretHash `json:"password"`
	Sysadmin bool       `json:"sysadmin"`
}

type availabilityGroup struct {
	Name      string   `json:"name"`
	ID        [16]byte `json:"group_id"`
	Secondary bool     `json:"secondary,omitempty"` // joined with ALTER AVAILABILITY GROUP ... JOIN
	// The rest is hadr.go's: CLUSTER_TYPE ("" reads as NONE), the
	// DISTRIBUTED form, GRANT CREATE ANY DATABASE and the replicas.
	ClusterType   string       `json:"cluster_type_desc,omitempty"`
	Distributed   bool         `json:"is_distributed,omitempty"`
	GrantCreateDB bool         `json:"grant_create_any_database,omitempty"`
	Replicas      []*agReplica `json:"replicas,omitempty"`
}

func (c *catalog) login(name string) *login {
	for _, l := range c.Logins {
		if equalFold(l.Name, name) {
			return l
		}
	}
	return nil
}

func (c *catalog) ag(name string) *availabilityGroup {
	for _, a := range c.AGs {
		if equalFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// isSysadmin: the lab's own login is a sysadmin unless dropped from the
// role; created logins only when added.
func (s *Session) isSysadmin() bool {
	s.inst.mu.Lock()
	defer s.inst.mu.Unlock()
	return s.isSysadminLocked()
}

func (s *Session) isSysadminLocked() bool {
	i := s.inst
	name := s.login()
	if l := i.cat.login(name); l != nil {
		return l.Sysadmin
	}
	for _, n := range i.cat.NotSysadmin {
		if equalFold(n, name) {
			return false
		}
	}
	return true
}

// denied is the permission check before a statement: a login outside
// sysadmin gets the error SQL Server sends for each statement milink (or
// a test) runs that needs more than public.
func (s *Session) denied(st stmt) *sqlError {
	switch st.(type) {
	case *alterDBStmt, *dbaAlterDBStmt, *backupDBStmt, *masterKeyStmt, *createCertStmt, *dropCertStmt,
		*createEndpointStmt, *dropEndpointStmt, *dbccStmt, *dbaStmt, *agStmt:
	default:
		return nil
	}
	if s.isSysadmin() {
		return nil
	}
	switch x := st.(type) {
	case *alterDBStmt:
		return alterDBDenied(x.db)
	case *dbaAlterDBStmt:
		return alterDBDenied(x.db)
	case *backupDBStmt:
		return &sqlError{number: 262, class: 14, state: 1, text: fmt.Sprintf("BACKUP DATABASE permission denied in database '%s'.", x.db),
			also: errf(3013, 16, "BACKUP DATABASE is terminating abnormally.")}
	case *dbccStmt:
		if x.cmd == "TRACEON" || x.cmd == "TRACEOFF" {
			return errf(2571, 14, "User '%s' does not have permission to run DBCC %s.", s.login(), strings.ToLower(x.cmd))
		}
		return nil
	case *dbaStmt:
		if x.op == "CREATE DATABASE" {
			return errf(262, 14, "CREATE DATABASE permission denied in database 'master'.")
		}
	}
	return errf(15247, 16, "User does not have permission to perform this action.")
}

func alterDBDenied(db string) *sqlError {
	return &sqlError{number: 5011, class: 14, state: 1,
		text: fmt.Sprintf("User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", db),
		also: errf(5069, 16, "ALTER DATABASE statement failed.")}
}

// viewServerStateDenied is what a DMV needing VIEW SERVER STATE answers a
// login without it.
func viewServerStateDenied() *sqlError {
	return &sqlError{number: 300, class: 14, state: 1, text: "VIEW SERVER STATE permission was denied on object 'server', database 'master'.",
		also: errf(297, 16, "The user does not have permission to perform this action.")}
}

// dbaStmt is one of the DBA statements: CREATE/DROP DATABASE, logins, the
// sysadmin role, availability groups.
type dbaStmt struct {
	op        string // "CREATE DATABASE", "DROP DATABASE", "CREATE LOGIN", "DROP LOGIN", "ADD MEMBER", "DROP MEMBER", "CREATE AG", "JOIN AG", "DROP AG", "AG ADD DATABASE", "AG REMOVE DATABASE"
	names     []string
	collation string
	password  string
	role      string
}

// dbaAlterDBStmt is ALTER DATABASE other than SET RECOVERY.
type dbaAlterDBStmt struct {
	db     string
	option string // OFFLINE, ONLINE, READ_ONLY, ..., AUTO_CLOSE, ACCELERATED_DATABASE_RECOVERY, ENABLE_BROKER, ..., HADR, ADD LOG FILE, ADD FILEGROUP, ADD FILE
	on     bool
	arg    string // filegroup or file name, availability group
	kind   string // FD, FX for ADD FILEGROUP
	file   string // physical name for ADD (LOG) FILE
	fg     string // TO FILEGROUP
}

// parseCreateDBA parses CREATE DATABASE / LOGIN / AVAILABILITY GROUP
// (CREATE already read); ok false when the statement is none of them.
func (p *parser) parseCreateDBA() (stmt, bool, *sqlError) {
	switch {
	case p.accept("DATABASE"):
		n, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		x := &dbaStmt{op: "CREATE DATABASE", names: []string{n}}
		if p.accept("COLLATE") {
			if x.collation, err = p.ident(); err != nil {
				return nil, true, err
			}
		}
		return x, true, nil
	case p.accept("LOGIN"):
		n, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		if err := p.expectSeq("WITH", "PASSWORD"); err != nil {
			return nil, true, err
		}
		pw, err := p.passwordValue()
		if err != nil {
			return nil, true, err
		}
		// CHECK_POLICY = OFF and the like: read, not simulated.
		for p.acceptOp(",") {
			if _, err := p.ident(); err != nil {
				return nil, true, err
			}
			if _, err := p.optValue(); err != nil {
				return nil, true, err
			}
		}
		return &dbaStmt{op: "CREATE LOGIN", names: []string{n}, password: pw}, true, nil
	case p.accept("AVAILABILITY"):
		if err := p.expect("GROUP"); err != nil {
			return nil, true, err
		}
		x, err := p.parseCreateAG()
		return x, true, err
	}
	return nil, false, nil
}

// skipParens reads a parenthesised list, nested, without interpreting it.
func (p *parser) skipParens() *sqlError {
	if err := p.expectOp("("); err != nil {
		return err
	}
	depth := 1
	for depth > 0 {
		t := p.next()
		switch {
		case t.kind == tEOF:
			return p.errNear()
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		}
	}
	return nil
}

// parseAlterDBA parses ALTER SERVER ROLE and ALTER AVAILABILITY GROUP
// (ALTER already read).
func (p *parser) parseAlterDBA() (stmt, bool, *sqlError) {
	switch {
	case p.accept("SERVER"):
		if err := p.expect("ROLE"); err != nil {
			return nil, true, err
		}
		role, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		op := "ADD MEMBER"
		if !p.accept("ADD") {
			if err := p.expect("DROP"); err != nil {
				return nil, true, err
			}
			op = "DROP MEMBER"
		}
		if err := p.expect("MEMBER"); err != nil {
			return nil, true, err
		}
		m, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		return &dbaStmt{op: op, role: role, names: []string{m}}, true, nil
	case p.accept("AVAILABILITY"):
		if err := p.expect("GROUP"); err != nil {
			return nil, true, err
		}
		n, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		if x, ok, err := p.parseAlterAG(n); ok {
			return x, true, err
		}
		switch {
		case p.accept("JOIN"):
			return &dbaStmt{op: "JOIN AG", names: []string{n}}, true, nil
		case p.accept("ADD"), p.accept("REMOVE"):
			op := "AG ADD DATABASE"
			if p.toks[p.i-1].is("REMOVE") {
				op = "AG REMOVE DATABASE"
			}
			if err := p.expect("DATABASE"); err != nil {
				return nil, true, err
			}
			d, err := p.ident()
			if err != nil {
				return nil, true, err
			}
			return &dbaStmt{op: op, names: []string{n, d}}, true, nil
		}
		return nil, true, p.errNear()
	}
	return nil, false, nil
}

// parseAlterDatabaseDBA parses what follows ALTER DATABASE [db] other than
// SET RECOVERY.
func (p *parser) parseAlterDatabaseDBA(db string) (stmt, *sqlError) {
	x := &dbaAlterDBStmt{db: db}
	if p.accept("REMOVE") {
		switch {
		case p.accept("FILE"):
			x.option = "REMOVE FILE"
		case p.accept("FILEGROUP"):
			x.option = "REMOVE FILEGROUP"
		default:
			return nil, p.errNear()
		}
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		x.arg = n
		return x, nil
	}
	if p.accept("ADD") {
		switch {
		case p.accept("LOG"):
			if err := p.expect("FILE"); err != nil {
				return nil, err
			}
			x.option = "ADD LOG FILE"
		case p.accept("FILE"):
			x.option = "ADD FILE"
		case p.accept("FILEGROUP"):
			x.option = "ADD FILEGROUP"
			n, err := p.ident()
			if err != nil {
				return nil, err
			}
			x.arg, x.kind = n, "FG"
			if p.accept("CONTAINS") {
				switch {
				case p.accept("FILESTREAM"):
					x.kind = "FD"
				case p.accept("MEMORY_OPTIMIZED_DATA"):
					x.kind = "FX"
				default:
					return nil, p.errNear()
				}
			}
			return x, nil
		default:
			return nil, p.errNear()
		}
		// ( NAME = n, FILENAME = N'...' [, SIZE = ...] )
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			v, err := p.optValue()
			if err != nil {
				return nil, err
			}
			// SIZE = 8MB, FILEGROWTH = 10%: the unit or % is read, not kept.
			if t := p.peek(); t.kind == tIdent && !t.is("NAME") && !t.is("FILENAME") || t.isOp("%") {
				p.i++
			}
			switch strings.ToUpper(o) {
			case "NAME":
				x.arg = v
			case "FILENAME":
				x.file = v
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		if x.option == "ADD FILE" && p.accept("TO") {
			if err := p.expect("FILEGROUP"); err != nil {
				return nil, err
			}
			fg, err := p.ident()
			if err != nil {
				return nil, err
			}
			x.fg = fg
		}
		if x.arg == "" {
			return nil, p.errNear()
		}
		return x, nil
	}
	if err := p.expect("SET"); err != nil {
		return nil, err
	}
	t := p.next()
	if t.kind != tIdent {
		return nil, syntaxNear(t.raw)
	}
	x.option = strings.ToUpper(t.text)
	switch x.option {
	case "OFFLINE", "ONLINE", "EMERGENCY", "READ_ONLY", "READ_WRITE", "SINGLE_USER", "RESTRICTED_USER", "MULTI_USER",
		"ENABLE_BROKER", "DISABLE_BROKER", "NEW_BROKER":
	case "AUTO_CLOSE":
		on := p.next()
		if !on.is("ON") && !on.is("OFF") {
			return nil, syntaxNear(on.raw)
		}
		x.on = on.is("ON")
	case "ACCELERATED_DATABASE_RECOVERY":
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		on := p.next()
		if !on.is("ON") && !on.is("OFF") {
			return nil, syntaxNear(on.raw)
		}
		x.on = on.is("ON")
	case "PARTNER":
		// SET PARTNER = N'TCP://host:5022' | SET PARTNER OFF
		if p.accept("OFF") {
			return x, nil
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.stringLit()
		if err != nil {
			return nil, err
		}
		x.arg, x.on = v, true
		return x, nil
	case "HADR":
		// SET HADR AVAILABILITY GROUP = [ag] | SET HADR OFF
		if p.accept("OFF") {
			return x, nil
		}
		if err := p.expectSeq("AVAILABILITY", "GROUP"); err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		ag, err := p.ident()
		if err != nil {
			return nil, err
		}
		x.arg, x.on = ag, true
		return x, nil
	default:
		return nil, syntaxNear(t.raw)
	}
	if p.accept("WITH") {
		switch {
		case p.accept("NO_WAIT"):
		case p.accept("ROLLBACK"):
			if p.accept("AFTER") {
				if _, err := p.intLit(); err != nil {
					return nil, err
				}
				p.accept("SECONDS")
			} else if err := p.expect("IMMEDIATE"); err != nil {
				return nil, err
			}
		default:
			return nil, p.errNear()
		}
	}
	return x, nil
}

// parseDropDBA parses DROP DATABASE / LOGIN / AVAILABILITY GROUP (DROP
// already read).
func (p *parser) parseDropDBA() (stmt, bool, *sqlError) {
	switch {
	case p.accept("DATABASE"):
		x := &dbaStmt{op: "DROP DATABASE"}
		p.acceptIfExists()
		for {
			n, err := p.ident()
			if err != nil {
				return nil, true, err
			}
			x.names = append(x.names, n)
			if !p.acceptOp(",") {
				break
			}
		}
		return x, true, nil
	case p.accept("LOGIN"):
		n, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		return &dbaStmt{op: "DROP LOGIN", names: []string{n}}, true, nil
	case p.accept("AVAILABILITY"):
		if err := p.expect("GROUP"); err != nil {
			return nil, true, err
		}
		n, err := p.ident()
		if err != nil {
			return nil, true, err
		}
		return &dbaStmt{op: "DROP AG", names: []string{n}}, true, nil
	}
	return nil, false, nil
}

func (p *parser) acceptIfExists() bool {
	if p.peek().is("IF") && p.peekN(1).is("EXISTS") {
		p.i += 2
		return true
	}
	return false
}

// hadrDisabled is error 35221, as SQL Server answers availability group
// statements while the HADR manager is off.
func hadrDisabled() *sqlError {
	return errf(35221, 16, "Could not process the operation. Always On Availability Groups replica manager is disabled on this instance of SQL Server. Enable Always On Availability Groups, by using the SQL Server Configuration Manager. Then, restart the SQL Server service, and retry the currently operation. For information about how to enable and disable Always On Availability Groups, see SQL Server Books Online.")
}

func (s *Session) execDBA(x *dbaStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	switch x.op {
	case "CREATE DATABASE":
		n := x.names[0]
		if c.db(n) != nil {
			return errf(1801, 16, "Database '%s' already exists. Choose a different database name.", n)
		}
		id := c.nextDatabaseID()
		model := c.db("model")
		rec := "FULL"
		if model != nil {
			rec = model.Recovery
		}
		d := &database{Name: n, ID: id, Recovery: rec, State: "ONLINE", Created: nowUTC(), Pages: 1024}
		d.Collation = x.collation
		c.Databases = append(c.Databases, d)
	case "DROP DATABASE":
		for _, n := range x.names {
			d := c.db(n)
			if d == nil {
				return errf(3701, 11, "Cannot drop the database '%s', because it does not exist or you do not have permission.", n)
			}
			if d.ID <= 4 {
				return errf(3708, 16, "Cannot drop the database '%s' because it is a system database.", d.Name)
			}
			if d.GroupDatabaseID != nil {
				return errf(3752, 16, "The database '%s' is currently joined to an availability group.  Before you can drop the database, you need to remove it from the availability group.", d.Name)
			}
			for k, e := range c.Databases {
				if e == d {
					c.Databases = append(c.Databases[:k], c.Databases[k+1:]...)
					break
				}
			}
			var keep []*dek
			for _, k := range c.DEKs {
				if k.DatabaseID != d.ID {
					keep = append(keep, k)
				}
			}
			c.DEKs = keep
			s.changed = true
		}
	case "CREATE LOGIN":
		n := x.names[0]
		if c.login(n) != nil || equalFold(n, s.inst.opts.Login) {
			return errf(15025, 16, "The server principal '%s' already exists.", n)
		}
		c.Logins = append(c.Logins, &login{Name: n, Password: hashSecret(x.password)})
	case "DROP LOGIN":
		n := x.names[0]
		l := c.login(n)
		if l == nil {
			return errf(15151, 16, "Cannot drop the login '%s', because it does not exist or you do not have permission.", n)
		}
		for k, e := range c.Logins {
			if e == l {
				c.Logins = append(c.Logins[:k], c.Logins[k+1:]...)
				break
			}
		}
	case "ADD MEMBER", "DROP MEMBER":
		if !equalFold(x.role, "sysadmin") {
			return errf(15151, 16, "Cannot alter the server role '%s', because it does not exist or you do not have permission.", x.role)
		}
		n := x.names[0]
		if equalFold(n, "sa") {
			return errf(15405, 11, "Cannot use the special principal 'sa'.")
		}
		on := x.op == "ADD MEMBER"
		if l := c.login(n); l != nil {
			l.Sysadmin = on
		} else if equalFold(n, i.opts.Login) {
			var keep []string
			for _, m := range c.NotSysadmin {
				if !equalFold(m, n) {
					keep = append(keep, m)
				}
			}
			if !on {
				keep = append(keep, n)
			}
			c.NotSysadmin = keep
		} else {
			verb := "add"
			if !on {
				verb = "drop"
			}
			return errf(15151, 16, "Cannot %s the principal '%s', because it does not exist or you do not have permission.", verb, n)
		}
	case "CREATE AG", "JOIN AG":
		if !i.startup.Hadr {
			return hadrDisabled()
		}
		n := x.names[0]
		if c.ag(n) != nil {
			return errf(35217, 16, "The availability group '%s' already exists. Specify a unique name for the availability group.", n)
		}
		ag := &availabilityGroup{Name: n, ID: uuid.New(), Secondary: x.op == "JOIN AG"}
		for _, dn := range x.names[1:] {
			d := c.db(dn)
			if d == nil {
				return errf(35209, 16, "The database '%s' does not exist on this instance of SQL Server.", dn)
			}
		}
		c.AGs = append(c.AGs, ag)
		for _, dn := range x.names[1:] {
			g := groupDatabaseID(ag.ID)
			c.db(dn).GroupDatabaseID = &g
		}
	case "DROP AG":
		ag := c.ag(x.names[0])
		if ag == nil {
			return errf(15151, 16, "Cannot drop the availability group '%s', because it does not exist or you do not have permission.", x.names[0])
		}
		c.dropAGLocked(ag)
	case "AG ADD DATABASE", "AG REMOVE DATABASE":
		if !i.startup.Hadr {
			return hadrDisabled()
		}
		ag := c.ag(x.names[0])
		if ag == nil {
			return errf(15151, 16, "Cannot alter the availability group '%s', because it does not exist or you do not have permission.", x.names[0])
		}
		d := c.db(x.names[1])
		if d == nil {
			return errf(35209, 16, "The database '%s' does not exist on this instance of SQL Server.", x.names[1])
		}
		if x.op == "AG REMOVE DATABASE" {
			d.GroupDatabaseID = nil
		} else {
			g := groupDatabaseID(ag.ID)
			d.GroupDatabaseID = &g
		}
	}
	s.changed = true
	return i.persistLocked()
}

// groupDatabaseID derives a database's group_database_id from its group's
// id, so that the catalogue can tell which group a database is in.
func groupDatabaseID(group [16]byte) [16]byte {
	g := uuid.New()
	copy(g[:8], group[:8])
	return [16]byte(g)
}

func (c *catalog) agOfDatabase(d *database) *availabilityGroup {
	if d.GroupDatabaseID == nil {
		return nil
	}
	for _, a := range c.AGs {
		if [8]byte(a.ID[:8]) == [8]byte(d.GroupDatabaseID[:8]) {
			return a
		}
	}
	return nil
}

func (s *Session) execAlterDBA(x *dbaAlterDBStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	d := c.db(x.db)
	if d == nil {
		return alterDBDenied(x.db)
	}
	system := d.ID <= 4
	if system && x.option != "AUTO_CLOSE" {
		return errf(5058, 16, "Option '%s' cannot be set in database '%s'.", x.option, d.Name)
	}
	switch x.option {
	case "ONLINE", "OFFLINE", "EMERGENCY":
		d.State = x.option
		s.changed = true
		return i.persistLocked()
	}
	if d.State == "OFFLINE" {
		return errf(942, 14, "Database '%s' cannot be opened because it is offline.", d.Name)
	}
	switch x.option {
	case "READ_ONLY", "READ_WRITE":
		d.ReadOnly = x.option == "READ_ONLY"
	case "SINGLE_USER", "RESTRICTED_USER", "MULTI_USER":
		d.UserAccess = x.option
	case "AUTO_CLOSE":
		d.AutoClose = x.on
	case "ACCELERATED_DATABASE_RECOVERY":
		// The option exists from SQL Server 2019 (15.x).
		if i.opts.Profile.compatibilityLevel() < 150 {
			return syntaxNear("ACCELERATED_DATABASE_RECOVERY")
		}
		d.ADR = x.on
	case "ENABLE_BROKER", "NEW_BROKER":
		d.BrokerOff = false
	case "DISABLE_BROKER":
		d.BrokerOff = true
	case "HADR":
		if !i.startup.Hadr {
			return hadrDisabled()
		}
		if !x.on {
			d.GroupDatabaseID = nil
			break
		}
		ag := c.ag(x.arg)
		if ag == nil {
			return errf(15151, 16, "Cannot alter the availability group '%s', because it does not exist or you do not have permission.", x.arg)
		}
		g := groupDatabaseID(ag.ID)
		d.GroupDatabaseID = &g
	case "ADD LOG FILE", "ADD FILE":
		for _, f := range d.ExtraFiles {
			if equalFold(f.Name, x.arg) {
				return errf(1828, 16, "The logical file name \"%s\" is already in use. Choose a different name.", x.arg)
			}
		}
		f := &dataFile{Name: x.arg, Physical: x.file, Type: 0}
		if x.option == "ADD LOG FILE" {
			f.Type = 1
		} else if x.fg != "" {
			g := d.filegroup(x.fg)
			if g == nil {
				return errf(1921, 16, "Invalid filegroup '%s' specified.", x.fg)
			}
			f.Filegroup = g.Name
			if g.Type != "FG" {
				f.Type = 2
			}
		}
		d.ExtraFiles = append(d.ExtraFiles, f)
	case "PARTNER":
		// The lab keeps only the catalogue row: a real partner needs a
		// mirror database restored WITH NORECOVERY on another instance.
		if !x.on {
			if d.MirroringGUID == nil {
				return errf(1416, 16, "Database \"%s\" is not configured for database mirroring.", d.Name)
			}
			d.MirroringGUID = nil
			break
		}
		if d.Recovery != "FULL" {
			return errf(1465, 16, "Database \"%s\" database is not in full recovery mode on each of the server instances. The full recovery model is required for a database to participate in database mirroring or in an availability group.", d.Name)
		}
		g := [16]byte(uuid.New())
		d.MirroringGUID = &g
	case "REMOVE FILE":
		k := -1
		for n, f := range d.ExtraFiles {
			if equalFold(f.Name, x.arg) {
				k = n
			}
		}
		if k < 0 {
			return errf(5009, 16, "One or more files listed in the statement could not be found or could not be initialized.")
		}
		d.ExtraFiles = append(d.ExtraFiles[:k], d.ExtraFiles[k+1:]...)
	case "REMOVE FILEGROUP":
		g := d.filegroup(x.arg)
		if g == nil {
			return errf(5035, 16, "Filegroup '%s' cannot be found in %s.", x.arg, d.Name)
		}
		for _, f := range d.ExtraFiles {
			if equalFold(f.Filegroup, g.Name) {
				return errf(5042, 16, "The filegroup '%s' cannot be removed because it is not empty.", g.Name)
			}
		}
		var keep []*filegroup
		for _, e := range d.Filegroups {
			if e != g {
				keep = append(keep, e)
			}
		}
		d.Filegroups = keep
	case "ADD FILEGROUP":
		if d.filegroup(x.arg) != nil {
			return errf(1712, 16, "The filegroup '%s' already exists in this database.", x.arg)
		}
		if x.kind == "FX" {
			for _, g := range d.Filegroups {
				if g.Type == "FX" {
					return errf(10797, 16, "Only one MEMORY_OPTIMIZED_DATA filegroup is allowed per database.")
				}
			}
		}
		d.Filegroups = append(d.Filegroups, &filegroup{Name: x.arg, Type: x.kind})
	}
	s.changed = true
	return i.persistLocked()
}

func (d *database) filegroup(name string) *filegroup {
	for _, g := range d.Filegroups {
		if equalFold(g.Name, name) {
			return g
		}
	}
	return nil
}

// lookupDBATable materialises the catalogue views of this file; ok false
// when name is none of them. Called with i.mu held.
func (s *Session) lookupDBATable(view string, d *database) (*table, bool, *sqlError) {
	i := s.inst
	c := i.cat
	t := &table{name: view[strings.IndexByte(view, '.')+1:]}
	switch view {
	case "sys.master_files":
		t.cols = cols("database_id", tInt, "file_id", tInt, "type", tTinyInt, "type_desc", tNVarChar(60), "data_space_id", tInt,
			"name", tNVarChar(128), "physical_name", tNVarChar(260), "state_desc", tNVarChar(60))
		for _, x := range c.Databases {
			for _, f := range x.files() {
				t.rows = append(t.rows, []any{int64(x.ID), int64(f.id), int64(f.Type), fileTypeDesc(f.Type), int64(f.space), f.Name, f.Physical, x.State})
			}
		}
	case "sys.database_files":
		t.cols = cols("file_id", tInt, "type", tTinyInt, "type_desc", tNVarChar(60), "data_space_id", tInt, "name", tNVarChar(128), "physical_name", tNVarChar(260))
		for _, f := range d.files() {
			t.rows = append(t.rows, []any{int64(f.id), int64(f.Type), fileTypeDesc(f.Type), int64(f.space), f.Name, f.Physical})
		}
	case "sys.filegroups":
		t.cols = cols("name", tNVarChar(128), "data_space_id", tInt, "type", tVarChar(2), "type_desc", tNVarChar(60), "is_default", tBit)
		t.rows = append(t.rows, []any{"PRIMARY", int64(1), "FG", "ROWS_FILEGROUP", true})
		for n, g := range d.Filegroups {
			desc := map[string]string{"FG": "ROWS_FILEGROUP", "FD": "FILESTREAM_DATA_FILEGROUP", "FX": "MEMORY_OPTIMIZED_DATA_FILEGROUP"}[g.Type]
			t.rows = append(t.rows, []any{g.Name, int64(n + 2), g.Type, desc, false})
		}
	case "sys.database_mirroring":
		t.cols = cols("database_id", tInt, "mirroring_guid", tGUID, "mirroring_state_desc", tNVarChar(60), "mirroring_role_desc", tNVarChar(60))
		for _, x := range c.Databases {
			var g, st, role any
			if x.MirroringGUID != nil {
				g, st, role = *x.MirroringGUID, "SYNCHRONIZED", "PRINCIPAL"
			}
			t.rows = append(t.rows, []any{int64(x.ID), g, st, role})
		}
	case "sys.availability_databases_cluster":
		t.cols = cols("group_id", tGUID, "group_database_id", tGUID, "database_name", tNVarChar(128))
		for _, x := range c.Databases {
			if a := c.agOfDatabase(x); a != nil {
				t.rows = append(t.rows, []any{a.ID, *x.GroupDatabaseID, x.Name})
			}
		}
	case "sys.server_principals":
		t.cols = cols("name", tNVarChar(128), "principal_id", tInt, "type", tVarChar(1), "type_desc", tNVarChar(60), "is_disabled", tBit)
		t.rows = append(t.rows, []any{"sa", int64(1), "S", "SQL_LOGIN", false}, []any{"sysadmin", int64(3), "R", "SERVER_ROLE", false})
		if !equalFold(i.opts.Login, "sa") && i.opts.Login != "" {
			t.rows = append(t.rows, []any{i.opts.Login, int64(256), "S", "SQL_LOGIN", false})
		}
		for n, l := range c.Logins {
			t.rows = append(t.rows, []any{l.Name, int64(257 + n), "S", "SQL_LOGIN", false})
		}
	default:
		return nil, false, nil
	}
	return t, true, nil
}

type fileRow struct {
	dataFile
	id, space int
}

// files lists a database's files: the data and log files every database
// has, then those added.
func (d *database) files() []fileRow {
	base := d.Name
	out := []fileRow{
		{dataFile{Name: base, Physical: base + ".mdf", Type: 0}, 1, 1},
		{dataFile{Name: base + "_log", Physical: base + "_log.ldf", Type: 1}, 2, 0},
	}
	for n, f := range d.ExtraFiles {
		space := 0
		if f.Type != 1 {
			space = 1
			for k, g := range d.Filegroups {
				if equalFold(g.Name, f.Filegroup) {
					space = k + 2
				}
			}
		}
		out = append(out, fileRow{*f, n + 3, space})
	}
	return out
}

func fileTypeDesc(t int) string {
	return map[int]string{0: "ROWS", 1: "LOG", 2: "FILESTREAM"}[t]
}

// databaseDBAColumns are the sys.databases columns of this file, beside
// the others; dbaRow their values for one database.
func databaseDBAColumns(p Profile) []tcol {
	c := cols("user_access", tTinyInt, "user_access_desc", tNVarChar(60), "is_auto_close_on", tBit, "is_in_standby", tBit,
		"collation_name", tNVarChar(128), "group_database_id", tGUID, "replica_id", tGUID, "is_broker_enabled", tBit)
	// The column exists from SQL Server 2019.
	if p.compatibilityLevel() >= 150 {
		c = append(c, cols("is_accelerated_database_recovery_on", tBit)...)
	}
	return c
}

func (c *catalog) dbaRow(p Profile, d *database) []any {
	ua := d.userAccess()
	coll := d.Collation
	if coll == "" {
		coll = serverCollation
	}
	var gid, rid any
	if d.GroupDatabaseID != nil {
		gid = *d.GroupDatabaseID
		if a := c.agOfDatabase(d); a != nil {
			rid = a.ID
		}
	}
	row := []any{map[string]int64{"MULTI_USER": 0, "SINGLE_USER": 1, "RESTRICTED_USER": 2}[ua], ua, d.AutoClose, d.Standby, coll, gid, rid, !d.BrokerOff}
	if p.compatibilityLevel() >= 150 {
		row = append(row, d.ADR)
	}
	return row
}

// serverCollation is SERVERPROPERTY('Collation') and the default of new
// databases.
const serverCollation = "SQL_Latin1_General_CP1_CI_AS"

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// isSrvRoleMember is IS_SRVROLEMEMBER(role [, login]): 1 or 0 for the
// sysadmin role, NULL for a role the lab does not know.
func (s *Session) isSrvRoleMember(args []any) any {
	if len(args) == 0 || args[0] == nil || !equalFold(strings.TrimSpace(toString(args[0])), "sysadmin") {
		if len(args) > 0 && equalFold(strings.TrimSpace(toString(args[0])), "public") {
			return int64(1)
		}
		return nil
	}
	if len(args) > 1 && args[1] != nil {
		other := &Session{inst: s.inst, principal: toString(args[1])}
		i := s.inst
		i.mu.Lock()
		known := i.cat.login(other.principal) != nil || equalFold(other.principal, i.opts.Login) || equalFold(other.principal, "sa")
		i.mu.Unlock()
		if !known {
			return nil
		}
		return b2i(other.isSysadmin())
	}
	return b2i(s.isSysadmin())
}

// loginFor admits a login the catalogue created (CREATE LOGIN); "" when
// user and password match none.
func (c *catalog) loginFor(user, password string) string {
	if l := c.login(user); l != nil && l.Password.matches(password) {
		return l.Name
	}
	return ""
}
