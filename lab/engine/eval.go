package engine

import (
	"crypto/rand"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/milink/milink/lab/tds"
)

// tcol is a column of an in-memory table.
type tcol struct {
	name string
	ty   colType
}

// table is a materialised table or view.
type table struct {
	name string
	cols []tcol
	rows [][]any
}

type boundTable struct {
	alias  string // lower
	name   string // lower table name (last part)
	cols   []tcol
	offset int
}

// scope describes the columns a row in a FROM clause carries.
type scope struct {
	tables []boundTable
	width  int
}

type evalCtx struct {
	s     *Session
	sc    *scope
	row   []any
	group [][]any // rows of the current group, when aggregating
	agg   bool    // evaluating in an aggregate query
	outer *evalCtx
}

var aggregates = map[string]bool{"MAX": true, "MIN": true, "COUNT": true, "SUM": true, "AVG": true, "COUNT_BIG": true}

// resolve finds a column reference; it returns the context whose row holds
// it, the index and its type.
func (c *evalCtx) resolve(parts []string) (*evalCtx, int, colType, *sqlError) {
	name := strings.ToLower(parts[len(parts)-1])
	qual := ""
	if len(parts) > 1 {
		qual = strings.ToLower(parts[len(parts)-2])
	}
	for x := c; x != nil; x = x.outer {
		if x.sc == nil {
			continue
		}
		found := -1
		var ty colType
		for _, bt := range x.sc.tables {
			if qual != "" && qual != bt.alias && qual != bt.name {
				continue
			}
			for ci, col := range bt.cols {
				if strings.EqualFold(col.name, name) {
					if found >= 0 {
						return nil, 0, colType{}, errf(209, 16, "Ambiguous column name '%s'.", parts[len(parts)-1])
					}
					found, ty = bt.offset+ci, col.ty
				}
			}
		}
		if found >= 0 {
			return x, found, ty, nil
		}
	}
	if qual != "" {
		return nil, 0, colType{}, errf(4104, 16, "The multi-part identifier \"%s\" could not be bound.", strings.Join(parts, "."))
	}
	return nil, 0, colType{}, errf(207, 16, "Invalid column name '%s'.", parts[len(parts)-1])
}

func (c *evalCtx) eval(e expr) (any, *sqlError) {
	switch x := e.(type) {
	case *litExpr:
		return x.v, nil
	case *colRef:
		if len(x.parts) == 1 {
			switch strings.ToUpper(x.parts[0]) {
			case "CURRENT_TIMESTAMP":
				return time.Now(), nil
			case "CURRENT_USER", "SYSTEM_USER", "SESSION_USER":
				return c.s.login(), nil
			}
		}
		o, idx, _, err := c.resolve(x.parts)
		if err != nil {
			return nil, err
		}
		if o.row == nil {
			if len(o.group) > 0 {
				return o.group[0][idx], nil
			}
			return nil, nil
		}
		return o.row[idx], nil
	case *varExpr:
		v, ok := c.s.lookupVar(x.name)
		if !ok {
			return nil, errf(137, 15, "Must declare the scalar variable \"%s\".", x.name)
		}
		return v.v, nil
	case *gvarExpr:
		return c.s.globalVar(x.name)
	case *starExpr:
		return nil, syntaxNear("*")
	case *unaryExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		v = unwrap(v)
		switch x.op {
		case "NOT":
			if v == nil {
				return nil, nil
			}
			return !truthy(v), nil
		case "-":
			switch n := v.(type) {
			case nil:
				return nil, nil
			case int64:
				return -n, nil
			case float64:
				return -n, nil
			}
			return nil, errf(8117, 16, "Operand data type %s is invalid for minus operator.", valueTypeName(v))
		case "~":
			if n, ok := v.(int64); ok {
				return ^n, nil
			}
			if v == nil {
				return nil, nil
			}
			return nil, errf(8117, 16, "Operand data type %s is invalid for ~ operator.", valueTypeName(v))
		}
		return v, nil
	case *binExpr:
		return c.evalBinary(x)
	case *isNullExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		return (v == nil) != x.not, nil
	case *likeExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		p, err := c.eval(x.pat)
		if err != nil {
			return nil, err
		}
		if v == nil || p == nil {
			return nil, nil
		}
		return likeMatch(toString(v), toString(p)) != x.not, nil
	case *betweenExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		lo, err := c.eval(x.lo)
		if err != nil {
			return nil, err
		}
		hi, err := c.eval(x.hi)
		if err != nil {
			return nil, err
		}
		if v == nil || lo == nil || hi == nil {
			return nil, nil
		}
		a, err := compare(v, lo)
		if err != nil {
			return nil, err
		}
		b, err := compare(v, hi)
		if err != nil {
			return nil, err
		}
		return (a >= 0 && b <= 0) != x.not, nil
	case *inExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		var cands []any
		if x.sub != nil {
			t, err := c.s.runSelect(x.sub, c)
			if err != nil {
				return nil, err
			}
			for _, r := range t.rows {
				cands = append(cands, r[0])
			}
		} else {
			for _, le := range x.list {
				lv, err := c.eval(le)
				if err != nil {
					return nil, err
				}
				cands = append(cands, lv)
			}
		}
		if v == nil {
			return nil, nil
		}
		sawNull := false
		for _, cv := range cands {
			if cv == nil {
				sawNull = true
				continue
			}
			r, err := compare(v, cv)
			if err != nil {
				return nil, err
			}
			if r == 0 {
				return !x.not, nil
			}
		}
		if sawNull {
			return nil, nil
		}
		return x.not, nil
	case *subqueryExpr:
		t, err := c.s.runSelect(x.sel, c)
		if err != nil {
			return nil, err
		}
		if len(t.cols) != 1 {
			return nil, errf(116, 16, "Only one expression can be specified in the select list when the subquery is not introduced with EXISTS.")
		}
		if len(t.rows) > 1 {
			return nil, errf(512, 16, "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= or when the subquery is used as an expression.")
		}
		if len(t.rows) == 0 {
			return nil, nil
		}
		return t.rows[0][0], nil
	case *existsExpr:
		t, err := c.s.runSelect(x.sel, c)
		if err != nil {
			return nil, err
		}
		return len(t.rows) > 0, nil
	case *castExpr:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		ct, _ := sqlTypeOf(x.to)
		if (ct.t == tds.NVarChar || ct.t == tds.VarChar) && ct.size == 0 {
			ct.size = 30
		}
		if x.style != nil {
			sv, err := c.eval(x.style)
			if err != nil {
				return nil, err
			}
			if n, ok := toNumber(sv); ok {
				return convertStyle(v, ct, int(n))
			}
		}
		return convert(v, ct)
	case *caseExpr:
		var op any
		var err *sqlError
		if x.operand != nil {
			if op, err = c.eval(x.operand); err != nil {
				return nil, err
			}
		}
		for _, w := range x.whens {
			cv, err := c.eval(w.cond)
			if err != nil {
				return nil, err
			}
			hit := false
			if x.operand != nil {
				if op != nil && cv != nil {
					r, err := compare(op, cv)
					if err != nil {
						return nil, err
					}
					hit = r == 0
				}
			} else {
				hit = truthy(cv)
			}
			if hit {
				return c.eval(w.then)
			}
		}
		if x.els != nil {
			return c.eval(x.els)
		}
		return nil, nil
	case *funcExpr:
		return c.evalFunc(x)
	}
	return nil, errf(102, 15, "Incorrect syntax near '%v'.", e)
}

func truthy(v any) bool {
	switch x := unwrap(v).(type) {
	case bool:
		return x
	case int64:
		return x != 0
	}
	return false
}

func (c *evalCtx) evalBinary(x *binExpr) (any, *sqlError) {
	switch x.op {
	case "AND":
		l, err := c.eval(x.l)
		if err != nil {
			return nil, err
		}
		if l != nil && !truthy(l) {
			return false, nil
		}
		r, err := c.eval(x.r)
		if err != nil {
			return nil, err
		}
		if r != nil && !truthy(r) {
			return false, nil
		}
		if l == nil || r == nil {
			return nil, nil
		}
		return true, nil
	case "OR":
		l, err := c.eval(x.l)
		if err != nil {
			return nil, err
		}
		if l != nil && truthy(l) {
			return true, nil
		}
		r, err := c.eval(x.r)
		if err != nil {
			return nil, err
		}
		if r != nil && truthy(r) {
			return true, nil
		}
		if l == nil || r == nil {
			return nil, nil
		}
		return false, nil
	}
	l, err := c.eval(x.l)
	if err != nil {
		return nil, err
	}
	r, err := c.eval(x.r)
	if err != nil {
		return nil, err
	}
	if l == nil || r == nil {
		return nil, nil
	}
	switch x.op {
	case "=", "<>", "<", ">", "<=", ">=":
		cmp, err := compare(l, r)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "=":
			return cmp == 0, nil
		case "<>":
			return cmp != 0, nil
		case "<":
			return cmp < 0, nil
		case ">":
			return cmp > 0, nil
		case "<=":
			return cmp <= 0, nil
		}
		return cmp >= 0, nil
	}
	return arith(x.op, l, r)
}

func arith(op string, l, r any) (any, *sqlError) {
	l, r = unwrap(l), unwrap(r)
	if v, ok := decimalArith(op, l, r); ok {
		return v, nil
	}
	ls, lstr := l.(string)
	rs, rstr := r.(string)
	if op == "+" && lstr && rstr {
		return ls + rs, nil
	}
	if lb, ok := l.([]byte); ok && op == "+" {
		if rb, ok := r.([]byte); ok {
			return append(append([]byte{}, lb...), rb...), nil
		}
	}
	if lt, ok := l.(time.Time); ok {
		if n, ok := toNumber(r); ok && (op == "+" || op == "-") {
			if op == "-" {
				n = -n
			}
			return lt.Add(time.Duration(n * float64(24*time.Hour))), nil
		}
	}
	lf, lok := toNumber(l)
	rf, rok := toNumber(r)
	if !lok {
		return nil, convFail(l, tInt)
	}
	if !rok {
		return nil, convFail(r, tInt)
	}
	_, lfl := l.(float64)
	_, rfl := r.(float64)
	if lstr && !strings.ContainsAny(ls, ".eE") || rstr && !strings.ContainsAny(rs, ".eE") {
		// varchar converts to int by type precedence.
		lfl, rfl = lfl && !lstr, rfl && !rstr
	}
	isFloat := lfl || rfl
	if !isFloat {
		a, b := int64(lf), int64(rf)
		switch op {
		case "+":
			return a + b, nil
		case "-":
			return a - b, nil
		case "*":
			return a * b, nil
		case "/", "%":
			if b == 0 {
				return nil, errf(8134, 16, "Divide by zero error encountered.")
			}
			if op == "/" {
				return a / b, nil
			}
			return a % b, nil
		case "&":
			return a & b, nil
		case "|":
			return a | b, nil
		case "^":
			return a ^ b, nil
		}
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, errf(8134, 16, "Divide by zero error encountered.")
		}
		return lf / rf, nil
	case "%":
		if rf == 0 {
			return nil, errf(8134, 16, "Divide by zero error encountered.")
		}
		return math.Mod(lf, rf), nil
	}
	return nil, errf(8117, 16, "Operand data type float is invalid for %s operator.", op)
}

func argCount(f *funcExpr, lo, hi int) *sqlError {
	if len(f.args) < lo || len(f.args) > hi {
		return errf(174, 15, "The %s function requires %d argument(s).", strings.ToLower(f.name), lo)
	}
	return nil
}

func (c *evalCtx) evalFunc(f *funcExpr) (any, *sqlError) {
	if aggregates[f.name] {
		return c.evalAggregate(f)
	}
	args := make([]any, len(f.args))
	for i, a := range f.args {
		v, err := c.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = unwrap(v)
	}
	s := c.s
	switch f.name {
	case "SERVERPROPERTY":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		return s.inst.serverPropertyVariant(toString(args[0])), nil
	case "DB_NAME":
		if len(args) == 0 {
			return s.db, nil
		}
		id, ok := toNumber(args[0])
		if !ok {
			return nil, nil
		}
		return s.inst.dbName(int(id)), nil
	case "DB_ID":
		name := s.db
		if len(args) > 0 {
			if args[0] == nil {
				return nil, nil
			}
			name = toString(args[0])
		}
		return s.inst.dbID(name), nil
	case "OBJECT_ID":
		if err := argCount(f, 1, 2); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		return s.objectID(toString(args[0])), nil
	case "CERT_ID":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		return s.inst.certID(s.db, toString(args[0])), nil
	case "CERTENCODED":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		id, ok := toNumber(args[0])
		if !ok {
			return nil, nil
		}
		return s.inst.certEncoded(s.db, int(id)), nil
	case "CERTPRIVATEKEY":
		if err := argCount(f, 2, 3); err != nil {
			return nil, err
		}
		id, ok := toNumber(args[0])
		if !ok || args[1] == nil {
			return nil, nil
		}
		dec := ""
		if len(args) == 3 && args[2] != nil {
			dec = toString(args[2])
		}
		return s.inst.certPrivateKey(s, int(id), toString(args[1]), dec), nil
	case "GETDATE", "SYSDATETIME", "GETUTCDATE", "SYSUTCDATETIME", "SYSDATETIMEOFFSET":
		if f.name == "GETUTCDATE" || f.name == "SYSUTCDATETIME" {
			return time.Now().UTC(), nil
		}
		return time.Now(), nil
	case "NEWID":
		return guidFromUUID(uuid.New()), nil
	case "CRYPT_GEN_RANDOM":
		if err := argCount(f, 1, 2); err != nil {
			return nil, err
		}
		n, _ := toNumber(args[0])
		if n < 1 || n > 8000 {
			return nil, nil
		}
		b := make([]byte, int(n))
		_, _ = rand.Read(b)
		return b, nil
	case "ISNULL":
		if err := argCount(f, 2, 2); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return args[1], nil
		}
		return args[0], nil
	case "COALESCE":
		for _, a := range args {
			if a != nil {
				return a, nil
			}
		}
		return nil, nil
	case "NULLIF":
		if err := argCount(f, 2, 2); err != nil {
			return nil, err
		}
		if args[0] != nil && args[1] != nil {
			if r, err := compare(args[0], args[1]); err == nil && r == 0 {
				return nil, nil
			}
		}
		return args[0], nil
	case "IIF":
		if err := argCount(f, 3, 3); err != nil {
			return nil, err
		}
		if truthy(args[0]) {
			return args[1], nil
		}
		return args[2], nil
	case "LEN", "DATALENGTH":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		if b, ok := args[0].([]byte); ok {
			return int64(len(b)), nil
		}
		if f.name == "DATALENGTH" {
			return int64(2 * len([]rune(toString(args[0])))), nil
		}
		return int64(len([]rune(strings.TrimRight(toString(args[0]), " ")))), nil
	case "UPPER", "LOWER", "LTRIM", "RTRIM", "TRIM":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		v := toString(args[0])
		switch f.name {
		case "UPPER":
			return strings.ToUpper(v), nil
		case "LOWER":
			return strings.ToLower(v), nil
		case "LTRIM":
			return strings.TrimLeft(v, " "), nil
		case "RTRIM":
			return strings.TrimRight(v, " "), nil
		}
		return strings.Trim(v, " "), nil
	case "LEFT", "RIGHT":
		if err := argCount(f, 2, 2); err != nil {
			return nil, err
		}
		if args[0] == nil || args[1] == nil {
			return nil, nil
		}
		r := []rune(toString(args[0]))
		n, _ := toNumber(args[1])
		k := int(math.Max(0, math.Min(n, float64(len(r)))))
		if f.name == "LEFT" {
			return string(r[:k]), nil
		}
		return string(r[len(r)-k:]), nil
	case "SUBSTRING":
		if err := argCount(f, 3, 3); err != nil {
			return nil, err
		}
		if args[0] == nil || args[1] == nil || args[2] == nil {
			return nil, nil
		}
		r := []rune(toString(args[0]))
		st, _ := toNumber(args[1])
		ln, _ := toNumber(args[2])
		if ln < 0 {
			return nil, errf(537, 16, "Invalid length parameter passed to the LEFT or SUBSTRING function.")
		}
		from := int(st) - 1
		to := from + int(ln)
		from = max(from, 0)
		to = min(to, len(r))
		if from >= to {
			return "", nil
		}
		return string(r[from:to]), nil
	case "REPLACE":
		if err := argCount(f, 3, 3); err != nil {
			return nil, err
		}
		if args[0] == nil || args[1] == nil || args[2] == nil {
			return nil, nil
		}
		old := toString(args[1])
		if old == "" {
			return toString(args[0]), nil
		}
		return replaceFold(toString(args[0]), old, toString(args[2])), nil
	case "CHARINDEX":
		if err := argCount(f, 2, 3); err != nil {
			return nil, err
		}
		if args[0] == nil || args[1] == nil {
			return nil, nil
		}
		return int64(strings.Index(strings.ToLower(toString(args[1])), strings.ToLower(toString(args[0]))) + 1), nil
	case "CONCAT":
		var b strings.Builder
		for _, a := range args {
			b.WriteString(toString(a))
		}
		return b.String(), nil
	case "ABS":
		if err := argCount(f, 1, 1); err != nil {
			return nil, err
		}
		switch n := args[0].(type) {
		case int64:
			if n < 0 {
				return -n, nil
			}
			return n, nil
		case float64:
			return math.Abs(n), nil
		}
		return nil, nil
	case "SUSER_SNAME", "SUSER_NAME", "USER_NAME", "ORIGINAL_LOGIN":
		return s.login(), nil
	case "HOST_NAME":
		return "milink-lab", nil
	case "APP_NAME":
		return "", nil
	case "IS_SRVROLEMEMBER":
		return s.isSrvRoleMember(args), nil
	case "IS_MEMBER", "HAS_DBACCESS":
		return int64(1), nil
	case "SCOPE_IDENTITY", "@@IDENTITY":
		return nil, nil
	}
	return nil, errf(195, 15, "'%s' is not a recognized built-in function name.", f.name)
}

func replaceFold(s, old, repl string) string {
	var b strings.Builder
	ls, lo := strings.ToLower(s), strings.ToLower(old)
	i := 0
	for {
		j := strings.Index(ls[i:], lo)
		if j < 0 || len(ls) != len(s) {
			if j >= 0 {
				return strings.ReplaceAll(s, old, repl)
			}
			b.WriteString(s[i:])
			return b.String()
		}
		b.WriteString(s[i : i+j])
		b.WriteString(repl)
		i += j + len(old)
	}
}

func (c *evalCtx) evalAggregate(f *funcExpr) (any, *sqlError) {
	if !c.agg {
		return nil, errf(147, 15, "An aggregate may not appear in the WHERE clause unless it is in a subquery contained in a HAVING clause or a select list, and the column being aggregated is an outer reference.")
	}
	if f.star {
		return int64(len(c.group)), nil
	}
	if len(f.args) != 1 {
		return nil, errf(174, 15, "The %s function requires 1 argument(s).", strings.ToLower(f.name))
	}
	var vals []any
	for _, r := range c.group {
		sub := &evalCtx{s: c.s, sc: c.sc, row: r, outer: c.outer}
		v, err := sub.eval(f.args[0])
		if err != nil {
			return nil, err
		}
		if v != nil {
			vals = append(vals, v)
		}
	}
	if f.distinct {
		var uniq []any
		for _, v := range vals {
			dup := false
			for _, u := range uniq {
				if r, err := compare(v, u); err == nil && r == 0 {
					dup = true
					break
				}
			}
			if !dup {
				uniq = append(uniq, v)
			}
		}
		vals = uniq
	}
	switch f.name {
	case "COUNT", "COUNT_BIG":
		return int64(len(vals)), nil
	case "MAX", "MIN":
		if len(vals) == 0 {
			return nil, nil
		}
		best := vals[0]
		for _, v := range vals[1:] {
			r, err := compare(v, best)
			if err != nil {
				return nil, err
			}
			if f.name == "MAX" && r > 0 || f.name == "MIN" && r < 0 {
				best = v
			}
		}
		return best, nil
	case "SUM", "AVG":
		if len(vals) == 0 {
			return nil, nil
		}
		var sum any = int64(0)
		for _, v := range vals {
			r, err := arith("+", sum, v)
			if err != nil {
				return nil, err
			}
			sum = r
		}
		if f.name == "AVG" {
			return arith("/", sum, int64(len(vals)))
		}
		return sum, nil
	}
	return nil, nil
}

// hasAggregate reports whether e uses an aggregate outside a subquery.
func hasAggregate(e expr) bool {
	found := false
	walkExpr(e, func(x expr) {
		if f, ok := x.(*funcExpr); ok && aggregates[f.name] {
			found = true
		}
	})
	return found
}

func walkExpr(e expr, fn func(expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *unaryExpr:
		walkExpr(x.x, fn)
	case *binExpr:
		walkExpr(x.l, fn)
		walkExpr(x.r, fn)
	case *funcExpr:
		for _, a := range x.args {
			walkExpr(a, fn)
		}
	case *caseExpr:
		walkExpr(x.operand, fn)
		for _, w := range x.whens {
			walkExpr(w.cond, fn)
			walkExpr(w.then, fn)
		}
		walkExpr(x.els, fn)
	case *isNullExpr:
		walkExpr(x.x, fn)
	case *inExpr:
		walkExpr(x.x, fn)
		for _, l := range x.list {
			walkExpr(l, fn)
		}
	case *likeExpr:
		walkExpr(x.x, fn)
		walkExpr(x.pat, fn)
	case *betweenExpr:
		walkExpr(x.x, fn)
		walkExpr(x.lo, fn)
		walkExpr(x.hi, fn)
	case *castExpr:
		walkExpr(x.x, fn)
	}
}

// typeOf infers the result type of e for column metadata.
func (c *evalCtx) typeOf(e expr) colType {
	switch x := e.(type) {
	case *litExpr:
		return x.ty
	case *colRef:
		if len(x.parts) == 1 && strings.EqualFold(x.parts[0], "CURRENT_TIMESTAMP") {
			return tDateTime
		}
		if _, _, ty, err := c.resolve(x.parts); err == nil {
			return ty
		}
		return tNVarChar(128)
	case *varExpr:
		if v, ok := c.s.lookupVar(x.name); ok {
			return v.ty
		}
	case *gvarExpr:
		switch x.name {
		case "@@VERSION":
			return tNVarChar(300)
		case "@@SERVERNAME", "@@SERVICENAME", "@@LANGUAGE":
			return tNVarChar(128)
		case "@@SPID":
			return tSmallInt
		case "@@MAX_PRECISION":
			return tTinyInt
		case "@@TRANCOUNT", "@@ERROR", "@@ROWCOUNT":
			return tInt
		}
		return tInt
	case *unaryExpr:
		if x.op == "NOT" {
			return tBit
		}
		return c.typeOf(x.x)
	case *binExpr:
		switch x.op {
		case "AND", "OR", "=", "<>", "<", ">", "<=", ">=":
			return tBit
		}
		l, r := c.typeOf(x.l), c.typeOf(x.r)
		if isNumericType(l.t) && isNumericType(r.t) {
			if l.t == tds.Float || r.t == tds.Float {
				return tFloat
			}
			if l.t == tds.BigInt || r.t == tds.BigInt || l.t == tds.Decimal || r.t == tds.Decimal {
				return tBigInt
			}
			return tInt
		}
		if l.t == tds.VarBinary {
			return tVarBinary(-1)
		}
		if l.t == tds.NVarChar || r.t == tds.NVarChar || l.t == tds.Variant {
			return tNVarChar(sumSize(l.size, r.size))
		}
		if l.t == tds.VarChar && r.t == tds.VarChar {
			return tVarChar(sumSize(l.size, r.size))
		}
		if isNumericType(l.t) {
			return l
		}
		return r
	case *isNullExpr, *likeExpr, *inExpr, *existsExpr, *betweenExpr:
		return tBit
	case *subqueryExpr:
		sub := &evalCtx{s: c.s, outer: c}
		if len(x.sel.items) == 1 {
			if sc, err := c.s.selectScope(x.sel); err == nil {
				sub.sc = sc
				return sub.typeOf(x.sel.items[0].e)
			}
		}
		return tVariant
	case *castExpr:
		ct, _ := sqlTypeOf(x.to)
		if (ct.t == tds.NVarChar || ct.t == tds.VarChar) && ct.size == 0 {
			ct.size = 30
		}
		return ct
	case *caseExpr:
		for _, w := range x.whens {
			if _, isNull := w.then.(*litExpr); isNull && w.then.(*litExpr).v == nil {
				continue
			}
			t := c.typeOf(w.then)
			if t.t == tds.VarChar || t.t == tds.NVarChar {
				size := t.size
				for _, w2 := range x.whens {
					size = max(size, c.typeOf(w2.then).size)
				}
				if x.els != nil {
					size = max(size, c.typeOf(x.els).size)
				}
				t.size = size
			}
			return t
		}
		if x.els != nil {
			return c.typeOf(x.els)
		}
		return tInt
	case *funcExpr:
		return c.funcType(x)
	}
	return tNVarChar(4000)
}

func sumSize(a, b int) int {
	if a <= 0 || b <= 0 || a+b > 4000 {
		return -1
	}
	return a + b
}

func (c *evalCtx) funcType(f *funcExpr) colType {
	switch f.name {
	case "SERVERPROPERTY":
		return tVariant
	case "DB_NAME", "SUSER_SNAME", "SUSER_NAME", "USER_NAME", "ORIGINAL_LOGIN", "HOST_NAME", "APP_NAME":
		return tNVarChar(128)
	case "DB_ID":
		return tSmallInt
	case "OBJECT_ID", "CERT_ID", "LEN", "CHARINDEX", "DATALENGTH", "IS_SRVROLEMEMBER", "IS_MEMBER", "HAS_DBACCESS", "COUNT":
		return tInt
	case "COUNT_BIG":
		return tBigInt
	case "CERTENCODED", "CERTPRIVATEKEY", "CRYPT_GEN_RANDOM":
		return tVarBinary(-1)
	case "GETDATE", "GETUTCDATE":
		return tDateTime
	case "SYSDATETIME", "SYSUTCDATETIME":
		return colType{t: tds.DateTime2}
	case "SYSDATETIMEOFFSET":
		return colType{t: tds.DateTimeOffset}
	case "NEWID":
		return tGUID
	case "MAX", "MIN", "SUM", "ABS", "ISNULL", "COALESCE", "NULLIF", "UPPER", "LOWER", "LTRIM", "RTRIM", "TRIM", "LEFT", "RIGHT", "SUBSTRING", "REPLACE":
		if len(f.args) > 0 {
			return c.typeOf(f.args[0])
		}
	case "AVG":
		return tFloat
	case "IIF":
		if len(f.args) > 1 {
			return c.typeOf(f.args[1])
		}
	case "CONCAT":
		return tNVarChar(-1)
	}
	return tNVarChar(4000)
}
