package engine

// Expressions.
type expr interface{}

type (
	litExpr struct {
		v  any
		ty colType
	}
	colRef    struct{ parts []string } // [qualifier...] name
	starExpr  struct{ qual []string }  // * or t.*
	varExpr   struct{ name string }    // @x (lower-cased)
	gvarExpr  struct{ name string }    // @@VERSION (upper-cased)
	unaryExpr struct {
		op string // "NOT", "-", "+", "~"
		x  expr
	}
	binExpr struct {
		op   string // + - * / % = <> < > <= >= AND OR
		l, r expr
	}
	funcExpr struct {
		name     string // upper-cased, last part of the name
		schema   string
		args     []expr
		star     bool // COUNT(*)
		distinct bool
	}
	caseExpr struct {
		operand expr // nil for a searched CASE
		whens   []whenClause
		els     expr
	}
	isNullExpr struct {
		x   expr
		not bool
	}
	inExpr struct {
		x    expr
		list []expr
		sub  *selectStmt
		not  bool
	}
	likeExpr struct {
		x, pat expr
		not    bool
	}
	betweenExpr struct {
		x, lo, hi expr
		not       bool
	}
	subqueryExpr struct{ sel *selectStmt }
	existsExpr   struct{ sel *selectStmt }
	castExpr     struct {
		x     expr
		to    typeSpec
		style expr // CONVERT's third argument, or nil
	}
)

type whenClause struct{ cond, then expr }

// typeSpec is a declared SQL type: nvarchar(max), numeric(25,0), binary(16).
type typeSpec struct {
	name  string // lower-case
	size  int    // length or precision; -1 is MAX; 0 when absent
	scale int
}

// Statements.
type stmt interface{}

type (
	selectStmt struct {
		distinct bool
		top      expr
		items    []selectItem
		from     []fromItem
		where    expr
		groupBy  []expr
		having   expr
		orderBy  []orderItem
	}
	selectItem struct {
		e      expr
		alias  string
		hasAls bool
		assign string // @var for SELECT @var = expr
	}
	fromItem struct {
		name  []string    // table name parts
		args  []expr      // a table-valued function's arguments (fn is set)
		fn    bool        // name(args) is a table-valued function
		sub   *selectStmt // derived table
		alias string
		join  string // "", "INNER", "LEFT", "CROSS"
		on    expr
	}
	orderItem struct {
		e    expr
		desc bool
	}
	declareStmt struct{ vars []declVar }
	declVar     struct {
		name string
		ty   typeSpec
		init expr
	}
	setVarStmt struct {
		name string
		op   string // "=" or "+=" etc.
		e    expr
	}
	setOptStmt struct {
		name string // upper-case
		on   bool
	}
	ifStmt struct {
		cond      expr
		then, els stmt
	}
	blockStmt  struct{ body []stmt }
	printStmt  struct{ e expr }
	useStmt    struct{ db string }
	noopStmt   struct{}
	returnStmt struct{ e expr }
	execStmt   struct {
		ret  string // @ret = EXEC ...
		proc []string
		args []execArg
		dyn  expr // EXEC (N'...')
	}
	execArg struct {
		name   string // @param (lower-case), or "" for positional
		e      expr   // nil for DEFAULT
		output bool
	}
	dbccStmt struct {
		cmd    string // upper-case
		args   []int
		noInfo bool
	}
	masterKeyStmt struct {
		action   string // CREATE, REGENERATE, ADD, DROPENC, OPEN, CLOSE, DROP
		force    bool
		password string
		smk      bool // ADD/DROP ENCRYPTION BY SERVICE MASTER KEY
	}
	alterDBStmt struct {
		db       string
		recovery string
	}
	backupDBStmt struct {
		db    string
		log   bool
		disks []string
		opts  map[string]string
	}
	createCertStmt struct {
		name, subject, expiry, start, password string
		binary                                 []byte // FROM BINARY = 0x...
	}
	dropCertStmt   struct{ name string }
	backupCertStmt struct {
		name, file, keyFile, encPassword, decPassword string
		withKey                                       bool
	}
	createEndpointStmt struct {
		alter  bool
		name   string
		state  string
		port   int
		ip     string
		mirror bool
		role   string
		auth   string
		cert   string
		enc    string
		algo   string
	}
	dropEndpointStmt struct{ name string }
	// tranStmt is BEGIN, COMMIT, ROLLBACK or SAVE TRAN[SACTION].
	tranStmt struct{ op string }
)

// stmtSpan is a top-level statement with its source text.
type stmtSpan struct {
	s    stmt
	text string
	line int32 // line of the statement's first token in the batch
}
