package lab

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/lab/tds"
)

// Server kinds, as in lab.json.
const (
	KindSQLServer       = "sqlserver"
	KindManagedInstance = "managed_instance"
)

// Server states, as in status.
const (
	StateStopped    = "stopped"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateHung       = "hung"   // a restart with the RestartHangs fault
	StateFailed     = "failed" // the last start failed (e.g. a bad mssql.conf)
)

// DefaultRestartDelay is how long a restarting server refuses logins.
const DefaultRestartDelay = time.Second

// ErrRestartHangs is returned by Restart when the RestartHangs fault kept the
// server down.
var ErrRestartHangs = errors.New("the restart hangs (fault restart_hangs): the server stays down")

// InstanceConfig describes one simulated server.
type InstanceConfig struct {
	Name         string
	Kind         string // KindSQLServer or KindManagedInstance
	Profile      engine.Profile
	Address      string // its own loopback address, e.g. 127.0.0.2
	Port         int    // TDS port, e.g. 1433
	Dir          string // its directory in the lab: mssql.conf or registry.json, data/, fs/
	Login        string
	Password     string
	Seed         string
	RestartDelay time.Duration // 0 means DefaultRestartDelay
	Faults       Faults
	Logf         func(format string, args ...any) // nil: silent
	// Scratch: the engine does not save its catalogue (see engine.Options).
	Scratch bool
	// CertFile and KeyFile are the server's TLS certificate and key (PEM),
	// read at every start as SQL Server reads its certificate; "" means
	// none (the server cannot encrypt). ForceEncryption needs them.
	CertFile, KeyFile string
	ForceEncryption   bool
	// InstanceName makes a Windows profile a named instance (SALES): its
	// registry key, SERVERPROPERTY('InstanceName') and a SQL Server
	// Browser on UDP port 1434 of its address that names its TCP port.
	InstanceName string
	// SSPI accepts Windows authentication; nil refuses it (18452).
	// WindowsLogins are the Windows logins the server has (sysadmins).
	SSPI          tds.SSPI
	WindowsLogins []string
	// FedAuth accepts Microsoft Entra tokens; EntraLogins are the logins
	// they may prove (sysadmins). Nil refuses federated logins.
	FedAuth     tds.FedAuth
	EntraLogins []string
}

// Instance is one simulated server: an engine instance behind a TDS server
// listening on ADDRESS:PORT, started with the settings of its mssql.conf
// (Linux) or simulated registry (Windows).
type Instance struct {
	cfg InstanceConfig
	eng *engine.Instance

	// life ends with Close; a restart waiting out its delay stops then.
	life   context.Context
	cancel context.CancelFunc

	restartMu sync.Mutex // one start/stop/restart at a time

	mu       sync.Mutex // guards the fields below
	state    string
	lastErr  error
	srv      *tds.Server
	ln       net.Listener
	linkLn   net.Listener // a managed instance's link port (linkport.go)
	served   chan struct{}
	startup  startupSettings
	restarts int64
	faults   faultState
}

// Paths of an instance's files below its directory.
func (c InstanceConfig) mssqlConfPath() string { return filepath.Join(c.Dir, "mssql.conf") }
func (c InstanceConfig) registryPath() string  { return filepath.Join(c.Dir, "registry.json") }
func (c InstanceConfig) dataDir() string       { return filepath.Join(c.Dir, "data") }
func (c InstanceConfig) fsRoot() string        { return filepath.Join(c.Dir, "fs") }
func (c InstanceConfig) statePath() string     { return filepath.Join(c.Dir, "lab-state.json") }

// startupSource says where the instance reads its startup settings from:
// "mssql.conf", "registry" or "" (a managed instance has none a user edits).
func (c InstanceConfig) startupSource() string {
	switch {
	case c.Kind == KindManagedInstance:
		return ""
	case c.Profile.OS == "windows":
		return "registry"
	default:
		return "mssql.conf"
	}
}

// MSSQLConf is the absolute path of the instance's mssql.conf, or "" if it
// does not read one (Windows profiles, managed instances).
func (in *Instance) MSSQLConf() string {
	if in.cfg.startupSource() != "mssql.conf" {
		return ""
	}
	return in.cfg.mssqlConfPath()
}

// RegistryFile is the path of the simulated registry (Windows profiles), or "".
func (in *Instance) RegistryFile() string {
	if in.cfg.startupSource() != "registry" {
		return ""
	}
	return in.cfg.registryPath()
}

// BackupDirectory is the server-side default backup directory.
func (in *Instance) BackupDirectory() string {
	switch {
	case in.cfg.Kind == KindManagedInstance:
		return "" // a managed instance backs up to URL only
	case in.cfg.Profile.OS == "windows":
		return windowsInstanceDir(in.cfg.Profile.ProductVersion, in.cfg.InstanceName) + `\Backup`
	default:
		return "/var/opt/mssql/backup"
	}
}

// serverDirs are the directories below the fs root that a fresh
// installation has, in host form (forward slashes, drive letter first).
func (c InstanceConfig) serverDirs() []string {
	if c.Kind == KindManagedInstance {
		return nil
	}
	if c.Profile.OS == "windows" {
		base := filepath.Join("C", "Program Files", "Microsoft SQL Server", instanceID(c.Profile.ProductVersion, c.InstanceName), "MSSQL")
		return []string{filepath.Join(base, "DATA"), filepath.Join(base, "Log"), filepath.Join(base, "Backup")}
	}
	return []string{filepath.Join("var", "opt", "mssql", "data"), filepath.Join("var", "opt", "mssql", "backup")}
}

// OpenInstance prepares the instance's directory (mssql.conf or registry,
// data, fs root) and opens its engine. It does not start it.
func OpenInstance(cfg InstanceConfig) (*Instance, error) {
	if cfg.RestartDelay <= 0 {
		cfg.RestartDelay = DefaultRestartDelay
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	for _, d := range cfg.serverDirs() {
		if err := os.MkdirAll(filepath.Join(cfg.fsRoot(), d), 0o755); err != nil {
			return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
		}
	}
	switch cfg.startupSource() {
	case "mssql.conf":
		if _, err := os.Stat(cfg.mssqlConfPath()); errors.Is(err, fs.ErrNotExist) {
			if err := writeFileAtomic(cfg.mssqlConfPath(), []byte(mssqlConfHeader), 0o644); err != nil {
				return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
			}
		}
	case "registry":
		if err := writeRegistryIfMissing(cfg.registryPath(), cfg.Profile.ProductVersion, cfg.InstanceName); err != nil {
			return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
		}
	}
	in := &Instance{cfg: cfg, state: StateStopped}
	in.life, in.cancel = context.WithCancel(context.Background())
	in.faults.set(cfg.Faults)
	if err := in.loadState(); err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	h := host{address: cfg.Address}
	if cfg.startupSource() == "registry" {
		h.registry = cfg.registryPath()
	}
	eng, err := engine.Open(engine.Options{
		Name:     cfg.Name,
		Profile:  cfg.Profile,
		DataDir:  cfg.dataDir(),
		FSRoot:   cfg.fsRoot(),
		Host:     h,
		Login:    cfg.Login,
		Password: cfg.Password,
		Seed:     cfg.Seed,
		Scratch:  cfg.Scratch,

		InstanceName:  cfg.InstanceName,
		WindowsLogins: cfg.WindowsLogins,
		EntraLogins:   cfg.EntraLogins,
	})
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", cfg.Name, err)
	}
	eng.SetStatementHook(in.statementHook)
	in.eng = eng
	return in, nil
}

// Name, Kind, Address, Port and Profile describe the server.
func (in *Instance) Name() string            { return in.cfg.Name }
func (in *Instance) Kind() string            { return in.cfg.Kind }
func (in *Instance) Address() string         { return in.cfg.Address }
func (in *Instance) Port() int               { return in.cfg.Port }
func (in *Instance) Profile() engine.Profile { return in.cfg.Profile }

// Engine is the simulated instance behind the TDS server.
func (in *Instance) Engine() *engine.Instance { return in.eng }

// Addr is ADDRESS:PORT.
func (in *Instance) Addr() string {
	return net.JoinHostPort(in.cfg.Address, strconv.Itoa(in.cfg.Port))
}

// tdsVersion is the version the server reports at login: the profile's.
func tdsVersion(productVersion string) tds.Version {
	var v tds.Version
	parts := strings.Split(productVersion, ".")
	if len(parts) != 4 {
		return v // the tds package's default
	}
	major, err1 := strconv.ParseUint(parts[0], 10, 8)
	minor, err2 := strconv.ParseUint(parts[1], 10, 8)
	build, err3 := strconv.ParseUint(parts[2], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return v
	}
	return tds.Version{Major: uint8(major), Minor: uint8(minor), Build: uint16(build)}
}

type persistedState struct {
	Restarts int64 `json:"restarts"`
}

func (in *Instance) loadState() error {
	data, err := os.ReadFile(in.cfg.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s persistedState
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s: %w", in.cfg.statePath(), err)
	}
	in.restarts = s.Restarts
	return nil
}

func (in *Instance) saveState() error {
	in.mu.Lock()
	s := persistedState{Restarts: in.restarts}
	in.mu.Unlock()
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeFileAtomic(in.cfg.statePath(), append(data, '\n'), 0o644)
}

// readStartup reads the startup settings the way the real server would:
// mssql.conf on Linux, the registry on Windows; a managed instance always
// runs with HADR on (it is built on availability groups).
func (in *Instance) readStartup() (engine.Startup, error) {
	var s startupSettings
	var reg []engine.RegistryValue
	switch in.cfg.startupSource() {
	case "mssql.conf":
		var err error
		if s, err = readMSSQLConf(in.cfg.mssqlConfPath()); err != nil {
			return engine.Startup{}, err
		}
	case "registry":
		r, err := loadRegistry(in.cfg.registryPath())
		if err != nil {
			return engine.Startup{}, err
		}
		if s, err = startupFromRegistry(r); err != nil {
			return engine.Startup{}, err
		}
		for _, v := range r.Values {
			reg = append(reg, engine.RegistryValue{Key: v.Key, Name: v.Name, Data: v.Data})
		}
	default:
		s.Hadr = true
	}
	in.mu.Lock()
	in.startup = s
	in.mu.Unlock()
	return engine.Startup{Hadr: s.Hadr, TraceFlags: s.TraceFlags, Registry: reg}, nil
}

// Start reads the startup settings, starts the engine and listens on
// ADDRESS:PORT. A bind failure is returned as is (errors.Is EADDRINUSE).
func (in *Instance) Start() error {
	in.restartMu.Lock()
	defer in.restartMu.Unlock()
	return in.start()
}

func (in *Instance) start() error {
	err := in.startLocked()
	in.mu.Lock()
	if err != nil {
		in.state, in.lastErr = StateFailed, err
	} else {
		in.state, in.lastErr = StateRunning, nil
	}
	in.mu.Unlock()
	if err != nil {
		in.cfg.Logf("%s: start failed: %v", in.cfg.Name, err)
	}
	return err
}

func (in *Instance) startLocked() error {
	if in.life.Err() != nil {
		return fmt.Errorf("server %s is closed", in.cfg.Name)
	}
	st, err := in.readStartup()
	if err != nil {
		return fmt.Errorf("server %s: %w", in.cfg.Name, err)
	}
	// The certificate is read at every start, as SQL Server reads its own:
	// a broken one keeps the server down with the reason in its status.
	opts := tds.Options{
		ServerName:   in.cfg.Name,
		Version:      tdsVersion(in.cfg.Profile.ProductVersion),
		LoginLatency: in.latency, // the latency fault: logins too, see Faults.Latency
		SSPI:         in.cfg.SSPI,
		FedAuth:      in.cfg.FedAuth,
	}
	if in.cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(in.cfg.CertFile, in.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("server %s: TLS certificate: %w", in.cfg.Name, err)
		}
		opts.Certificate = &cert
		opts.ForceEncryption = in.cfg.ForceEncryption
		opts.Strict = offersTDS8(in.cfg.Kind, in.cfg.Profile.ProductVersion)
	}
	// Listen before the engine starts so that a taken address fails fast
	// and leaves nothing half started.
	ln, err := net.Listen("tcp", in.Addr())
	if err != nil {
		return fmt.Errorf("server %s: listen: %w", in.cfg.Name, err)
	}
	if err := in.eng.Start(st); err != nil {
		ln.Close()
		return fmt.Errorf("server %s: %w", in.cfg.Name, err)
	}
	srv := tds.NewServer(latencyHandler{inner: in.eng.Handler(), latency: in.latency}, opts)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			in.cfg.Logf("%s: serve: %v", in.cfg.Name, err)
		}
	}()
	linkLn := in.listenLinkPort()
	in.mu.Lock()
	in.srv, in.ln, in.served, in.linkLn = srv, ln, served, linkLn
	in.mu.Unlock()
	in.cfg.Logf("%s: listening on %s (HADR %v, trace flags %v)", in.cfg.Name, in.Addr(), st.Hadr, st.TraceFlags)
	return nil
}

// stop closes the listener first (new logins are refused), then drops every
// connection, then stops the engine (endpoints close, state is saved).
func (in *Instance) stop() {
	in.mu.Lock()
	srv, ln, served, linkLn := in.srv, in.ln, in.served, in.linkLn
	in.srv, in.ln, in.served, in.linkLn = nil, nil, nil, nil
	running := in.state == StateRunning
	in.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if linkLn != nil {
		linkLn.Close()
	}
	if srv != nil {
		srv.CloseConnections()
		srv.Close()
		<-served
	}
	if running {
		in.eng.Stop()
	}
}

// Restart is `systemctl restart mssql-server`: drop all connections, refuse
// logins for the restart delay, re-read mssql.conf (or the registry), start
// again. It returns when the server accepts logins again, or
// ErrRestartHangs if that fault is set.
//
// ctx bounds only the waiting: like systemd, the restart itself runs to the
// end even if the caller gives up (an interrupted apply, a killed
// `milink lab restart`, a dropped control connection). Then Restart returns
// ctx's error and the server comes back on its own; only Close stops it.
func (in *Instance) Restart(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- in.restart() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("restart %s: stopped waiting, the restart goes on: %w", in.cfg.Name, ctx.Err())
	}
}

func (in *Instance) restart() error {
	in.restartMu.Lock()
	defer in.restartMu.Unlock()
	// Close may have come first: a closed server stays closed.
	if in.life.Err() != nil {
		return fmt.Errorf("restart %s: the lab is shutting down", in.cfg.Name)
	}
	in.cfg.Logf("%s: restarting", in.cfg.Name)
	in.stop()
	in.mu.Lock()
	in.state = StateRestarting
	in.restarts++
	hangs := in.faults.restartHangs
	in.mu.Unlock()
	if err := in.saveState(); err != nil {
		in.cfg.Logf("%s: save restart count: %v", in.cfg.Name, err)
	}
	t := time.NewTimer(in.cfg.RestartDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-in.life.Done():
		in.setState(StateStopped, nil)
		return fmt.Errorf("restart %s: the lab is shutting down", in.cfg.Name)
	}
	if hangs {
		in.setState(StateHung, ErrRestartHangs)
		in.cfg.Logf("%s: restart hangs (fault)", in.cfg.Name)
		return fmt.Errorf("restart %s: %w", in.cfg.Name, ErrRestartHangs)
	}
	return in.start()
}

func (in *Instance) setState(s string, err error) {
	in.mu.Lock()
	in.state, in.lastErr = s, err
	in.mu.Unlock()
}

// Close stops the server for good (the engine saves its catalogue).
func (in *Instance) Close() {
	in.cancel()
	in.restartMu.Lock()
	defer in.restartMu.Unlock()
	in.stop()
	in.setState(StateStopped, nil)
}

// State is the server's state and, when it failed, why.
func (in *Instance) State() (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state, in.lastErr
}

// SetFaults replaces the server's faults. DropAt and ErrorAt count from now.
func (in *Instance) SetFaults(f Faults) {
	in.mu.Lock()
	in.faults.set(f)
	in.mu.Unlock()
}

// Faults are the server's armed faults (DropAt/ErrorAt: statements to go).
func (in *Instance) Faults() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults.get()
}

func (in *Instance) latency() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults.latency
}

func (in *Instance) statementHook(_ int64, _ string) (bool, *tds.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults.statement()
}

// ActiveConnections is the number of open TDS connections.
func (in *Instance) ActiveConnections() int {
	in.mu.Lock()
	srv := in.srv
	in.mu.Unlock()
	if srv == nil {
		return 0
	}
	return srv.ActiveConnections()
}

// ServerStatus is one server's line of `milink lab status -json`.
type ServerStatus struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Profile    string `json:"profile"`
	Address    string `json:"address"`
	Port       int    `json:"port"`
	State      string `json:"state"`
	Error      string `json:"error,omitempty"`
	Restarts   int64  `json:"restarts"`
	Logins     int64  `json:"logins"`
	RoundTrips int64  `json:"round_trips"`
	Statements int64  `json:"statements"`
	Changes    int64  `json:"changes"`
	Hadr       bool   `json:"hadr"`        // as read at the last start
	TraceFlags []int  `json:"trace_flags"` // as read at the last start
	Faults     Faults `json:"faults"`
}

// Status reports the counters (since the lab was created) and the state.
func (in *Instance) Status() ServerStatus {
	c := in.eng.Counters()
	in.mu.Lock()
	defer in.mu.Unlock()
	s := ServerStatus{
		Name: in.cfg.Name, Kind: in.cfg.Kind, Profile: in.cfg.Profile.Name,
		Address: in.cfg.Address, Port: in.cfg.Port, State: in.state,
		Restarts: in.restarts, Logins: c.Logins, RoundTrips: c.RoundTrips,
		Statements: c.Statements, Changes: c.Changes,
		Hadr: in.startup.Hadr, TraceFlags: append([]int{}, in.startup.TraceFlags...),
		Faults: in.faults.get(),
	}
	if in.lastErr != nil {
		s.Error = in.lastErr.Error()
	}
	return s
}

// StatementLog is every statement the server ran, in order.
func (in *Instance) StatementLog() []engine.LoggedStatement {
	return in.eng.StatementLog()
}
