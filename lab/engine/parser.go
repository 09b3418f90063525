package engine

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/milink/milink/lab/tds"
)

type parser struct {
	src  string
	toks []token
	i    int
	// lines maps each statement parsed to its line in the batch, for the
	// line number of the messages it sends (SQL Server's "Line n").
	lines map[stmt]int32
	nl    []int // byte offsets of the newlines in src, built on first use
}

// lineAt is the 1-based line of the byte offset pos in the source.
func (p *parser) lineAt(pos int) int32 {
	if p.nl == nil {
		p.nl = []int{}
		for i := 0; i < len(p.src); i++ {
			if p.src[i] == '\n' {
				p.nl = append(p.nl, i)
			}
		}
	}
	lo, hi := 0, len(p.nl)
	for lo < hi {
		m := (lo + hi) / 2
		if p.nl[m] < pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return int32(lo + 1)
}

// parseBatch parses one batch (GO already split off) into top-level
// statements. Like SQL Server, a syntax error anywhere fails the whole
// batch before anything runs.
func parseBatch(src string) ([]stmtSpan, *sqlError) {
	spans, _, err := parseBatchLines(src)
	return spans, err
}

// parseBatchLines is parseBatch that also returns the line of every
// statement, nested ones included.
func parseBatchLines(src string) ([]stmtSpan, map[stmt]int32, *sqlError) {
	toks, err := lex(src)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{src: src, toks: toks, lines: map[stmt]int32{}}
	out, err := p.parseTop()
	return out, p.lines, err
}

func (p *parser) parseTop() ([]stmtSpan, *sqlError) {
	var err *sqlError
	var out []stmtSpan
	first := true
	for {
		for p.peek().isOp(";") {
			p.i++
		}
		if p.peek().kind == tEOF {
			return out, nil
		}
		start := p.peek().pos
		var s stmt
		if first && (p.peek().kind == tIdent || p.peek().kind == tQIdent) && !isStatementKeyword(p.peek()) {
			// A batch may start with a bare procedure name: "sp_who".
			s, err = p.parseExecBody()
			if err == nil {
				p.recordLine(s, start)
			}
		} else {
			s, err = p.parseStatement()
		}
		if err != nil {
			return nil, err
		}
		first = false
		end := p.toks[p.i-1].end
		out = append(out, stmtSpan{s: s, text: strings.TrimSpace(p.src[start:end]), line: p.lineAt(start)})
	}
}

var statementKeywords = map[string]bool{
	"SELECT": true, "DECLARE": true, "SET": true, "IF": true, "BEGIN": true, "END": true, "PRINT": true,
	"USE": true, "EXEC": true, "EXECUTE": true, "DBCC": true, "CREATE": true, "ALTER": true, "DROP": true,
	"OPEN": true, "CLOSE": true, "BACKUP": true, "RETURN": true, "COMMIT": true, "ROLLBACK": true,
	"ELSE": true, "WHILE": true, "INSERT": true, "UPDATE": true, "DELETE": true, "WITH": true, "RESTORE": true,
	"GRANT": true, "REVOKE": true, "DENY": true, "TRUNCATE": true, "MERGE": true, "WAITFOR": true, "GOTO": true,
	"BREAK": true, "CONTINUE": true, "RAISERROR": true, "THROW": true, "SAVE": true, "FETCH": true, "DEALLOCATE": true,
}

func isStatementKeyword(t token) bool {
	return t.kind == tIdent && statementKeywords[strings.ToUpper(t.text)]
}

// reserved words never taken as a column alias or table alias.
var reserved = map[string]bool{
	"FROM": true, "WHERE": true, "GROUP": true, "ORDER": true, "HAVING": true, "UNION": true, "JOIN": true,
	"INNER": true, "LEFT": true, "RIGHT": true, "OUTER": true, "CROSS": true, "FULL": true, "ON": true,
	"AND": true, "OR": true, "NOT": true, "AS": true, "INTO": true, "IS": true, "NULL": true, "LIKE": true,
	"IN": true, "BETWEEN": true, "CASE": true, "WHEN": true, "THEN": true, "END": true, "ELSE": true,
	"OPTION": true, "EXCEPT": true, "INTERSECT": true, "FOR": true, "TOP": true, "DISTINCT": true, "ALL": true,
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) accept(kw string) bool {
	if p.peek().is(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	if p.peek().isOp(op) {
		p.i++
		return true
	}
	return false
}

// errNear reports a syntax error at the current token, as SQL Server does.
func (p *parser) errNear() *sqlError {
	e := p.errNear0()
	if e.line == 0 {
		t := p.peek()
		if t.kind == tEOF && p.i > 0 {
			t = p.toks[p.i-1]
		}
		e.line = p.lineAt(t.pos)
	}
	return e
}

func (p *parser) errNear0() *sqlError {
	t := p.peek()
	if t.kind == tEOF {
		if p.i > 0 {
			return syntaxNear(p.toks[p.i-1].raw)
		}
		return syntaxNear("")
	}
	if t.kind == tIdent && reserved[strings.ToUpper(t.text)] || isStatementKeyword(t) {
		return errf(156, 15, "Incorrect syntax near the keyword '%s'.", strings.ToUpper(t.text))
	}
	txt := t.raw
	if t.kind == tString {
		txt = t.text
	}
	return syntaxNear(txt)
}

func (p *parser) expect(kw string) *sqlError {
	if !p.accept(kw) {
		return p.errNear()
	}
	return nil
}

func (p *parser) expectOp(op string) *sqlError {
	if !p.acceptOp(op) {
		return p.errNear()
	}
	return nil
}

func (p *parser) expectSeq(kws ...string) *sqlError {
	for _, k := range kws {
		if err := p.expect(k); err != nil {
			return err
		}
	}
	return nil
}

// ident reads one (possibly quoted) identifier.
func (p *parser) ident() (string, *sqlError) {
	t := p.peek()
	if t.kind == tQIdent || t.kind == tIdent && !reserved[strings.ToUpper(t.text)] && !isStatementKeyword(t) {
		p.i++
		return t.text, nil
	}
	return "", p.errNear()
}

// name reads a multi-part name: a, a.b, a.b.c, a..c.
func (p *parser) name() ([]string, *sqlError) {
	first, err := p.ident()
	if err != nil {
		return nil, err
	}
	parts := []string{first}
	for p.peek().isOp(".") {
		p.i++
		if p.peek().isOp(".") {
			parts = append(parts, "")
			continue
		}
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	if len(parts) > 4 {
		return nil, errf(117, 15, "The object name '%s' contains more than the maximum number of prefixes. The maximum is 3.", strings.Join(parts, "."))
	}
	return parts, nil
}

// stringLit reads a string literal (N'..' or '..').
func (p *parser) stringLit() (string, *sqlError) {
	t := p.peek()
	if t.kind != tString {
		return "", p.errNear()
	}
	p.i++
	return t.text, nil
}

func (p *parser) intLit() (int, *sqlError) {
	neg := p.acceptOp("-")
	t := p.peek()
	if t.kind != tNumber {
		return 0, p.errNear()
	}
	n, err := strconv.Atoi(t.text)
	if err != nil {
		return 0, p.errNear()
	}
	p.i++
	if neg {
		n = -n
	}
	return n, nil
}

// parseStatement parses one statement and records its line.
func (p *parser) parseStatement() (stmt, *sqlError) {
	start := p.peek().pos
	s, err := p.parseStatement0()
	if err == nil {
		p.recordLine(s, start)
	}
	return s, err
}

func (p *parser) recordLine(s stmt, pos int) {
	if p.lines == nil {
		return
	}
	switch s.(type) {
	case noopStmt:
		// A value, not a pointer: all no-ops would share one entry.
	default:
		p.lines[s] = p.lineAt(pos)
	}
}

func (p *parser) parseStatement0() (stmt, *sqlError) {
	t := p.peek()
	if t.kind != tIdent {
		return nil, p.errNear()
	}
	switch strings.ToUpper(t.text) {
	case "SELECT":
		return p.parseSelect()
	case "DECLARE":
		return p.parseDeclare()
	case "SET":
		return p.parseSet()
	case "IF":
		p.i++
		cond, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		then, err := p.parseBody()
		if err != nil {
			return nil, err
		}
		s := &ifStmt{cond: cond, then: then}
		for p.peek().isOp(";") {
			p.i++
		}
		if p.accept("ELSE") {
			s.els, err = p.parseBody()
			if err != nil {
				return nil, err
			}
		}
		return s, nil
	case "BEGIN":
		p.i++
		if p.accept("TRAN") || p.accept("TRANSACTION") {
			p.acceptTxName()
			if p.accept("WITH") {
				// WITH MARK ['description']
				if err := p.expect("MARK"); err != nil {
					return nil, err
				}
				if p.peek().kind == tString {
					p.i++
				}
			}
			return &tranStmt{op: "BEGIN"}, nil
		}
		b := &blockStmt{}
		for {
			for p.acceptOp(";") {
			}
			if p.accept("END") {
				return b, nil
			}
			if p.peek().kind == tEOF {
				return nil, p.errNear()
			}
			s, err := p.parseStatement()
			if err != nil {
				return nil, err
			}
			b.body = append(b.body, s)
		}
	case "COMMIT", "ROLLBACK":
		p.i++
		op := strings.ToUpper(t.text)
		if p.accept("TRAN") || p.accept("TRANSACTION") {
			p.acceptTxName()
		} else {
			p.accept("WORK")
		}
		return &tranStmt{op: op}, nil
	case "SAVE":
		p.i++
		if !p.accept("TRAN") && !p.accept("TRANSACTION") {
			return nil, p.errNear()
		}
		p.acceptTxName()
		return &tranStmt{op: "SAVE"}, nil
	case "RETURN":
		p.i++
		r := &returnStmt{}
		if k := p.peek(); k.kind == tNumber || k.kind == tVar || k.isOp("(") || k.isOp("-") {
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			r.e = e
		}
		return r, nil
	case "PRINT":
		p.i++
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		return &printStmt{e: e}, nil
	case "USE":
		p.i++
		db, err := p.ident()
		if err != nil {
			return nil, err
		}
		return &useStmt{db: db}, nil
	case "EXEC", "EXECUTE":
		p.i++
		return p.parseExecBody()
	case "DBCC":
		return p.parseDBCC()
	case "CREATE":
		return p.parseCreate()
	case "ALTER":
		return p.parseAlter()
	case "DROP":
		return p.parseDrop()
	case "OPEN":
		p.i++
		if err := p.expectSeq("MASTER", "KEY", "DECRYPTION", "BY", "PASSWORD"); err != nil {
			return nil, err
		}
		pw, err := p.passwordValue()
		if err != nil {
			return nil, err
		}
		return &masterKeyStmt{action: "OPEN", password: pw}, nil
	case "CLOSE":
		p.i++
		if err := p.expectSeq("MASTER", "KEY"); err != nil {
			return nil, err
		}
		return &masterKeyStmt{action: "CLOSE"}, nil
	case "BACKUP":
		return p.parseBackup()
	case "INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE":
		p.i++
		return p.parseWrite(strings.ToUpper(t.text))
	}
	return nil, p.errNear()
}

func (p *parser) acceptTxName() {
	if k := p.peek(); k.kind == tQIdent || k.kind == tVar || k.kind == tIdent && !isStatementKeyword(k) && !reserved[strings.ToUpper(k.text)] {
		p.i++
	}
}

// parseBody reads the statement governed by IF or ELSE.
func (p *parser) parseBody() (stmt, *sqlError) {
	for p.acceptOp(";") {
	}
	return p.parseStatement()
}

func (p *parser) parseType() (typeSpec, *sqlError) {
	n, err := p.ident()
	if err != nil {
		return typeSpec{}, err
	}
	ts := typeSpec{name: strings.ToLower(n)}
	if ts.name == "double" && p.accept("PRECISION") {
		ts.name = "float"
	}
	if p.acceptOp("(") {
		if p.accept("MAX") {
			ts.size = -1
		} else {
			ts.size, err = p.intLit()
			if err != nil {
				return ts, err
			}
			if p.acceptOp(",") {
				ts.scale, err = p.intLit()
				if err != nil {
					return ts, err
				}
			}
		}
		if err := p.expectOp(")"); err != nil {
			return ts, err
		}
	}
	if _, ok := sqlTypeOf(ts); !ok {
		return ts, errf(2715, 16, "Column, parameter, or variable #1: Cannot find data type %s.", n)
	}
	return ts, nil
}

func (p *parser) parseDeclare() (stmt, *sqlError) {
	p.i++
	d := &declareStmt{}
	for {
		t := p.peek()
		if t.kind != tVar {
			return nil, p.errNear()
		}
		p.i++
		p.accept("AS")
		if p.peek().is("TABLE") || p.peek().is("CURSOR") {
			return nil, p.errNear()
		}
		ts, err := p.parseType()
		if err != nil {
			return nil, err
		}
		v := declVar{name: strings.ToLower(t.text), ty: ts}
		if p.acceptOp("=") {
			v.init, err = p.parseExpr()
			if err != nil {
				return nil, err
			}
		}
		d.vars = append(d.vars, v)
		if !p.acceptOp(",") {
			return d, nil
		}
	}
}

func (p *parser) parseSet() (stmt, *sqlError) {
	p.i++
	t := p.peek()
	if t.kind == tVar {
		p.i++
		op := p.peek()
		if op.kind != tOp || !(op.text == "=" || op.text == "+=" || op.text == "-=" || op.text == "*=" || op.text == "/=") {
			return nil, p.errNear()
		}
		p.i++
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		return &setVarStmt{name: strings.ToLower(t.text), op: op.text, e: e}, nil
	}
	if t.kind != tIdent {
		return nil, p.errNear()
	}
	name := strings.ToUpper(t.text)
	p.i++
	switch name {
	case "TRANSACTION":
		if err := p.expectSeq("ISOLATION", "LEVEL"); err != nil {
			return nil, err
		}
		for p.peek().kind == tIdent && !isStatementKeyword(p.peek()) {
			p.i++
		}
		return noopStmt{}, nil
	case "TEXTSIZE", "LOCK_TIMEOUT", "ROWCOUNT", "DEADLOCK_PRIORITY", "LANGUAGE", "DATEFORMAT", "DATEFIRST":
		v := p.next()
		if v.isOp("-") {
			p.next()
		}
		return noopStmt{}, nil
	}
	// SET opt[, opt...] ON|OFF
	for p.acceptOp(",") {
		if _, err := p.ident(); err != nil {
			return nil, err
		}
	}
	switch {
	case p.accept("ON"):
		return &setOptStmt{name: name, on: true}, nil
	case p.accept("OFF"):
		return &setOptStmt{name: name, on: false}, nil
	}
	return nil, p.errNear()
}

func (p *parser) parseExecBody() (stmt, *sqlError) {
	s := &execStmt{}
	if p.peek().isOp("(") {
		p.i++
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		for p.acceptOp("+") {
			r, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			e = &binExpr{op: "+", l: e, r: r}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		s.dyn = e
		return s, nil
	}
	if p.peek().kind == tVar && p.peekN(1).isOp("=") {
		s.ret = strings.ToLower(p.next().text)
		p.i++
	}
	name, err := p.name()
	if err != nil {
		return nil, err
	}
	s.proc = name
	t := p.peek()
	if t.kind == tEOF || t.isOp(";") || isStatementKeyword(t) {
		return s, nil
	}
	for {
		a := execArg{}
		if p.peek().kind == tVar && p.peekN(1).isOp("=") {
			a.name = strings.ToLower(p.next().text)
			p.i++
		}
		if p.accept("DEFAULT") {
			a.e = nil
		} else {
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			a.e = e
		}
		if p.accept("OUTPUT") || p.accept("OUT") {
			a.output = true
		}
		s.args = append(s.args, a)
		if !p.acceptOp(",") {
			return s, nil
		}
	}
}

func (p *parser) parseDBCC() (stmt, *sqlError) {
	p.i++
	cmd, err := p.ident()
	if err != nil {
		return nil, err
	}
	d := &dbccStmt{cmd: strings.ToUpper(cmd)}
	if p.acceptOp("(") {
		if !p.acceptOp(")") {
			for {
				n, err := p.intLit()
				if err != nil {
					return nil, err
				}
				d.args = append(d.args, n)
				if p.acceptOp(")") {
					break
				}
				if err := p.expectOp(","); err != nil {
					return nil, err
				}
			}
		}
	}
	if p.accept("WITH") {
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			if strings.EqualFold(o, "NO_INFOMSGS") {
				d.noInfo = true
			}
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return d, nil
}

// passwordValue reads "= N'...'" (PASSWORD already consumed).
func (p *parser) passwordValue() (string, *sqlError) {
	if err := p.expectOp("="); err != nil {
		return "", err
	}
	return p.stringLit()
}

func (p *parser) parseCreate() (stmt, *sqlError) {
	p.i++
	switch {
	case p.accept("MASTER"):
		if err := p.expectSeq("KEY", "ENCRYPTION", "BY", "PASSWORD"); err != nil {
			return nil, err
		}
		pw, err := p.passwordValue()
		if err != nil {
			return nil, err
		}
		return &masterKeyStmt{action: "CREATE", password: pw}, nil
	case p.accept("CERTIFICATE"):
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		c := &createCertStmt{name: name}
		if p.accept("AUTHORIZATION") {
			if _, err := p.ident(); err != nil {
				return nil, err
			}
		}
		if p.accept("FROM") {
			// FROM BINARY = 0x...: the public certificate only.
			if err := p.expect("BINARY"); err != nil {
				return nil, err
			}
			if err := p.expectOp("="); err != nil {
				return nil, err
			}
			t := p.next()
			if t.kind != tBinary {
				p.i--
				return nil, p.errNear()
			}
			b, err := hex.DecodeString(t.text)
			if err != nil || len(b) == 0 {
				return nil, syntaxNear(t.raw)
			}
			c.binary = b
			return c, nil
		}
		if p.accept("ENCRYPTION") {
			if err := p.expectSeq("BY", "PASSWORD"); err != nil {
				return nil, err
			}
			if c.password, err = p.passwordValue(); err != nil {
				return nil, err
			}
		}
		if err := p.expect("WITH"); err != nil {
			return nil, err
		}
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			v, err := p.passwordValue()
			if err != nil {
				return nil, err
			}
			switch strings.ToUpper(o) {
			case "SUBJECT":
				c.subject = v
			case "EXPIRY_DATE":
				c.expiry = v
			case "START_DATE":
				c.start = v
			default:
				return nil, syntaxNear(o)
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if c.subject == "" {
			return nil, syntaxNear(name)
		}
		return c, nil
	case p.accept("ENDPOINT"):
		return p.parseEndpoint(false)
	case p.peek().is("TABLE") || p.peek().is("INDEX") || p.peek().is("VIEW") || p.peek().is("PROCEDURE") || p.peek().is("PROC"):
		// CREATE TABLE & co.: a write to the current database's log.
		return p.parseWrite("CREATE " + strings.ToUpper(p.next().text))
	}
	if x, ok, err := p.parseCreateDBA(); ok {
		return x, err
	}
	return nil, p.errNear()
}

func (p *parser) parseAlter() (stmt, *sqlError) {
	p.i++
	switch {
	case p.accept("MASTER"):
		if err := p.expect("KEY"); err != nil {
			return nil, err
		}
		m := &masterKeyStmt{}
		if p.accept("FORCE") {
			m.force = true
			if !p.peek().is("REGENERATE") {
				return nil, p.errNear()
			}
		}
		switch {
		case p.accept("REGENERATE"):
			m.action = "REGENERATE"
			if err := p.expectSeq("WITH", "ENCRYPTION", "BY", "PASSWORD"); err != nil {
				return nil, err
			}
		case p.peek().is("ADD") || p.peek().is("DROP"):
			// ADD and DROP ENCRYPTION BY name the same protector: the
			// service master key or a password.
			m.action = "ADD"
			if p.next().is("DROP") {
				m.action = "DROPENC"
			}
			if err := p.expectSeq("ENCRYPTION", "BY"); err != nil {
				return nil, err
			}
			if p.accept("SERVICE") {
				if err := p.expectSeq("MASTER", "KEY"); err != nil {
					return nil, err
				}
				m.smk = true
				return m, nil
			}
			if err := p.expect("PASSWORD"); err != nil {
				return nil, err
			}
		default:
			return nil, p.errNear()
		}
		pw, err := p.passwordValue()
		if err != nil {
			return nil, err
		}
		m.password = pw
		return m, nil
	case p.accept("DATABASE"):
		db, err := p.ident()
		if err != nil {
			return nil, err
		}
		if !p.peek().is("SET") || !p.peekN(1).is("RECOVERY") {
			return p.parseAlterDatabaseDBA(db)
		}
		if err := p.expectSeq("SET", "RECOVERY"); err != nil {
			return nil, err
		}
		model := strings.ToUpper(p.peek().text)
		if p.peek().kind != tIdent || (model != "FULL" && model != "SIMPLE" && model != "BULK_LOGGED") {
			return nil, p.errNear()
		}
		p.i++
		if p.accept("WITH") {
			if !(p.accept("NO_WAIT") || p.accept("ROLLBACK")) {
				return nil, p.errNear()
			}
			if p.accept("IMMEDIATE") || p.accept("AFTER") {
				if p.peek().kind == tNumber {
					p.i++
					p.accept("SECONDS")
				}
			}
		}
		return &alterDBStmt{db: db, recovery: model}, nil
	case p.accept("ENDPOINT"):
		return p.parseEndpoint(true)
	}
	if x, ok, err := p.parseAlterDBA(); ok {
		return x, err
	}
	return nil, p.errNear()
}

func (p *parser) parseDrop() (stmt, *sqlError) {
	p.i++
	switch {
	case p.accept("MASTER"):
		if err := p.expect("KEY"); err != nil {
			return nil, err
		}
		return &masterKeyStmt{action: "DROP"}, nil
	case p.accept("CERTIFICATE"):
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		return &dropCertStmt{name: n}, nil
	case p.accept("ENDPOINT"):
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		return &dropEndpointStmt{name: n}, nil
	}
	if x, ok, err := p.parseDropDBA(); ok {
		return x, err
	}
	return nil, p.errNear()
}

// optValue reads "= value" where value is a literal, a number or a word.
func (p *parser) optValue() (string, *sqlError) {
	if err := p.expectOp("="); err != nil {
		return "", err
	}
	t := p.next()
	switch t.kind {
	case tString, tIdent, tQIdent, tNumber:
		return t.text, nil
	case tOp:
		if t.text == "-" && p.peek().kind == tNumber {
			return "-" + p.next().text, nil
		}
	}
	p.i--
	return "", p.errNear()
}

func (p *parser) parseEndpoint(alter bool) (stmt, *sqlError) {
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	e := &createEndpointStmt{alter: alter, name: name}
	if p.accept("AUTHORIZATION") {
		if _, err := p.ident(); err != nil {
			return nil, err
		}
	}
	if p.accept("STATE") {
		v, err := p.optValue()
		if err != nil {
			return nil, err
		}
		e.state = strings.ToUpper(v)
		if e.state != "STARTED" && e.state != "STOPPED" && e.state != "DISABLED" {
			return nil, syntaxNear(v)
		}
	}
	if p.accept("AS") {
		if err := p.expect("TCP"); err != nil {
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
			switch strings.ToUpper(o) {
			case "LISTENER_PORT":
				v, err := p.optValue()
				if err != nil {
					return nil, err
				}
				e.port, _ = strconv.Atoi(v)
			case "LISTENER_IP":
				if err := p.expectOp("="); err != nil {
					return nil, err
				}
				if p.accept("ALL") {
					e.ip = "ALL"
				} else if p.acceptOp("(") {
					var b strings.Builder
					for !p.peek().isOp(")") && p.peek().kind != tEOF {
						t := p.next()
						if t.kind == tString {
							b.WriteString(t.text)
						} else {
							b.WriteString(t.raw)
						}
					}
					if err := p.expectOp(")"); err != nil {
						return nil, err
					}
					e.ip = b.String()
				} else {
					return nil, p.errNear()
				}
			default:
				return nil, syntaxNear(o)
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if p.accept("FOR") {
		if !p.accept("DATABASE_MIRRORING") {
			return nil, p.errNear()
		}
		e.mirror = true
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp("="); err != nil {
				return nil, err
			}
			switch strings.ToUpper(o) {
			case "ROLE":
				r, err := p.ident()
				if err != nil && !p.peek().is("ALL") {
					return nil, err
				}
				if err != nil {
					p.i++
					r = "ALL"
				}
				e.role = strings.ToUpper(r)
			case "AUTHENTICATION":
				var words []string
				for p.peek().kind == tIdent && !p.peek().isOp(",") {
					w := strings.ToUpper(p.next().text)
					if w == "CERTIFICATE" {
						c, err := p.ident()
						if err != nil {
							return nil, err
						}
						e.cert = c
					}
					words = append(words, w)
				}
				if len(words) == 0 {
					return nil, p.errNear()
				}
				e.auth = strings.Join(words, " ")
			case "ENCRYPTION":
				w, err := p.ident()
				if err != nil {
					return nil, err
				}
				e.enc = strings.ToUpper(w)
				if p.accept("ALGORITHM") {
					var algs []string
					for p.peek().kind == tIdent {
						algs = append(algs, strings.ToUpper(p.next().text))
					}
					e.algo = strings.Join(algs, " ")
				}
			default:
				return nil, syntaxNear(o)
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if !alter && (!e.mirror || e.port == 0) {
		return nil, p.errNear()
	}
	return e, nil
}

func (p *parser) parseBackup() (stmt, *sqlError) {
	p.i++
	if p.accept("CERTIFICATE") {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		b := &backupCertStmt{name: name}
		if err := p.expectSeq("TO", "FILE"); err != nil {
			return nil, err
		}
		if b.file, err = p.passwordValue(); err != nil {
			return nil, err
		}
		if p.accept("WITH") {
			if err := p.expectSeq("PRIVATE", "KEY"); err != nil {
				return nil, err
			}
			b.withKey = true
			if err := p.expectOp("("); err != nil {
				return nil, err
			}
			for {
				switch {
				case p.accept("FILE"):
					if b.keyFile, err = p.passwordValue(); err != nil {
						return nil, err
					}
				case p.accept("ENCRYPTION"):
					if err := p.expectSeq("BY", "PASSWORD"); err != nil {
						return nil, err
					}
					if b.encPassword, err = p.passwordValue(); err != nil {
						return nil, err
					}
				case p.accept("DECRYPTION"):
					if err := p.expectSeq("BY", "PASSWORD"); err != nil {
						return nil, err
					}
					if b.decPassword, err = p.passwordValue(); err != nil {
						return nil, err
					}
				default:
					return nil, p.errNear()
				}
				if !p.acceptOp(",") {
					break
				}
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	b := &backupDBStmt{opts: map[string]string{}}
	switch {
	case p.accept("DATABASE"):
	case p.accept("LOG"):
		b.log = true
	default:
		return nil, p.errNear()
	}
	db, err := p.ident()
	if err != nil {
		return nil, err
	}
	b.db = db
	if err := p.expect("TO"); err != nil {
		return nil, err
	}
	for {
		if err := p.expect("DISK"); err != nil {
			return nil, err
		}
		d, err := p.passwordValue()
		if err != nil {
			return nil, err
		}
		b.disks = append(b.disks, d)
		if !p.acceptOp(",") {
			break
		}
	}
	if p.accept("WITH") {
		for {
			o, err := p.ident()
			if err != nil {
				return nil, err
			}
			o = strings.ToUpper(o)
			v := ""
			if p.peek().isOp("=") {
				if v, err = p.optValue(); err != nil {
					return nil, err
				}
			}
			b.opts[o] = v
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return b, nil
}

// --- SELECT ---

func (p *parser) parseSelect() (*selectStmt, *sqlError) {
	if err := p.expect("SELECT"); err != nil {
		return nil, err
	}
	s := &selectStmt{}
	if p.accept("DISTINCT") {
		s.distinct = true
	} else {
		p.accept("ALL")
	}
	if p.accept("TOP") {
		var err *sqlError
		if p.acceptOp("(") {
			s.top, err = p.parseExpr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
		} else {
			t := p.peek()
			if t.kind != tNumber {
				return nil, p.errNear()
			}
			s.top, err = p.parsePrimary()
			if err != nil {
				return nil, err
			}
		}
	}
	for {
		it, err := p.parseSelectItem()
		if err != nil {
			return nil, err
		}
		s.items = append(s.items, it)
		if !p.acceptOp(",") {
			break
		}
	}
	if p.accept("FROM") {
		for {
			fi, err := p.parseTableRef()
			if err != nil {
				return nil, err
			}
			s.from = append(s.from, fi)
			for {
				join := ""
				switch {
				case p.accept("JOIN"):
					join = "INNER"
				case p.peek().is("INNER") && p.peekN(1).is("JOIN"):
					p.i += 2
					join = "INNER"
				case p.peek().is("LEFT"):
					p.i++
					p.accept("OUTER")
					if err := p.expect("JOIN"); err != nil {
						return nil, err
					}
					join = "LEFT"
				case p.peek().is("CROSS") && p.peekN(1).is("JOIN"):
					p.i += 2
					join = "CROSS"
				}
				if join == "" {
					break
				}
				fi, err := p.parseTableRef()
				if err != nil {
					return nil, err
				}
				fi.join = join
				if join != "CROSS" {
					if err := p.expect("ON"); err != nil {
						return nil, err
					}
					if fi.on, err = p.parseExpr(); err != nil {
						return nil, err
					}
				}
				s.from = append(s.from, fi)
			}
			if !p.acceptOp(",") {
				break
			}
		}
	}
	var err *sqlError
	if p.accept("WHERE") {
		if s.where, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	if p.accept("GROUP") {
		if err := p.expect("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			s.groupBy = append(s.groupBy, e)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.accept("HAVING") {
		if s.having, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	if p.accept("ORDER") {
		if err := p.expect("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			oi := orderItem{e: e}
			if p.accept("DESC") {
				oi.desc = true
			} else {
				p.accept("ASC")
			}
			s.orderBy = append(s.orderBy, oi)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return s, nil
}

func (p *parser) parseSelectItem() (selectItem, *sqlError) {
	if p.acceptOp("*") {
		return selectItem{e: &starExpr{}}, nil
	}
	// t.* / db.sch.t.*
	j := p.i
	var qual []string
	for (p.toks[j].kind == tIdent || p.toks[j].kind == tQIdent) && p.toks[j+1].isOp(".") {
		qual = append(qual, p.toks[j].text)
		j += 2
		if p.toks[j].isOp("*") {
			p.i = j + 1
			return selectItem{e: &starExpr{qual: qual}}, nil
		}
	}
	if t := p.peek(); t.kind == tVar && p.peekN(1).kind == tOp && (p.peekN(1).text == "=" || p.peekN(1).text == "+=") {
		p.i += 2
		e, err := p.parseExpr()
		if err != nil {
			return selectItem{}, err
		}
		if p.toks[p.i-1].kind == tEOF {
			return selectItem{}, p.errNear()
		}
		return selectItem{e: e, assign: strings.ToLower(t.text)}, nil
	}
	// alias = expr
	if t := p.peek(); (t.kind == tQIdent || t.kind == tIdent && !reserved[strings.ToUpper(t.text)] && !isStatementKeyword(t)) && p.peekN(1).isOp("=") {
		p.i += 2
		e, err := p.parseExpr()
		if err != nil {
			return selectItem{}, err
		}
		return selectItem{e: e, alias: t.text, hasAls: true}, nil
	}
	e, err := p.parseExpr()
	if err != nil {
		return selectItem{}, err
	}
	it := selectItem{e: e}
	if p.accept("AS") {
		t := p.next()
		if t.kind != tIdent && t.kind != tQIdent && t.kind != tString {
			p.i--
			return it, p.errNear()
		}
		it.alias, it.hasAls = t.text, true
	} else if t := p.peek(); t.kind == tQIdent || t.kind == tString || t.kind == tIdent && !reserved[strings.ToUpper(t.text)] && !isStatementKeyword(t) {
		p.i++
		it.alias, it.hasAls = t.text, true
	}
	return it, nil
}

func (p *parser) parseTableRef() (fromItem, *sqlError) {
	var fi fromItem
	if p.acceptOp("(") {
		sel, err := p.parseSelect()
		if err != nil {
			return fi, err
		}
		if err := p.expectOp(")"); err != nil {
			return fi, err
		}
		fi.sub = sel
	} else {
		n, err := p.name()
		if err != nil {
			return fi, err
		}
		fi.name = n
		if p.acceptOp("(") {
			fi.fn = true
			for !p.acceptOp(")") {
				if len(fi.args) > 0 {
					if err := p.expectOp(","); err != nil {
						return fi, err
					}
				}
				e, err := p.parseExpr()
				if err != nil {
					return fi, err
				}
				fi.args = append(fi.args, e)
			}
		}
	}
	if p.accept("AS") {
		a, err := p.ident()
		if err != nil {
			return fi, err
		}
		fi.alias = a
	} else if t := p.peek(); t.kind == tQIdent || t.kind == tIdent && !reserved[strings.ToUpper(t.text)] && !isStatementKeyword(t) {
		p.i++
		fi.alias = t.text
	}
	if p.accept("WITH") {
		if err := p.expectOp("("); err != nil {
			return fi, err
		}
		for !p.acceptOp(")") {
			if p.peek().kind == tEOF {
				return fi, p.errNear()
			}
			p.i++
		}
	}
	if fi.sub != nil && fi.alias == "" {
		return fi, p.errNear()
	}
	return fi, nil
}

// --- expressions ---

func (p *parser) parseExpr() (expr, *sqlError) { return p.parseOr() }

func (p *parser) parseOr() (expr, *sqlError) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.accept("OR") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: "OR", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (expr, *sqlError) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.accept("AND") {
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: "AND", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseNot() (expr, *sqlError) {
	if p.accept("NOT") {
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "NOT", x: x}, nil
	}
	return p.parsePredicate()
}

func (p *parser) parsePredicate() (expr, *sqlError) {
	l, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	if p.accept("IS") {
		not := p.accept("NOT")
		if err := p.expect("NULL"); err != nil {
			return nil, err
		}
		return &isNullExpr{x: l, not: not}, nil
	}
	not := false
	if p.peek().is("NOT") && (p.peekN(1).is("LIKE") || p.peekN(1).is("IN") || p.peekN(1).is("BETWEEN")) {
		p.i++
		not = true
	}
	switch {
	case p.accept("LIKE"):
		r, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		if p.accept("ESCAPE") {
			return nil, p.errNear()
		}
		return &likeExpr{x: l, pat: r, not: not}, nil
	case p.accept("IN"):
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		in := &inExpr{x: l, not: not}
		if p.peek().is("SELECT") {
			in.sub, err = p.parseSelect()
			if err != nil {
				return nil, err
			}
		} else {
			for {
				e, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				in.list = append(in.list, e)
				if !p.acceptOp(",") {
					break
				}
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return in, nil
	case p.accept("BETWEEN"):
		lo, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		if err := p.expect("AND"); err != nil {
			return nil, err
		}
		hi, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		return &betweenExpr{x: l, lo: lo, hi: hi, not: not}, nil
	}
	if not {
		return nil, p.errNear()
	}
	if t := p.peek(); t.kind == tOp {
		op := t.text
		switch op {
		case "=", "<>", "!=", "<", ">", "<=", ">=", "!<", "!>":
			p.i++
			r, err := p.parseAdd()
			if err != nil {
				return nil, err
			}
			switch op {
			case "!=":
				op = "<>"
			case "!<":
				op = ">="
			case "!>":
				op = "<="
			}
			return &binExpr{op: op, l: l, r: r}, nil
		}
	}
	return l, nil
}

func (p *parser) parseAdd() (expr, *sqlError) {
	l, err := p.parseMul()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || (t.text != "+" && t.text != "-" && t.text != "&" && t.text != "|" && t.text != "^") {
			return l, nil
		}
		p.i++
		r, err := p.parseMul()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: t.text, l: l, r: r}
	}
}

func (p *parser) parseMul() (expr, *sqlError) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || (t.text != "*" && t.text != "/" && t.text != "%") {
			return l, nil
		}
		p.i++
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: t.text, l: l, r: r}
	}
}

func (p *parser) parseUnary() (expr, *sqlError) {
	if t := p.peek(); t.kind == tOp && (t.text == "-" || t.text == "+" || t.text == "~") {
		p.i++
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if l, ok := x.(*litExpr); ok && t.text == "-" {
			switch v := l.v.(type) {
			case int64:
				return &litExpr{v: -v, ty: l.ty}, nil
			case float64:
				return &litExpr{v: -v, ty: l.ty}, nil
			}
		}
		return &unaryExpr{op: t.text, x: x}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (expr, *sqlError) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.i++
		if t.nstr {
			return &litExpr{v: t.text, ty: colType{t: tds.NVarChar, size: max(len([]rune(t.text)), 1)}}, nil
		}
		return &litExpr{v: t.text, ty: colType{t: tds.VarChar, size: max(len(t.text), 1)}}, nil
	case tNumber:
		p.i++
		if !strings.ContainsAny(t.text, ".eE") {
			n, err := strconv.ParseInt(t.text, 10, 64)
			if err == nil {
				if n > 2147483647 {
					return &litExpr{v: n, ty: colType{t: tds.Decimal, size: len(t.text)}}, nil
				}
				return &litExpr{v: n, ty: colType{t: tds.Int}}, nil
			}
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.i--
			return nil, p.errNear()
		}
		return &litExpr{v: f, ty: colType{t: tds.Float}}, nil
	case tBinary:
		p.i++
		b, ok := decodeHex(t.text)
		if !ok {
			p.i--
			return nil, p.errNear()
		}
		return &litExpr{v: b, ty: colType{t: tds.VarBinary, size: max(len(b), 1)}}, nil
	case tVar:
		p.i++
		return &varExpr{name: strings.ToLower(t.text)}, nil
	case tGVar:
		p.i++
		return &gvarExpr{name: strings.ToUpper(t.text)}, nil
	case tOp:
		if t.text == "(" {
			p.i++
			if p.peek().is("SELECT") {
				sel, err := p.parseSelect()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				return &subqueryExpr{sel: sel}, nil
			}
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return e, nil
		}
		return nil, p.errNear()
	case tIdent, tQIdent:
		if t.kind == tIdent {
			switch strings.ToUpper(t.text) {
			case "NULL":
				p.i++
				return &litExpr{v: nil, ty: colType{t: tds.Int}}, nil
			case "CASE":
				return p.parseCase()
			case "EXISTS":
				p.i++
				if err := p.expectOp("("); err != nil {
					return nil, err
				}
				sel, err := p.parseSelect()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				return &existsExpr{sel: sel}, nil
			case "CAST", "TRY_CAST":
				if p.peekN(1).isOp("(") {
					p.i += 2
					x, err := p.parseExpr()
					if err != nil {
						return nil, err
					}
					if err := p.expect("AS"); err != nil {
						return nil, err
					}
					ts, err := p.parseType()
					if err != nil {
						return nil, err
					}
					if err := p.expectOp(")"); err != nil {
						return nil, err
					}
					return &castExpr{x: x, to: ts}, nil
				}
			case "CONVERT", "TRY_CONVERT":
				if p.peekN(1).isOp("(") {
					p.i += 2
					ts, err := p.parseType()
					if err != nil {
						return nil, err
					}
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					x, err := p.parseExpr()
					if err != nil {
						return nil, err
					}
					c := &castExpr{x: x, to: ts}
					if p.acceptOp(",") {
						if c.style, err = p.parseExpr(); err != nil {
							return nil, err
						}
					}
					if err := p.expectOp(")"); err != nil {
						return nil, err
					}
					return c, nil
				}
			}
			if reserved[strings.ToUpper(t.text)] || isStatementKeyword(t) {
				return nil, p.errNear()
			}
		}
		parts, err := p.name()
		if err != nil {
			return nil, err
		}
		if p.acceptOp("(") {
			f := &funcExpr{name: strings.ToUpper(parts[len(parts)-1])}
			if len(parts) > 1 {
				f.schema = strings.ToLower(strings.Join(parts[:len(parts)-1], "."))
			}
			if p.acceptOp("*") {
				f.star = true
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				return f, nil
			}
			if p.acceptOp(")") {
				return f, nil
			}
			if p.accept("DISTINCT") {
				f.distinct = true
			}
			for {
				a, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				f.args = append(f.args, a)
				if p.acceptOp(")") {
					return f, nil
				}
				if err := p.expectOp(","); err != nil {
					return nil, err
				}
			}
		}
		return &colRef{parts: parts}, nil
	}
	return nil, p.errNear()
}

func (p *parser) parseCase() (expr, *sqlError) {
	p.i++
	c := &caseExpr{}
	var err *sqlError
	if !p.peek().is("WHEN") {
		if c.operand, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	for p.accept("WHEN") {
		cond, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if err := p.expect("THEN"); err != nil {
			return nil, err
		}
		then, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		c.whens = append(c.whens, whenClause{cond: cond, then: then})
	}
	if len(c.whens) == 0 {
		return nil, p.errNear()
	}
	if p.accept("ELSE") {
		if c.els, err = p.parseExpr(); err != nil {
			return nil, err
		}
	}
	if err := p.expect("END"); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeHex(s string) ([]byte, bool) {
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, false
		}
		b[i] = byte(n)
	}
	return b, true
}
