// Package engine is a simulated SQL Server instance for the lab: a T-SQL
// tokenizer and parser, a small SELECT engine over an in-memory catalogue
// (server properties, trace flags, keys, databases, backups, certificates,
// endpoints, SQL Agent jobs) and the statements the link preparation
// procedure and milink send, answered with SQL Server's error numbers.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milink/milink/lab/tds"
)

// Startup is what the instance read from mssql.conf (Linux) or the registry
// (Windows) when it started.
type Startup struct {
	Hadr       bool
	TraceFlags []int
	Registry   []RegistryValue // Windows profiles: the rows sys.dm_server_registry shows
}

// RegistryReader is implemented by a Host whose registry can be read at
// any time. sys.dm_server_registry reads the registry when it is queried,
// so a value set in Configuration Manager shows there at once, while the
// server keeps running with what it read at startup; without a
// RegistryReader the view shows Startup.Registry.
type RegistryReader interface {
	Registry() ([]RegistryValue, error)
}

// RegistryValue is one row of sys.dm_server_registry.
type RegistryValue struct{ Key, Name, Data string }

// Host is what the instance needs from the machine it runs on.
type Host interface {
	// Listen opens the TCP listener of a DATABASE_MIRRORING endpoint on the
	// instance's own address. An error means the port is taken (9692).
	Listen(port int) (io.Closer, error)
	// Dial is the managed instance's `tnc ADDRESS -port PORT`.
	Dial(ctx context.Context, address string, port int) bool
}

// Options configures Open.
type Options struct {
	Name string // the machine's name (SERVERPROPERTY MachineName)
	// InstanceName is a named instance's name (SALES); "" for the
	// default instance (MSSQLSERVER).
	InstanceName string
	Profile      Profile
	DataDir      string // catalog.json lives here; created if missing
	FSRoot       string // server paths map below it
	Host         Host
	Login        string // the one SQL login accepted
	Password     string
	// WindowsLogins are the Windows logins (DOMAIN\user, sysadmins) a
	// login authenticated by the server's SSPI acceptor may be.
	WindowsLogins []string
	// EntraLogins are the Microsoft Entra logins a federated login (a
	// token the server's FedAuth validated) may be.
	EntraLogins []string
	Seed        string // "sql01", "managed-instance" or ""; used only for a new catalogue
	// Databases are user databases a new catalogue has besides the seed's
	// (SIMPLE recovery, ONLINE, never backed up), for benchmarks of many
	// databases. A name the seed has already is skipped.
	Databases []string
	// Scratch keeps the catalogue in memory once opened: changes and Stop
	// do not write catalog.json (the throwaway servers of a fleet, where
	// a thousand fsyncs would cost more than the benchmark measures).
	Scratch bool
}

// Counters count work since the lab was created (persisted).
type Counters struct{ Logins, RoundTrips, Statements, Changes int64 }

// LoggedStatement is one executed statement.
type LoggedStatement struct {
	Text    string
	Changed bool
}

// Instance is one simulated SQL Server.
type Instance struct {
	opts Options

	mu        sync.Mutex // guards everything below
	cat       *catalog
	startup   Startup
	running   bool
	global    map[int]bool         // running global trace flags
	listeners map[string]io.Closer // endpoint name (lower) → listener
	hook      func(n int64, statement string) (drop bool, fail *tds.Message)
	log       []LoggedStatement
	nextSPID  int
	startedAt time.Time
	// nextTxDesc numbers transaction descriptors (ENVCHANGE 8) across
	// sessions, as SQL Server's are unique per instance.
	nextTxDesc uint64

	panics  atomic.Int64 // recovered panics (the fuzz target asserts none)
	agentWG sync.WaitGroup
}

// Open loads DataDir/catalog.json or creates the catalogue from Seed. The
// instance is not running until Start.
func Open(opts Options) (*Instance, error) {
	if opts.Profile.Name == "" {
		p, _ := LookupProfile(DefaultProfile)
		opts.Profile = p
	}
	if opts.Name == "" {
		opts.Name = "sqlserver"
	}
	if opts.DataDir == "" {
		return nil, errors.New("engine: Options.DataDir is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: create data dir: %w", err)
	}
	cat, err := loadCatalog(opts.DataDir)
	if err != nil {
		return nil, err
	}
	i := &Instance{opts: opts, listeners: map[string]io.Closer{}, global: map[int]bool{}, nextSPID: 51}
	if cat == nil {
		cat, err = newCatalog(opts.Seed, time.Now().UTC())
		if err != nil {
			return nil, fmt.Errorf("engine: seed: %w", err)
		}
		cat.addDatabases(opts.Databases, cat.Created)
		i.cat = cat
		if err := i.saveLocked(); err != nil {
			return nil, err
		}
	}
	i.cat = cat
	return i, nil
}

// Start (re)starts the instance with these startup settings: HADR, global
// trace flags; it reopens the listeners of STARTED endpoints.
func (i *Instance) Start(s Startup) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.running {
		i.stopLocked()
	}
	i.startup = Startup{Hadr: s.Hadr, TraceFlags: append([]int(nil), s.TraceFlags...), Registry: append([]RegistryValue(nil), s.Registry...)}
	i.global = map[int]bool{}
	for _, f := range s.TraceFlags {
		i.global[f] = true
	}
	i.running = true
	i.startedAt = time.Now()
	var errs []error
	for _, e := range i.cat.Endpoints {
		if e.State != "STARTED" {
			continue
		}
		if err := i.listenLocked(e); err != nil {
			// SQL Server starts anyway and logs 9692; the endpoint stays
			// STARTED but does not listen.
			errs = append(errs, fmt.Errorf("endpoint %s: %w", e.Name, err))
		}
	}
	_ = errs
	return nil
}

func (i *Instance) listenLocked(e *endpoint) error {
	if i.opts.Host == nil {
		return nil
	}
	if _, ok := i.listeners[strings.ToLower(e.Name)]; ok {
		return nil
	}
	l, err := i.opts.Host.Listen(e.Port)
	if err != nil {
		return err
	}
	i.listeners[strings.ToLower(e.Name)] = l
	return nil
}

func (i *Instance) closeListenerLocked(name string) {
	if l, ok := i.listeners[strings.ToLower(name)]; ok {
		_ = l.Close()
		delete(i.listeners, strings.ToLower(name))
	}
}

// Stop closes endpoint listeners, forgets running state (TRACEON -1 flags
// are lost, like SQL Server) and saves the catalogue.
func (i *Instance) Stop() {
	i.mu.Lock()
	i.stopLocked()
	i.mu.Unlock()
	i.agentWG.Wait()
}

func (i *Instance) stopLocked() {
	for n, l := range i.listeners {
		_ = l.Close()
		delete(i.listeners, n)
	}
	i.global = map[int]bool{}
	i.running = false
	_ = i.saveLocked()
}

// Counters returns the work counters.
func (i *Instance) Counters() Counters {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cat.Counters
}

// SetStatementHook installs the fault hook called before each statement.
func (i *Instance) SetStatementHook(h func(n int64, statement string) (drop bool, fail *tds.Message)) {
	i.mu.Lock()
	i.hook = h
	i.mu.Unlock()
}

// StatementLog returns every statement executed, in order.
func (i *Instance) StatementLog() []LoggedStatement {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]LoggedStatement(nil), i.log...)
}

// Handler returns the TDS handler admitting logins to this instance.
func (i *Instance) Handler() tds.Handler { return handler{i} }

type handler struct{ i *Instance }

func (h handler) Login(ctx context.Context, req tds.LoginRequest) (tds.Session, *tds.Message) {
	i := h.i
	fail := &tds.Message{Number: 18456, State: 1, Class: 14, Text: fmt.Sprintf("Login failed for user '%s'.", req.User), Server: i.opts.Name, Line: 1}
	i.mu.Lock()
	defer i.mu.Unlock()
	var principal string
	if req.Federated {
		// Microsoft Entra proved who the client is (the token): it still
		// needs a login.
		if !slices.ContainsFunc(i.opts.EntraLogins, func(l string) bool { return strings.EqualFold(l, req.User) }) {
			return nil, fail
		}
		principal = req.User
	} else if req.Integrated {
		// Windows proved who the client is; SQL Server still needs a
		// login for that account.
		if !slices.ContainsFunc(i.opts.WindowsLogins, func(l string) bool { return strings.EqualFold(l, req.User) }) {
			return nil, fail
		}
		principal = req.User
	} else {
		principal = i.cat.loginFor(req.User, req.Password)
		if principal == "" && (!strings.EqualFold(req.User, i.opts.Login) || req.Password != i.opts.Password) {
			return nil, fail
		}
	}
	if !i.running {
		return nil, fail
	}
	db := "master"
	if req.Database != "" {
		d := i.cat.db(req.Database)
		if d == nil {
			return nil, &tds.Message{Number: 4060, State: 1, Class: 11, Server: i.opts.Name, Line: 1,
				Text: fmt.Sprintf("Cannot open database \"%s\" requested by the login. The login failed.", req.Database)}
		}
		db = d.Name
	}
	i.cat.Counters.Logins++
	i.nextSPID++
	sess := &Session{inst: i, db: db, loginDB: db, spid: i.nextSPID, vars: map[string]*variable{}, flags: map[int]bool{}, principal: principal}
	return sess, nil
}

// NewSession opens a session without a login (tests and in-process callers).
func (i *Instance) NewSession() *Session {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.nextSPID++
	return &Session{inst: i, db: "master", loginDB: "master", spid: i.nextSPID, vars: map[string]*variable{}, flags: map[int]bool{}}
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
