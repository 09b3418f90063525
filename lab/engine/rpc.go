package engine

import (
	"strings"

	"github.com/milink/milink/lab/tds"
)

// System procedures called over RPC bind their parameters as SQL Server
// binds them: sp_executesql's statement and declarations, and the handle,
// declarations and statement of the prepared-statement procedures, by
// position whatever the client names them (clients send @stmt,
// @statement or no name at all); the values after them by name when named,
// else by position in the declarations.

// prepared is a statement prepared with sp_prepare or sp_prepexec.
type prepared struct {
	declText string
	decls    []declVar
	outs     []bool
	text     string
}

// preparedSet holds a session's prepared statements by handle.
type preparedSet struct {
	next int32
	m    map[int32]*prepared
}

// rpc runs one RPC call; false means the connection was dropped.
func (s *Session) rpc(proc string, args []procArg) bool {
	parts := splitProcName(proc)
	name := strings.ToLower(parts[len(parts)-1])
	if len(parts) == 1 {
		var err *sqlError
		switch name {
		case "sp_executesql":
			err = s.spExecuteSQL(args, true)
		case "sp_execute":
			err = s.spExecute(args, true)
		case "sp_prepexec":
			err = s.spPrepExec(args, true)
		case "sp_prepare":
			err = s.spPrepare(args)
		case "sp_unprepare":
			err = s.spUnprepare(args)
		default:
			return s.topStatement("EXEC "+proc, func() *sqlError { return s.callProc(parts, args) })
		}
		if err != nil {
			// A binding error: the client's statement never ran, but the
			// call counts as one (the fault hook and log see it).
			s.count(proc)
			s.sendError(err)
		}
		return !s.aborted
	}
	return s.topStatement("EXEC "+proc, func() *sqlError { return s.callProc(parts, args) })
}

// stringArg returns the string at position pos, or 214 naming the formal
// parameter.
func stringArg(args []procArg, pos int, formal string) (string, *sqlError) {
	if pos >= len(args) || args[pos].isDef || args[pos].v == nil {
		return "", errf(214, 16, "Procedure expects parameter '%s' of type 'ntext/nchar/nvarchar'.", formal)
	}
	v, ok := args[pos].v.(string)
	if !ok {
		return "", errf(214, 16, "Procedure expects parameter '%s' of type 'ntext/nchar/nvarchar'.", formal)
	}
	return v, nil
}

// spExecuteSQL is sp_executesql: @stmt, @params, then the values.
func (s *Session) spExecuteSQL(args []procArg, top bool) *sqlError {
	text, err := stringArg(args, 0, "@statement")
	if err != nil {
		return err
	}
	p := &prepared{text: text}
	if len(args) > 1 && !args[1].isDef && args[1].v != nil {
		if p.declText, err = stringArg(args, 1, "@params"); err != nil {
			return err
		}
		if p.decls, p.outs, err = parseParamDecls(p.declText); err != nil {
			return err
		}
	}
	var rest []procArg
	if len(args) > 2 {
		rest = args[2:]
	}
	return s.runPrepared(p, rest, top, "sp_executesql")
}

// runPrepared binds the values to the declared parameters, runs the
// statement and writes OUTPUT parameters back into rest.
func (s *Session) runPrepared(p *prepared, rest []procArg, top bool, proc string) *sqlError {
	vars := map[string]*variable{}
	index := map[string]int{}
	for n, d := range p.decls {
		ct, _ := sqlTypeOf(d.ty)
		vars[d.name] = &variable{ty: ct}
		index[d.name] = n
	}
	bound := make([]bool, len(p.decls))
	named := false
	for n := range rest {
		a := &rest[n]
		name := a.name
		if name == "" {
			if named {
				return errf(119, 15, "Must pass parameter number %d and subsequent parameters as '@name = value'. After the form '@name = value' has been used, all subsequent parameters must be passed in the form '@name = value'.", n+3)
			}
			if n >= len(p.decls) {
				return errf(8144, 16, "Procedure or function %s has too many arguments specified.", proc)
			}
			name = p.decls[n].name
		} else {
			named = true
		}
		k, ok := index[name]
		if !ok {
			return errf(8145, 16, "%s is not a parameter for procedure %s.", name, proc)
		}
		if a.output && !p.outs[k] {
			return errf(8162, 16, "The formal parameter \"%s\" was not declared as an OUTPUT parameter, but the actual parameter passed in requested output.", name)
		}
		v := vars[name]
		if !a.isDef {
			cv, err := convert(a.v, v.ty)
			if err != nil {
				return err
			}
			v.v = cv
		}
		bound[k] = true
		a.declName, a.ty = name, v.ty
	}
	for n, d := range p.decls {
		if !bound[n] {
			return errf(8178, 16, "The parameterized query '(%s)%s' expects the parameter '%s', which was not supplied.", truncate(p.declText, 100), truncate(p.text, 100), d.name)
		}
	}
	if top {
		// Over RPC the statement is the client's: count, hook and log it.
		saved := s.vars
		s.vars = vars
		s.runBatch(p.text, true)
		s.vars = saved
	} else if err := s.nested(p.text, vars); err != nil {
		return err
	}
	for n := range rest {
		if rest[n].output {
			rest[n].v = vars[rest[n].declName].v
		}
	}
	return nil
}

// prepare parses the declarations and the statement (so that a syntax
// error is reported at prepare time, as SQL Server compiles it then) and
// stores them under a new handle, returned through args[0].
func (s *Session) prepare(args []procArg) (*prepared, *sqlError) {
	p := &prepared{}
	var err *sqlError
	if len(args) > 1 && !args[1].isDef && args[1].v != nil {
		if p.declText, err = stringArg(args, 1, "@params"); err != nil {
			return nil, err
		}
		if p.decls, p.outs, err = parseParamDecls(p.declText); err != nil {
			return nil, err
		}
	}
	if p.text, err = stringArg(args, 2, "@stmt"); err != nil {
		return nil, err
	}
	if _, err := parseBatch(p.text); err != nil {
		return nil, err
	}
	if s.prep.m == nil {
		s.prep.m = map[int32]*prepared{}
	}
	s.prep.next++
	h := s.prep.next
	s.prep.m[h] = p
	if len(args) > 0 {
		args[0].v, args[0].ty, args[0].declName = int64(h), tInt, "@handle"
	}
	return p, nil
}

// spPrepare is sp_prepare @handle OUTPUT, @params, @stmt [, @options].
func (s *Session) spPrepare(args []procArg) *sqlError {
	if len(args) < 3 {
		return errf(201, 16, "Procedure or function 'sp_prepare' expects parameter '%s', which was not supplied.", []string{"@handle", "@params", "@stmt"}[len(args)])
	}
	_, err := s.prepare(args)
	return err
}

// spPrepExec is sp_prepexec @handle OUTPUT, @params, @stmt, values...
func (s *Session) spPrepExec(args []procArg, top bool) *sqlError {
	if len(args) < 3 {
		return errf(201, 16, "Procedure or function 'sp_prepexec' expects parameter '%s', which was not supplied.", []string{"@handle", "@params", "@stmt"}[len(args)])
	}
	p, err := s.prepare(args)
	if err != nil {
		return err
	}
	return s.runPrepared(p, args[3:], top, "sp_prepexec")
}

func (s *Session) handleArg(args []procArg, proc string) (int32, *sqlError) {
	if len(args) == 0 || args[0].isDef || args[0].v == nil {
		return 0, errf(201, 16, "Procedure or function '%s' expects parameter '@handle', which was not supplied.", proc)
	}
	n, ok := toNumber(args[0].v)
	if !ok {
		return 0, errf(8114, 16, "Error converting data type %s to int.", valueTypeName(args[0].v))
	}
	h := int32(n)
	if _, ok := s.prep.m[h]; !ok {
		e := errf(8179, 16, "Could not find prepared statement with handle %d.", h)
		e.state = 4
		return 0, e
	}
	return h, nil
}

// spExecute is sp_execute @handle, values...
func (s *Session) spExecute(args []procArg, top bool) *sqlError {
	h, err := s.handleArg(args, "sp_execute")
	if err != nil {
		return err
	}
	return s.runPrepared(s.prep.m[h], args[1:], top, "sp_execute")
}

// spUnprepare is sp_unprepare @handle.
func (s *Session) spUnprepare(args []procArg) *sqlError {
	h, err := s.handleArg(args, "sp_unprepare")
	if err != nil {
		return err
	}
	delete(s.prep.m, h)
	return nil
}

// typeOfValue is the type of an OUTPUT value whose parameter has no
// declared type the lab knows.
func typeOfValue(v any) colType {
	switch x := v.(type) {
	case int64:
		if x >= -1<<31 && x < 1<<31 {
			return tInt
		}
		return tBigInt
	case bool:
		return tBit
	case float64:
		return tFloat
	case []byte:
		return tVarBinary(-1)
	case [16]byte:
		return tGUID
	case string:
		return tNVarChar(-1)
	}
	if _, ok := v.(interface{ Unix() int64 }); ok {
		return tDateTime
	}
	return tInt
}

// wireColumn describes a value of type ct to the TDS writer.
func wireColumn(name string, ct colType) tds.Column {
	size := ct.size
	switch ct.t {
	case tds.NVarChar, tds.VarChar:
		if size == 0 {
			size = 1
		}
		if size > 4000 && ct.t == tds.NVarChar || size > 8000 {
			size = -1
		}
	case tds.VarBinary:
		if size == 0 || size > 8000 {
			size = -1
		}
	}
	return tds.Column{Name: name, Type: ct.t, Size: size, Scale: ct.scale, Nullable: true}
}
