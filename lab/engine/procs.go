package engine

import (
	"strings"
)

// procArg is one argument of a procedure call (EXEC or RPC).
type procArg struct {
	name    string // @param, lower-case; "" when positional
	v       any
	output  bool
	varName string // the variable an OUTPUT argument writes back to
	isDef   bool   // DEFAULT

	// Set by the procedure for an OUTPUT argument of an RPC, which comes
	// back as a RETURNVALUE: its position in the call, the name of the
	// formal parameter it bound to, and that parameter's declared type.
	ordinal  int
	declName string
	ty       colType
}

func (s *Session) execExec(x *execStmt) *sqlError {
	ctx := &evalCtx{s: s}
	if x.dyn != nil {
		v, err := ctx.eval(x.dyn)
		if err != nil {
			return err
		}
		return s.nested(toString(v), nil)
	}
	args := make([]procArg, len(x.args))
	for n, a := range x.args {
		pa := procArg{name: a.name, output: a.output}
		if a.e == nil {
			pa.isDef = true
		} else {
			if a.output {
				ve, ok := a.e.(*varExpr)
				if !ok {
					return errf(179, 15, "Cannot use the OUTPUT option when passing a constant to a stored procedure.")
				}
				pa.varName = ve.name
			}
			if cr, ok := a.e.(*colRef); ok && len(cr.parts) == 1 && !a.output {
				// EXEC p word: an unquoted word is a string argument.
				pa.v = cr.parts[0]
			} else {
				v, err := ctx.eval(a.e)
				if err != nil {
					return err
				}
				pa.v = v
			}
		}
		args[n] = pa
	}
	err := s.callProc(x.proc, args)
	for _, a := range args {
		if a.output && a.varName != "" {
			if v, ok := s.vars[a.varName]; ok {
				cv, cerr := convert(a.v, v.ty)
				if cerr == nil {
					v.v = cv
				}
			}
		}
	}
	if x.ret != "" {
		if v, ok := s.vars[x.ret]; ok {
			v.v = int64(0)
			if err != nil {
				v.v = int64(1)
			}
		}
	}
	return err
}

// nested runs dynamic SQL in its own variable scope (EXEC(...),
// sp_executesql).
func (s *Session) nested(text string, vars map[string]*variable) *sqlError {
	if s.depth >= 32 {
		return errf(217, 16, "Maximum stored procedure, function, trigger, or view nesting level exceeded (limit 32).")
	}
	saved := s.vars
	if vars == nil {
		vars = map[string]*variable{}
	}
	s.vars = vars
	s.depth++
	defer func() { s.vars = saved; s.depth-- }()
	s.runBatch(text, false)
	return nil
}

func procNotFound(parts []string) *sqlError {
	return errf(2812, 16, "Could not find stored procedure '%s'.", strings.Join(parts, "."))
}

// callProc runs a system procedure by name.
func (s *Session) callProc(parts []string, args []procArg) *sqlError {
	name := strings.ToLower(parts[len(parts)-1])
	db := s.db
	if len(parts) >= 3 && parts[len(parts)-3] != "" {
		db = parts[len(parts)-3]
	}
	if len(parts) >= 2 {
		sch := strings.ToLower(parts[len(parts)-2])
		if sch != "" && sch != "dbo" && sch != "sys" {
			return procNotFound(parts)
		}
	}
	s.inst.mu.Lock()
	d := s.inst.cat.db(db)
	s.inst.mu.Unlock()
	if d == nil {
		return errf(911, 16, "Database '%s' does not exist. Make sure that the name is entered correctly.", db)
	}
	switch name {
	case "sp_executesql":
		return s.spExecuteSQL(args, false)
	case "sp_prepare":
		return s.spPrepare(args)
	case "sp_execute":
		return s.spExecute(args, false)
	case "sp_prepexec":
		return s.spPrepExec(args, false)
	case "sp_unprepare":
		return s.spUnprepare(args)
	case "sp_certificate_add_issuer":
		// A procedure of master (sys schema), where the profile has it.
		if !strings.EqualFold(d.Name, "master") || !s.inst.opts.Profile.hasAddIssuer() {
			return procNotFound(parts)
		}
		return s.addIssuer(args)
	case "xp_fileexist":
		// An extended procedure of master, found from any database.
		return s.xpFileExist(args)
	}
	if strings.EqualFold(d.Name, "msdb") {
		switch name {
		case "sp_add_job":
			return s.spAddJob(args)
		case "sp_add_jobstep":
			return s.spAddJobStep(args)
		case "sp_update_job":
			return s.spUpdateJob(args)
		case "sp_add_jobserver":
			return s.spAddJobServer(args)
		case "sp_start_job":
			return s.spStartJob(args)
		case "sp_delete_job":
			return s.spDeleteJob(args)
		}
	}
	return procNotFound(parts)
}

// arg finds a parameter by name or position.
func arg(args []procArg, name string, pos int) (*procArg, bool) {
	for n := range args {
		if args[n].name == name {
			return &args[n], !args[n].isDef
		}
	}
	if pos >= 0 && pos < len(args) && args[pos].name == "" {
		return &args[pos], !args[pos].isDef
	}
	return nil, false
}

func checkArgs(proc string, args []procArg, known ...string) *sqlError {
	for _, a := range args {
		if a.name == "" {
			continue
		}
		ok := false
		for _, k := range known {
			if a.name == k {
				ok = true
				break
			}
		}
		if !ok {
			return errf(8145, 16, "%s is not a parameter for procedure %s.", a.name, proc)
		}
	}
	return nil
}

// parseParamDecls parses "@p1 int, @p2 nvarchar(10) OUTPUT".
func parseParamDecls(text string) ([]declVar, []bool, *sqlError) {
	toks, err := lex(text)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{src: text, toks: toks}
	var out []declVar
	var outs []bool
	for p.peek().kind != tEOF {
		t := p.next()
		if t.kind != tVar {
			p.i--
			return nil, nil, p.errNear()
		}
		p.accept("AS")
		ts, err := p.parseType()
		if err != nil {
			return nil, nil, err
		}
		o := p.accept("OUTPUT") || p.accept("OUT")
		out = append(out, declVar{name: strings.ToLower(t.text), ty: ts})
		outs = append(outs, o)
		if !p.acceptOp(",") {
			break
		}
	}
	if p.peek().kind != tEOF {
		return nil, nil, p.errNear()
	}
	return out, outs, nil
}
