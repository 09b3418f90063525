// Package tds is the server side of the Tabular Data Stream protocol, enough of
// it for the real go-mssqldb client (and FreeTDS) to log in, run batches and
// RPCs, and read typed result sets, messages and errors.
//
// The package knows nothing about SQL: a Handler decides who may log in and a
// Session answers each batch or RPC by writing to a ResponseWriter.
package tds

import (
	"context"
)

// Type is the SQL type of a result column. The writer picks the TDS encoding.
type Type int

// Column types and the Go values a Row may carry for them (nil is NULL).
const (
	Int              Type = iota + 1 // INTN(4): int, int32, int64
	BigInt                           // INTN(8): int, int64
	SmallInt                         // INTN(2): int, int16
	TinyInt                          // INTN(1): int, uint8
	Bit                              // BITN: bool
	Float                            // FLTN(8): float64
	Decimal                          // DECIMALN(Size digits, Scale): an integer, or a decimal string such as "-12.50"
	NVarChar                         // NVARCHAR(Size); Size -1 is NVARCHAR(MAX): string
	VarChar                          // VARCHAR(Size) in the server collation: string
	VarBinary                        // VARBINARY(Size); Size -1 is VARBINARY(MAX): []byte
	DateTime                         // DATETIMEN(8): time.Time
	DateTime2                        // DATETIME2(7): time.Time
	UniqueIdentifier                 // GUID: [16]byte in SQL Server byte order
	Variant                          // sql_variant; the base type follows the Go value: int/int64 → int or bigint, string → nvarchar, bool → bit, time.Time → datetime; a VariantValue names it
	DateTimeOffset                   // DATETIMEOFFSETN(7): time.Time, its zone's offset is sent
)

// VariantValue is a sql_variant value whose base type is given rather than
// guessed from the Go value: SERVERPROPERTY('ProductVersion') is an
// nvarchar(128), SERVERPROPERTY('EditionID') a bigint. Base may be Int,
// BigInt, SmallInt, TinyInt, Bit, Float, Decimal, NVarChar, VarChar,
// VarBinary or DateTime.
type VariantValue struct {
	Base  Column
	Value any
}

// Column describes one column of a result set.
type Column struct {
	Name     string
	Type     Type
	Size     int // characters for NVarChar/VarChar, bytes for VarBinary, precision for Decimal; -1 is MAX; 0 picks a sensible default
	Scale    int // digits after the decimal point (Decimal only)
	Nullable bool
}

// Message is an ERROR or INFO token. Class (severity) 10 or lower is
// informational; 11 and above is an error.
type Message struct {
	Number    int32
	State     uint8
	Class     uint8
	Text      string
	Server    string
	Procedure string
	Line      int32
}

// ResponseWriter receives one reply. A statement's reply is: optionally
// Columns followed by Rows, then Done. Messages may come at any time. The
// server ends the whole reply (the final DONE without MORE) itself when the
// Session's method returns, so a Session never has to know which statement
// was last.
type ResponseWriter interface {
	// Columns starts a result set.
	Columns(cols []Column) error
	// Row sends one row of the current result set.
	Row(values ...any) error
	// Done ends the current statement. rowCount < 0 means "no count"
	// (SET NOCOUNT ON, or a statement that has none).
	Done(rowCount int64) error
	// Info sends an informational message (PRINT, "10 percent processed.").
	Info(m Message) error
	// Error sends an error; the statement's Done carries the error bit.
	Error(m Message) error
	// ReturnStatus sends a stored procedure's return status (RPC only).
	ReturnStatus(status int32) error
	// ReturnValue sends an RPC OUTPUT parameter (a RETURNVALUE token):
	// ordinal is its position in the call, name its name with the @.
	// SQL Server sends them after the return status; so must the Session.
	ReturnValue(ordinal int, name string, col Column, value any) error
	// Transaction reports that a transaction began or ended (ENVCHANGE 8,
	// 9 or 10). SQL Server sends it when the outermost transaction of the
	// session begins or ends, whether T-SQL or a transaction manager
	// request started it; clients send the descriptor back in ALL_HEADERS.
	Transaction(change TxChange, descriptor uint64) error
	// Flush sends what is buffered now, as non-final packets, so that the
	// client sees progress messages while a long statement still runs.
	Flush() error
	// Abort closes the connection at once without finishing the reply
	// (fault injection: "drop the connection on the Nth statement").
	Abort()
}

// TxChange is the kind of a transaction ENVCHANGE.
type TxChange int

// Transaction changes (ENVCHANGE types 8, 9, 10).
const (
	TxBegin TxChange = iota + 1
	TxCommit
	TxRollback
)

// Param is one parameter of an RPC call.
type Param struct {
	Name   string // with the leading @, may be empty for positional parameters
	Value  any    // string, int64, bool, float64, []byte, time.Time or nil
	Output bool
}

// LoginRequest is what the client sent in LOGIN7.
type LoginRequest struct {
	User       string
	Password   string
	Database   string
	AppName    string
	HostName   string
	ServerName string
	PacketSize int
	// Integrated is set when the server's SSPI acceptor authenticated the
	// login (Windows authentication): User is then the Windows login it
	// proved (DOMAIN\user), and Password is empty.
	Integrated bool
	// Federated is set when the login carried a Microsoft Entra access
	// token that the server's FedAuth validated: User is then the
	// token's principal, and Password is empty.
	Federated bool
}

// FedAuth validates the Microsoft Entra access tokens of federated
// logins (LOGIN7's FEDAUTH feature extension, security-token library).
type FedAuth interface {
	// Validate returns the principal a token proves, or the message
	// refusing the login (18456, as SQL Server sends it).
	Validate(token string) (user string, fail *Message)
}

// SSPI accepts Windows authentication for a server.
type SSPI interface {
	// Start begins the exchange of one login.
	Start() SSPIExchange
}

// SSPIExchange is one login's integrated-authentication exchange.
type SSPIExchange interface {
	// Step takes the client's next token and returns the token to send
	// back (nil for none). done reports a completed exchange, with the
	// Windows login it proved; fail is the message refusing the login
	// (18452 or 18456, as SQL Server sends them).
	Step(in []byte) (out []byte, user string, done bool, fail *Message)
}

// Session is one logged-in connection. Calls on a session never overlap.
type Session interface {
	// Batch runs a SQL batch (the whole text the client sent).
	Batch(ctx context.Context, sql string, w ResponseWriter)
	// RPC runs a procedure call; sp_executesql arrives as proc "sp_executesql"
	// with the statement, the parameter declarations and then the values.
	RPC(ctx context.Context, proc string, params []Param, w ResponseWriter)
	// Database is the current database, reported to the client after login.
	Database() string
	// Close releases the session when the connection ends.
	Close()
}

// TMKind is the request type of a transaction manager request.
type TMKind int

// Transaction manager requests (MS-TDS 2.2.7.x, packet type 0x0E).
const (
	TMBegin    TMKind = 5 // TM_BEGIN_XACT
	TMCommit   TMKind = 7 // TM_COMMIT_XACT
	TMRollback TMKind = 8 // TM_ROLLBACK_XACT
	TMSave     TMKind = 9 // TM_SAVE_XACT
)

// TMRequest is a transaction manager request: what a driver sends for
// BeginTx, Commit and Rollback instead of T-SQL.
type TMRequest struct {
	Kind      TMKind
	Name      string // transaction or savepoint name; may be empty
	Isolation byte   // TM_BEGIN_XACT: 0 unchanged, 1 read uncommitted ... 5 snapshot
	// BeginNew: a commit or rollback that starts a new transaction at once
	// (fBeginXact), with NewName and NewIsolation.
	BeginNew     bool
	NewName      string
	NewIsolation byte
}

// Transactor may be implemented by a Session to answer transaction manager
// requests; without it they are refused with an error.
type Transactor interface {
	Transact(ctx context.Context, req TMRequest, w ResponseWriter)
}

// Resetter may be implemented by a Session: ResetSession is called when the
// client asks for a connection reset (a pooled connection being reused), so
// session state returns to its login values: database, SET options, an
// open transaction rolled back unless keepTransaction
// (RESETCONNECTIONSKIPTRAN).
type Resetter interface {
	ResetSession(keepTransaction bool)
}

// Handler admits logins.
type Handler interface {
	// Login returns a session, or a message (e.g. 18456) to refuse the login.
	Login(ctx context.Context, req LoginRequest) (Session, *Message)
}
