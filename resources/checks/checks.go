// Package checks proves the network path of the link in both directions,
// as the preparation procedure's "Test bidirectional network connectivity"
// does by hand, and says which hop failed:
//
//   - SQL Server → managed instance: a TCP connection to the managed
//     instance's FQDN on 5022 (and a port of the redirect range, if asked),
//     opened on the SQL Server's host through its transport;
//   - managed instance → SQL Server: a SQL Agent job on the managed
//     instance whose PowerShell step runs tnc against SQL Server's
//     DATABASE_MIRRORING endpoint, a temporary one when none is started.
//
// Everything it creates is named Prefix + a run id and removed before it
// returns, also when it fails or is interrupted; what a killed run left
// behind, the next one removes.
package checks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/milink/milink/resources/host"
)

// Prefix starts the name of every object a check creates: the test
// certificate and endpoint on SQL Server and the job on the managed
// instance. Nothing else may carry it; leftovers are found by it.
const Prefix = "milink_check_"

// SQL runs T-SQL on one server: the SQL Server or the managed instance.
type SQL interface {
	// Exec runs a batch that changes the server. A SQL Server error keeps
	// its number (SQLErrorNumber() int32 somewhere in the chain).
	Exec(ctx context.Context, batch string) error
	// Query runs a batch that only reads and returns the rows of its
	// first result set.
	Query(ctx context.Context, batch string) ([][]any, error)
}

// Direction is one way through the network.
type Direction string

// The two directions of the procedure.
const (
	ToManagedInstance Direction = "sql_server_to_managed_instance"
	ToSQLServer       Direction = "managed_instance_to_sql_server"
)

// Status is how a direction's check ended.
type Status string

// A check passes, fails (the network said no), or could not run (milink
// could not ask: no endpoint could be had, the agent never ran the job, a
// connection broke). Only Failed says something about the network.
const (
	Passed Status = "passed"
	Failed Status = "failed"
	NotRun Status = "not_run"
)

// Result is one direction's outcome.
type Result struct {
	Direction Direction `json:"direction"`
	Status    Status    `json:"status"`
	// Hop is the leg the result is about, the one that failed if any:
	// "host of sql_server.sql01 → mi01.example.net:5022".
	Hop string `json:"hop"`
	// Detail is what was seen, or why the check could not run.
	Detail string `json:"detail"`
	// ErrorNumber is SQL Server's error number when one decided the
	// result (9692: the endpoint's port is taken).
	ErrorNumber int `json:"error_number,omitempty"`
	// Hints are the procedure's troubleshooting items for this direction,
	// narrowed by what milink knows (Knowledge), most specific first.
	Hints []string `json:"hints,omitempty"`
	// Notes are remarks on a result of any status: the existing endpoint
	// that was used, a test object whose removal failed.
	Notes []string `json:"notes,omitempty"`
}

// Report is the outcome of a check in both directions.
type Report struct {
	RunID   string   `json:"run_id"`
	Results []Result `json:"results"`
	// Removed are the leftovers of interrupted runs this run removed.
	Removed []string `json:"removed,omitempty"`
}

// Passed reports whether every direction passed.
func (r Report) Passed() bool {
	for _, x := range r.Results {
		if x.Status != Passed {
			return false
		}
	}
	return len(r.Results) > 0
}

// Check is one connectivity check between a SQL Server and a managed
// instance.
type Check struct {
	// Name is the check's address, for progress lines ("" leaves it out).
	Name string
	// SQLServer reaches the SQL Server; SQLServerName is its address
	// (sql_server.sql01). Host is its host's transport (nil: the host
	// cannot be reached, and that direction does not run).
	SQLServer     SQL
	SQLServerName string
	Host          host.Transport
	// ManagedInstance reaches the managed instance (nil: it cannot be
	// reached); FQDN is what SQL Server's host dials.
	ManagedInstance     SQL
	ManagedInstanceName string
	FQDN                string
	// ManagedInstanceErr is why ManagedInstance is nil, if known.
	ManagedInstanceErr error
	// Address is what the managed instance dials to reach SQL Server: an
	// address or a DNS name that resolves there.
	Address string
	// Port is the link's port on both sides (5022).
	Port int
	// RedirectPort, when not zero, is a port of the redirect range
	// (11000-11999) tested from SQL Server's host as well.
	RedirectPort int
	// Known narrows the troubleshooting hints.
	Known Knowledge

	// ProbeTimeout bounds a TCP connect on the host (ProbeTimeout when 0).
	ProbeTimeout time.Duration
	// JobTimeout bounds the wait for the agent job (90 s when 0, as the
	// procedure's wrapper); PollInterval is between two looks at it.
	JobTimeout, PollInterval time.Duration
	// CleanupTimeout bounds the removal of the test objects, which runs on
	// a context of its own (30 s when 0).
	CleanupTimeout time.Duration
	// Progress receives what the check is doing; nil drops it.
	Progress func(string)
	// RunID names this run's objects; "" picks a random one.
	RunID string
	// Now is the clock (time.Now when nil): the test certificate expires
	// two days after it (EXPIRY_DATE is a date, read in the server's time).
	Now func() time.Time
}

// Default bounds of a check.
const (
	DefaultJobTimeout     = 90 * time.Second
	DefaultPollInterval   = 500 * time.Millisecond
	DefaultCleanupTimeout = 30 * time.Second
)

// NewRunID is a random run id: 12 hex digits.
func NewRunID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// ObjectName is the name of a run's test objects.
func ObjectName(runID string) string { return Prefix + runID }

// Run checks both directions, SQL Server → managed instance first, then
// the other way. Whatever happens, it returns a result for each; the
// objects it created are gone when it returns, unless their removal failed,
// which the result's notes say (and the next run removes them).
func (c *Check) Run(ctx context.Context) Report {
	c.defaults()
	rep := Report{RunID: c.RunID}
	rep.Removed = c.sweep(ctx)
	rep.Results = append(rep.Results, c.toManagedInstance(ctx)...)
	rep.Results = append(rep.Results, c.toSQLServer(ctx))
	return rep
}

func (c *Check) defaults() {
	if c.RunID == "" {
		c.RunID = NewRunID()
	}
	if c.Port == 0 {
		c.Port = 5022
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = ProbeTimeout
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = DefaultJobTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.CleanupTimeout == 0 {
		c.CleanupTimeout = DefaultCleanupTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Address == "" {
		c.Address = "localhost"
	}
}

// progress reports msg, after the check's Name when it has one (a view
// that names the check itself runs it without).
func (c *Check) progress(msg string) {
	if c.Progress == nil {
		return
	}
	if c.Name != "" {
		msg = c.Name + ": " + msg
	}
	c.Progress(msg)
}

// cleanupContext is a context for removing test objects: not cancelled
// with ctx (an interrupt is exactly when they must go), but bounded.
func (c *Check) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.CleanupTimeout)
}

// ErrorNumber is SQL Server's error number in err's chain, or 0.
func ErrorNumber(err error) int {
	var n interface{ SQLErrorNumber() int32 }
	if errors.As(err, &n) {
		return int(n.SQLErrorNumber())
	}
	return 0
}
