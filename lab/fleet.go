package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/milink/milink/lab/engine"
)

// FleetConfig describes a fleet: many SQL Servers like sql01 in one
// process, for benchmarks of plans over hundreds of instances. A fleet has
// no managed instance, no lab.json and no control API, so its servers
// cannot be restarted by a restart_command.
type FleetConfig struct {
	Dir     string // server i lives in Dir/NAME (created)
	Count   int    // how many servers
	Profile string // engine.Profiles; "" is engine.DefaultProfile (Linux)
	// Base is the first loopback address tried (127.x.y.z); the servers
	// take the following free ones, skipping those whose port is taken
	// and the .0 and .255 of each /24. "" picks a random 127.X.0.1 with
	// X in 10..249, as the tests' random labs do.
	Base         string
	Port         int           // every server's TDS port; 0 is DefaultPort
	RestartDelay time.Duration // 0 is DefaultRestartDelay
	Faults       Faults        // armed on every server (e.g. Latency)
	// Databases are user databases every server has besides the sql01
	// seed's (sales, inventory, payroll): SIMPLE recovery, never backed up.
	Databases []string
	Logf      func(format string, args ...any)
}

// Fleet is a started fleet.
type Fleet struct {
	servers []*Instance
	infos   []ServerInfo
}

// FleetServerName is the name of a fleet's i-th server (from 0): sql0001...
func FleetServerName(i int) string { return fmt.Sprintf("sql%04d", i+1) }

// StartFleet starts cfg.Count servers, each on its own loopback address.
//
// Starting must stay cheap for a thousand servers, so the servers share
// what is costly to make: the sql01 seed's catalogue (its TDE certificate
// has an RSA key, which takes tens of milliseconds to generate) is made
// once and copied into each server's data directory, and the copies and
// mssql.conf files are written without fsync, and the servers never save
// their catalogues (engine.Options.Scratch): a fleet is scratch data in a
// temporary directory. The servers are opened on all CPUs at once. Each
// then holds one listening socket and one goroutine until a client
// connects.
func StartFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.Count < 1 {
		return nil, fmt.Errorf("fleet: count %d must be at least 1", cfg.Count)
	}
	if cfg.Dir == "" {
		return nil, errors.New("fleet: a directory is required")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Profile == "" {
		cfg.Profile = engine.DefaultProfile
	}
	profile, ok := engine.LookupProfile(cfg.Profile)
	if !ok || profile.Kind == KindManagedInstance {
		return nil, fmt.Errorf("fleet: profile %q is not a SQL Server profile", cfg.Profile)
	}
	if cfg.Base == "" {
		cfg.Base = fmt.Sprintf("127.%d.0.1", 10+rand.IntN(240))
	}
	if err := ValidateConfig(Config{Address: cfg.Base, Port: cfg.Port, RestartDelay: cfg.RestartDelay}); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	catalog, err := fleetCatalog(filepath.Join(dir, ".template"), profile, cfg.Databases)
	if err != nil {
		return nil, err
	}
	addrs := &addressPool{next: cfg.Base}
	password := newPassword()
	f := &Fleet{servers: make([]*Instance, cfg.Count), infos: make([]ServerInfo, cfg.Count)}
	work := make(chan int)
	errs := make([]error, cfg.Count)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ic := InstanceConfig{
					Name: FleetServerName(i), Kind: KindSQLServer, Profile: profile, Port: cfg.Port,
					Dir: filepath.Join(dir, FleetServerName(i)), Login: Login, Password: password,
					RestartDelay: cfg.RestartDelay, Faults: cfg.Faults, Logf: cfg.Logf, Scratch: true,
				}
				f.servers[i], errs[i] = startFleetServer(ic, catalog, addrs)
				if errs[i] == nil {
					in := f.servers[i]
					f.infos[i] = ServerInfo{
						Name: in.Name(), Kind: KindSQLServer, Address: in.Address(), Port: in.Port(),
						User: Login, Password: password, MSSQLConf: in.MSSQLConf(), RegistryFile: in.RegistryFile(),
						BackupDirectory: in.BackupDirectory(), Profile: profile.Name,
					}
				}
			}
		}()
	}
	for i := range cfg.Count {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return f, nil
}

// fleetCatalog seeds one catalogue like sql01's (plus databases) in dir
// and returns its catalog.json, which every server of the fleet copies.
func fleetCatalog(dir string, profile engine.Profile, databases []string) ([]byte, error) {
	data := filepath.Join(dir, "data")
	eng, err := engine.Open(engine.Options{Name: SQLServerName, Profile: profile, DataDir: data, Seed: "sql01", Databases: databases})
	if err != nil {
		return nil, fmt.Errorf("fleet: seed the catalogue: %w", err)
	}
	_ = eng // never started: Open saved the new catalogue
	b, err := os.ReadFile(filepath.Join(data, "catalog.json"))
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return b, nil
}

// startFleetServer prepares the server's directory with the shared
// catalogue and an empty mssql.conf (plain writes: OpenInstance leaves
// existing files alone), then starts it on the next free address.
func startFleetServer(ic InstanceConfig, catalog []byte, addrs *addressPool) (*Instance, error) {
	if err := os.MkdirAll(ic.dataDir(), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ic.dataDir(), "catalog.json"), catalog, 0o600); err != nil {
		return nil, err
	}
	if ic.startupSource() == "mssql.conf" {
		if err := os.WriteFile(ic.mssqlConfPath(), []byte(mssqlConfHeader), 0o644); err != nil {
			return nil, err
		}
	}
	for range 1000 {
		addr, err := addrs.take()
		if err != nil {
			return nil, err
		}
		ic.Address = addr
		in, err := OpenInstance(ic)
		if err != nil {
			return nil, err
		}
		err = in.Start()
		if err == nil {
			return in, nil
		}
		in.Close()
		if !isAddrInUse(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("server %s: no free loopback address after 1000 tries", ic.Name)
}

// isAddrInUse reports a bind failure on a taken address (WSAEADDRINUSE
// has its own text on Windows).
func isAddrInUse(err error) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "Only one usage of each socket address")
}

// addressPool hands out consecutive loopback addresses.
type addressPool struct {
	mu   sync.Mutex
	next string
}

func (p *addressPool) take() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		addr := p.next
		ip := net.ParseIP(addr).To4()
		if ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("out of loopback addresses at %s", addr)
		}
		next, err := nextAddress(addr)
		if err != nil {
			return "", err
		}
		p.next = next
		if ip[3] != 0 && ip[3] != 255 {
			return addr, nil
		}
	}
}

// Servers are the fleet's servers, in order.
func (f *Fleet) Servers() []*Instance { return f.servers }

// Infos describe the servers as lab.json would, without a restart command.
func (f *Fleet) Infos() []ServerInfo { return f.infos }

// SetFaults replaces the faults of every server.
func (f *Fleet) SetFaults(v Faults) {
	for _, s := range f.servers {
		s.SetFaults(v)
	}
}

// Counters sums the servers' counters.
func (f *Fleet) Counters() engine.Counters {
	var sum engine.Counters
	for _, s := range f.servers {
		c := s.Engine().Counters()
		sum.Logins += c.Logins
		sum.RoundTrips += c.RoundTrips
		sum.Statements += c.Statements
		sum.Changes += c.Changes
	}
	return sum
}

// Close stops every server, on all CPUs at once (each saves its catalogue).
// Safe to call twice.
func (f *Fleet) Close() {
	work := make(chan *Instance)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) * 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				s.Close()
			}
		}()
	}
	for _, s := range f.servers {
		if s != nil {
			work <- s
		}
	}
	close(work)
	wg.Wait()
}
