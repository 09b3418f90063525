package engine

import (
	"context"
	"fmt"
	"log"
	"runtime/debug"
	"strings"

	"github.com/milink/milink/lab/tds"
)

type variable struct {
	ty colType
	v  any
}

// Session is one connection to the instance. Calls never overlap.
type Session struct {
	inst     *Instance
	db       string
	spid     int
	vars     map[string]*variable
	flags    map[int]bool // session trace flags
	nocount  bool
	mkOpen   bool // OPEN MASTER KEY in this session
	rowcount int64
	lastErr  int32
	changed  bool // the current statement changed the catalogue or configuration
	w        tds.ResponseWriter
	ctx      context.Context
	depth    int
	aborted  bool

	loginDB string // the database the login chose: a connection reset returns to it
	tx      txState
	// line is the line, within its batch, of the statement running: the
	// Line of the messages it sends. lines maps the statements of the
	// batch being run to theirs.
	line  int32
	lines map[stmt]int32
	// stopBatch: an error that ends the batch was sent (XACT_ABORT ON).
	stopBatch bool
	prep      preparedSet
	// principal is the login of the session ("" is the lab's own): a
	// SQL login, or a Windows or Entra login the server authenticated.
	principal string
}

var _ tds.Session = (*Session)(nil)

// Database is the current database.
func (s *Session) Database() string { return s.db }

// Close releases the session; an open transaction is rolled back, as when
// a client disconnects from SQL Server.
func (s *Session) Close() { s.abandonTran(false) }

func (s *Session) login() string {
	if s.principal != "" {
		return s.principal
	}
	if s.inst.opts.Login == "" {
		return "sa"
	}
	return s.inst.opts.Login
}

func (s *Session) lookupVar(name string) (*variable, bool) {
	v, ok := s.vars[strings.ToLower(name)]
	return v, ok
}

// Batch runs a SQL batch. GO is not T-SQL: splitting a script at GO lines
// is the client's job (sqlcmd, SSMS), and a server that receives one
// parses it like any other word, usually into error 102.
func (s *Session) Batch(ctx context.Context, sql string, w tds.ResponseWriter) {
	s.inst.mu.Lock()
	s.inst.cat.Counters.RoundTrips++
	s.inst.mu.Unlock()
	s.ctx, s.w, s.aborted = ctx, w, false
	s.line = 1
	if strings.TrimSpace(sql) == "" {
		return
	}
	s.vars = map[string]*variable{}
	s.runBatch(sql, true)
}

// RPC runs a procedure call: sp_executesql, the prepared-statement
// procedures, or a procedure by name. OUTPUT parameters come back as
// RETURNVALUE tokens after the return status, as SQL Server sends them.
func (s *Session) RPC(ctx context.Context, proc string, params []tds.Param, w tds.ResponseWriter) {
	s.inst.mu.Lock()
	s.inst.cat.Counters.RoundTrips++
	s.inst.mu.Unlock()
	s.ctx, s.w, s.aborted = ctx, w, false
	s.vars = map[string]*variable{}
	s.line, s.lines, s.stopBatch = 1, nil, false
	args := make([]procArg, len(params))
	for n, p := range params {
		args[n] = procArg{name: strings.ToLower(p.Name), v: p.Value, output: p.Output, ordinal: n}
	}
	ok := s.rpc(proc, args)
	if !ok || s.aborted {
		return
	}
	status := int32(0)
	if s.lastErr != 0 {
		status = 1
	}
	_ = w.ReturnStatus(status)
	for _, a := range args {
		if !a.output {
			continue
		}
		name := a.name
		if name == "" {
			name = a.declName
		}
		ty := a.ty
		if ty.t == 0 {
			ty = typeOfValue(a.v)
		}
		_ = w.ReturnValue(a.ordinal, name, wireColumn(name, ty), wireValue(a.v, ty))
	}
}

func splitProcName(proc string) []string {
	toks, err := lex(proc)
	if err != nil {
		return []string{proc}
	}
	var parts []string
	for _, t := range toks {
		if t.kind == tIdent || t.kind == tQIdent {
			parts = append(parts, t.text)
		}
	}
	if len(parts) == 0 {
		return []string{proc}
	}
	return parts
}

// runBatch parses and runs one batch; top marks a client batch (whose
// statements are counted, logged and offered to the hook).
func (s *Session) runBatch(text string, top bool) {
	stmts, lines, perr := parseBatchLines(text)
	if perr != nil {
		if top {
			s.count(text)
		}
		s.sendError(perr)
		return
	}
	savedLines, savedLine := s.lines, s.line
	s.lines = lines
	defer func() { s.lines, s.line = savedLines, savedLine }()
	s.stopBatch = false
	for _, st := range stmts {
		st := st
		s.line = st.line
		if top {
			s.topStatement(st.text, func() *sqlError { return s.exec(st.s) })
			if s.stopBatch {
				return
			}
		} else {
			if err := s.safeExec(st.text, func() *sqlError { return s.exec(st.s) }); err != nil {
				s.sendError(err)
				if err.abortBatch {
					s.stopBatch = true
					return
				}
			}
		}
		if s.aborted {
			return
		}
	}
}

// count counts a statement and returns its 1-based number.
func (s *Session) count(text string) int64 {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cat.Counters.Statements++
	return i.cat.Counters.Statements
}

// topStatement runs one client-level statement: counting, the fault hook,
// panic recovery, the statement log. It reports false if the connection was
// dropped.
func (s *Session) topStatement(text string, run func() *sqlError) bool {
	i := s.inst
	n := s.count(text)
	i.mu.Lock()
	hook := i.hook
	i.mu.Unlock()
	if hook != nil {
		drop, fail := hook(n, text)
		if drop {
			s.aborted = true
			s.w.Abort()
			return false
		}
		if fail != nil {
			m := *fail
			if m.Server == "" {
				m.Server = i.opts.Name
			}
			_ = s.w.Error(m)
			_ = s.w.Done(-1)
			i.mu.Lock()
			i.log = append(i.log, LoggedStatement{Text: redactSecrets(text)})
			i.mu.Unlock()
			return true
		}
	}
	s.changed = false
	err := s.safeExec(text, run)
	i.mu.Lock()
	i.log = append(i.log, LoggedStatement{Text: redactSecrets(text), Changed: s.changed})
	if s.changed {
		i.cat.Counters.Changes++
		_ = i.saveLocked()
	}
	i.mu.Unlock()
	if err != nil {
		s.sendError(err)
		if err.abortBatch {
			s.stopBatch = true
		}
	}
	return !s.aborted
}

// safeExec runs a statement, turning a panic into an error (and a log line)
// so that one bad statement never takes the server down.
func (s *Session) safeExec(text string, run func() *sqlError) (err *sqlError) {
	defer func() {
		if r := recover(); r != nil {
			s.inst.panics.Add(1)
			log.Printf("engine: panic in statement %q: %v\n%s", truncate(text, 200), r, debug.Stack())
			err = errf(50000, 16, "Internal error in the lab engine while running the statement: %v", r)
		}
	}()
	return run()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (s *Session) sendError(e *sqlError) {
	s.lastErr = e.number
	for _, m := range e.messages(s.inst.opts.Name, s.line) {
		_ = s.w.Error(m)
	}
	_ = s.w.Done(-1)
}

func (s *Session) info(number int32, text string) {
	_ = s.w.Info(tds.Message{Number: number, Class: 0, State: 1, Text: text, Server: s.inst.opts.Name, Line: max(s.line, 1)})
}

func (s *Session) done(n int64) {
	s.rowcount = n
	if s.nocount || n < 0 {
		_ = s.w.Done(-1)
		return
	}
	_ = s.w.Done(n)
}

// runNested runs a statement inside IF/BEGIN: its error is reported and the
// batch goes on, unless the error aborts the batch.
func (s *Session) runNested(st stmt) *sqlError {
	if l, ok := s.lines[st]; ok {
		s.line = l
	}
	if err := s.exec(st); err != nil {
		if err.abortBatch {
			return err
		}
		s.sendError(err)
	}
	return nil
}

func (s *Session) exec(st stmt) (err *sqlError) {
	if s.ctx != nil && s.ctx.Err() != nil {
		return &sqlError{number: 3980, class: 16, state: 1, text: "The request failed to run because the batch is aborted.", abortBatch: true}
	}
	s.lastErr = 0
	if err := s.denied(st); err != nil {
		return err
	}
	if err := s.refuseInTran(st); err != nil {
		return err
	}
	if s.tx.implicitTx && s.tx.count == 0 && startsImplicitTran(st) {
		s.beginTran()
	}
	defer func() {
		// SET XACT_ABORT ON: a run-time error rolls back the transaction
		// and ends the batch.
		if err != nil && s.tx.xactAbort && err.class >= 11 && !err.abortBatch {
			s.abandonTran(true)
			err.abortBatch = true
		}
	}()
	ctx := &evalCtx{s: s}
	switch x := st.(type) {
	case *tranStmt:
		return s.execTran(x)
	case *selectStmt:
		return s.execSelect(x)
	case *declareStmt:
		for _, v := range x.vars {
			if _, ok := s.vars[v.name]; ok {
				return errf(134, 15, "The variable name '%s' has already been declared. Variable names must be unique within a query batch or stored procedure.", v.name)
			}
			ct, _ := sqlTypeOf(v.ty)
			if (ct.t == tds.NVarChar || ct.t == tds.VarChar || ct.t == tds.VarBinary) && ct.size == 0 {
				ct.size = 1
			}
			nv := &variable{ty: ct}
			if v.init != nil {
				val, err := ctx.eval(v.init)
				if err != nil {
					return err
				}
				if nv.v, err = convert(val, ct); err != nil {
					return err
				}
			}
			s.vars[v.name] = nv
		}
		return nil
	case *setVarStmt:
		v, ok := s.vars[x.name]
		if !ok {
			return errf(137, 15, "Must declare the scalar variable \"%s\".", x.name)
		}
		val, err := ctx.eval(x.e)
		if err != nil {
			return err
		}
		if x.op != "=" {
			if val, err = arithOrConcat(x.op[:1], v.v, val); err != nil {
				return err
			}
		}
		cv, err := convert(val, v.ty)
		if err != nil {
			return err
		}
		v.v = cv
		return nil
	case *setOptStmt:
		switch x.name {
		case "NOCOUNT":
			s.nocount = x.on
		case "XACT_ABORT":
			s.tx.xactAbort = x.on
		case "IMPLICIT_TRANSACTIONS":
			s.tx.implicitTx = x.on
		}
		return nil
	case *ifStmt:
		c, err := ctx.eval(x.cond)
		if err != nil {
			return err
		}
		if truthy(c) {
			return s.runNested(x.then)
		}
		if x.els != nil {
			return s.runNested(x.els)
		}
		return nil
	case *blockStmt:
		for _, b := range x.body {
			if err := s.runNested(b); err != nil {
				return err
			}
			if s.aborted {
				return nil
			}
		}
		return nil
	case *printStmt:
		v, err := ctx.eval(x.e)
		if err != nil {
			return err
		}
		s.info(0, toString(v))
		return nil
	case *useStmt:
		s.inst.mu.Lock()
		d := s.inst.cat.db(x.db)
		s.inst.mu.Unlock()
		if d == nil {
			return errf(911, 16, "Database '%s' does not exist. Make sure that the name is entered correctly.", x.db)
		}
		s.db = d.Name
		s.info(5701, fmt.Sprintf("Changed database context to '%s'.", d.Name))
		return nil
	case noopStmt:
		return nil
	case *returnStmt:
		return nil
	case *execStmt:
		return s.execExec(x)
	case *dbccStmt:
		return s.execDBCC(x)
	case *masterKeyStmt:
		return s.execMasterKey(x)
	case *alterDBStmt:
		return s.execAlterDB(x)
	case *backupDBStmt:
		return s.execBackup(x)
	case *createCertStmt:
		return s.execCreateCert(x)
	case *dropCertStmt:
		return s.execDropCert(x)
	case *backupCertStmt:
		return s.execBackupCert(x)
	case *createEndpointStmt:
		return s.execEndpoint(x)
	case *dropEndpointStmt:
		return s.execDropEndpoint(x)
	case *dbaStmt:
		return s.execDBA(x)
	case *dbaAlterDBStmt:
		return s.execAlterDBA(x)
	case *agStmt:
		return s.execAG(x)
	case *writeStmt:
		return s.execWrite(x)
	}
	return errf(102, 15, "Incorrect syntax near '%T'.", st)
}

func arithOrConcat(op string, a, b any) (any, *sqlError) {
	if a == nil || b == nil {
		return nil, nil
	}
	return arith(op, a, b)
}

func (s *Session) execSelect(x *selectStmt) *sqlError {
	assign := 0
	for _, it := range x.items {
		if it.assign != "" {
			assign++
		}
	}
	if assign == 0 {
		t, err := s.runSelect(x, nil)
		if err != nil {
			return err
		}
		if err := s.sendTable(t, s.w); err != nil {
			return nil
		}
		s.done(int64(len(t.rows)))
		return nil
	}
	if assign != len(x.items) {
		return errf(141, 15, "A SELECT statement that assigns a value to a variable must not be combined with data-retrieval operations.")
	}
	for _, it := range x.items {
		if _, ok := s.vars[it.assign]; !ok {
			return errf(137, 15, "Must declare the scalar variable \"%s\".", it.assign)
		}
	}
	q := *x
	q.items = nil
	for _, it := range x.items {
		q.items = append(q.items, selectItem{e: it.e})
	}
	t, err := s.runSelect(&q, nil)
	if err != nil {
		return err
	}
	for _, r := range t.rows {
		for n, it := range x.items {
			v := s.vars[it.assign]
			cv, err := convert(r[n], v.ty)
			if err != nil {
				return err
			}
			v.v = cv
		}
	}
	s.done(int64(len(t.rows)))
	return nil
}

func (s *Session) globalVar(name string) (any, *sqlError) {
	i := s.inst
	switch name {
	case "@@VERSION":
		return i.opts.Profile.Banner, nil
	case "@@SERVERNAME":
		return i.serverName(), nil
	case "@@SERVICENAME":
		if i.opts.InstanceName != "" {
			return i.opts.InstanceName, nil
		}
		return "MSSQLSERVER", nil
	case "@@SPID":
		return int64(s.spid), nil
	case "@@ROWCOUNT":
		return s.rowcount, nil
	case "@@ERROR":
		return int64(s.lastErr), nil
	case "@@TRANCOUNT":
		return int64(s.tx.count), nil
	case "@@LANGUAGE":
		return "us_english", nil
	case "@@MAX_PRECISION":
		return int64(38), nil
	case "@@TEXTSIZE":
		return int64(2147483647), nil
	case "@@MICROSOFTVERSION":
		return int64(0x0F0010E2), nil
	}
	return nil, errf(137, 15, "Must declare the scalar variable \"%s\".", name)
}

// serverName is SERVERPROPERTY('ServerName'): MACHINE or MACHINE\INSTANCE.
func (i *Instance) serverName() string {
	if i.opts.InstanceName != "" {
		return i.opts.Name + `\` + i.opts.InstanceName
	}
	return i.opts.Name
}

func (i *Instance) serverProperty(name string) any {
	p := i.opts.Profile
	i.mu.Lock()
	defer i.mu.Unlock()
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "productversion":
		return p.ProductVersion
	case "productlevel":
		return p.ProductLevel
	case "productupdatelevel":
		if p.UpdateLevel == "" {
			return nil
		}
		return p.UpdateLevel
	case "productmajorversion":
		return strings.SplitN(p.ProductVersion, ".", 2)[0]
	case "productminorversion", "productbuild":
		parts := strings.Split(p.ProductVersion, ".")
		if len(parts) < 3 {
			return nil
		}
		if strings.EqualFold(strings.TrimSpace(name), "productbuild") {
			return parts[2]
		}
		return parts[1]
	case "editionid":
		return editionID(p.Edition, p.EngineEdition)
	case "collationid":
		return int64(872468488)
	case "lcid":
		return int64(1033)
	case "comparisonstyle":
		return int64(196609)
	case "sqlcharset":
		return int64(1)
	case "sqlcharsetname":
		return "iso_1"
	case "sqlsortorder":
		return int64(52)
	case "sqlsortordername":
		return "nocase_iso"
	case "issingleuser", "isfulltextinstalled", "islocaldb", "ispolybaseinstalled", "isadvancedanalyticsinstalled":
		return int64(0)
	case "edition":
		return p.Edition
	case "engineedition":
		return int64(p.EngineEdition)
	case "ishadrenabled":
		return b2i(i.startup.Hadr)
	case "hadrmanagerstatus":
		if !i.running {
			return int64(0)
		}
		if i.startup.Hadr {
			return int64(1)
		}
		return int64(0)
	case "machinename", "computernamephysicalnetbios":
		return i.opts.Name
	case "servername":
		return i.serverName()
	case "instancename":
		if i.opts.InstanceName == "" {
			return nil
		}
		return i.opts.InstanceName
	case "isclustered":
		return b2i(p.Clustered)
	case "collation":
		return "SQL_Latin1_General_CP1_CI_AS"
	case "isintegratedsecurityonly":
		return int64(0)
	}
	return nil
}

func (i *Instance) dbName(id int) any {
	i.mu.Lock()
	defer i.mu.Unlock()
	if d := i.cat.dbByID(id); d != nil {
		return d.Name
	}
	return nil
}

func (i *Instance) dbID(name string) any {
	i.mu.Lock()
	defer i.mu.Unlock()
	if d := i.cat.db(name); d != nil {
		return int64(d.ID)
	}
	return nil
}

// objectID knows only the objects milink probes for.
func (s *Session) objectID(name string) any {
	toks, err := lex(name)
	if err != nil {
		return nil
	}
	var parts []string
	for _, t := range toks {
		if t.kind == tIdent || t.kind == tQIdent {
			parts = append(parts, strings.ToLower(t.text))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	last := parts[len(parts)-1]
	db := strings.ToLower(s.db)
	if len(parts) == 3 {
		db = parts[0]
	}
	if last == "sp_certificate_add_issuer" && db == "master" && s.inst.opts.Profile.hasAddIssuer() {
		return int64(-1073624924)
	}
	return nil
}
