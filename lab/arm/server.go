package arm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Names of the lab's Azure resources.
const (
	ResourceGroup    = "milink-lab"
	Location         = "westeurope"
	VNetName         = "vnet-milink-lab"
	MISubnetName     = "ManagedInstance"
	MINSGName        = "mi01-nsg"
	SQLServerNSGName = "sql01-nsg"
	// Audience is the token audience of Resource Manager, as in Azure's
	// public cloud; clients ask for Audience + "/.default".
	Audience = "https://management.core.windows.net/"
)

// Config describes the lab's Azure.
type Config struct {
	// Dir holds the CA, the server certificate, the token-signing key and
	// state.json; it is made if missing.
	Dir string
	// Host is the loopback address the server listens on (127.0.0.1).
	Host string
	// ManagedInstance is mi01's name and ManagedInstanceAddress its
	// loopback address: the managed instance's fullyQualifiedDomainName,
	// and the one address of its subnet.
	ManagedInstance        string
	ManagedInstanceAddress string
	// ImportCertificate adds an uploaded TDE certificate with its private
	// key to the managed instance's master (tdeCertificates). Nil refuses
	// uploads with an internal error.
	ImportCertificate func(der []byte, key *rsa.PrivateKey) error
	// Link is the managed instance link behind serverTrustCertificates,
	// endpointCertificates and distributedAvailabilityGroups. Nil answers
	// them with 501 NotImplemented.
	Link LinkBackend
	Logf func(format string, args ...any)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server is the lab's Azure: Entra and Resource Manager on one HTTPS port.
type Server struct {
	cfg  Config
	pki  *pki
	ln   net.Listener
	srv  *http.Server
	base string // "https://127.0.0.1:PORT"

	mu     sync.Mutex
	st     *state
	faults faultState
	ops    map[string]*operation
	log    []LogEntry
}

// Open prepares the lab's Azure in cfg.Dir and takes its port (the one it
// had last time if it is free) without serving yet.
func Open(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ManagedInstance == "" {
		cfg.ManagedInstance = "mi01"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if net.ParseIP(cfg.ManagedInstanceAddress) == nil {
		return nil, fmt.Errorf("lab Azure: managed instance address %q is not an IP address", cfg.ManagedInstanceAddress)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab Azure: %w", err)
	}
	host := net.ParseIP(cfg.Host)
	if host == nil || !host.IsLoopback() {
		return nil, fmt.Errorf("lab Azure: %q is not a loopback address", cfg.Host)
	}
	p, err := loadPKI(cfg.Dir, []net.IP{host})
	if err != nil {
		return nil, fmt.Errorf("lab Azure certificates: %w", err)
	}
	st, err := loadState(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab Azure: %w", err)
	}
	var ln net.Listener
	if st.Port != 0 {
		// A failure here is not an error: another port will do.
		ln, _ = net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(st.Port)))
	}
	if ln == nil {
		// The port of last time is taken (or there was none): take another
		// one; lab.json says which.
		if ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, "0")); err != nil {
			return nil, fmt.Errorf("lab Azure: %w", err)
		}
	}
	st.Port = ln.Addr().(*net.TCPAddr).Port
	if err := st.save(cfg.Dir); err != nil {
		ln.Close()
		return nil, fmt.Errorf("lab Azure: %w", err)
	}
	s := &Server{cfg: cfg, pki: p, ln: ln, st: st, ops: map[string]*operation{},
		base: "https://" + net.JoinHostPort(cfg.Host, strconv.Itoa(st.Port))}
	s.faults.retryAfter = 1
	return s, nil
}

// Start serves HTTPS in the background.
func (s *Server) Start() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.route)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.pki.tlsCert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          nil,
	}
	go s.srv.Serve(tls.NewListener(s.ln, s.srv.TLSConfig))
}

// Close stops the server and saves its state.
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
	} else {
		err = s.ln.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if serr := s.st.save(s.cfg.Dir); serr != nil && err == nil {
		err = serr
	}
	return err
}

// URL is the server's base URL with a trailing slash.
func (s *Server) URL() string { return s.base + "/" }

// CAFile is the PEM file of the lab's CA.
func (s *Server) CAFile() string { return s.pki.caFile }

// Info is lab.json's azure object.
func (s *Server) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Info{
		ResourceManager:   s.URL(),
		Audience:          Audience,
		Authority:         s.URL(),
		CAFile:            s.pki.caFile,
		TenantID:          s.st.TenantID,
		ClientID:          s.st.ClientID,
		ClientSecret:      s.st.ClientSecret,
		SubscriptionID:    s.st.SubscriptionID,
		ResourceGroup:     ResourceGroup,
		ManagedInstance:   s.cfg.ManagedInstance,
		ManagedInstanceID: s.miID(),
		SubnetID:          s.subnetID(),
		NSGID:             s.nsgID(MINSGName),
		SQLServerNSGID:    s.nsgID(SQLServerNSGName),
	}
}

// Status is the server's part of `milink lab status`.
type Status struct {
	URL      string   `json:"url"`
	Counters Counters `json:"counters"`
	Faults   Faults   `json:"faults"`
}

// Status reports the counters and the armed faults.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{URL: s.URL(), Counters: s.st.Counters, Faults: s.faults.get()}
}

// saveLocked persists the state after a change; a failure is logged (the
// change stands in memory, as the catalogue's would).
func (s *Server) saveLocked() {
	if err := s.st.save(s.cfg.Dir); err != nil {
		s.cfg.Logf("lab Azure: save %s: %v", statePath(s.cfg.Dir), err)
	}
}

func (s *Server) miID() string {
	return s.rgID() + "/providers/Microsoft.Sql/managedInstances/" + s.cfg.ManagedInstance
}
func (s *Server) rgID() string {
	return "/subscriptions/" + s.st.SubscriptionID + "/resourceGroups/" + ResourceGroup
}
func (s *Server) vnetID() string {
	return s.rgID() + "/providers/Microsoft.Network/virtualNetworks/" + VNetName
}
func (s *Server) subnetID() string { return s.vnetID() + "/subnets/" + MISubnetName }
func (s *Server) nsgID(name string) string {
	return s.rgID() + "/providers/Microsoft.Network/networkSecurityGroups/" + name
}

// subnetPrefix is the managed instance's subnet: its one address.
func (s *Server) subnetPrefix() string {
	if strings.Contains(s.cfg.ManagedInstanceAddress, ":") {
		return s.cfg.ManagedInstanceAddress + "/128"
	}
	return s.cfg.ManagedInstanceAddress + "/32"
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
}

// DirName is the Azure directory inside a lab directory.
const DirName = "azure"

// DefaultDir is where a lab directory keeps its Azure.
func DefaultDir(labDir string) string { return filepath.Join(labDir, DirName) }

var errNoImport = errors.New("the lab has no managed instance to import certificates into")
