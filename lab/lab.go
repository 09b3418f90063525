// Package lab runs the simulated environment milink is tested against: a
// SQL Server (sql01) and a managed instance (mi01), each an engine instance
// behind a real TDS server on its own loopback address, with their files in
// a lab directory (./.milink-lab by default).
package lab

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/milink/milink/lab/arm"
	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/lab/tds"
)

// Defaults of a lab.
const (
	DefaultDir     = ".milink-lab"
	DefaultAddress = "127.0.0.2"
	DefaultPort    = 1433
	Login          = "sa"
)

// Names of the lab's servers.
const (
	SQLServerName       = "sql01"
	ManagedInstanceName = "mi01"
	managedProfileName  = "managed-instance"
)

// Config describes a lab. Zero values mean "as the lab in Dir was last
// started", and for a new lab the defaults.
type Config struct {
	Dir          string        // the lab directory; made absolute
	Profile      string        // sql01's profile (engine.Profiles)
	Address      string        // sql01's address; mi01 gets the next one
	Port         int           // the TDS port of both
	RestartDelay time.Duration // how long a restart refuses logins (DefaultRestartDelay)
	// Faults armed at start, by server name.
	Faults map[string]Faults
	// TLS settings by server name; a server missing here keeps the
	// setting lab.json recorded, and a new one gets the zero TLS (a
	// self-signed certificate, encryption offered, not forced).
	TLS map[string]TLS
	// Instance makes sql01 (a Windows profile) the named instance of that
	// name, found through a SQL Server Browser on UDP 1434. "" keeps
	// lab.json's setting (the default instance for a new lab).
	Instance string
	// WindowsAuth is a -windows-auth file (see WindowsAuth): sql01 then
	// accepts Windows authentication. "" keeps lab.json's setting.
	WindowsAuth string
	// Executable is the milink binary named in lab.json's restart_command;
	// "" means os.Executable().
	Executable string
	Logf       func(format string, args ...any)
	// LinkSpeed scales the managed instance link's clock against real
	// time: 0 is 1 (a 1 MB database seeds in about 2 s); a negative
	// value stops the clock, so that only LinkControl.Advance moves it.
	LinkSpeed float64
}

// Lab is the set of servers of one lab directory.
type Lab struct {
	dir     string
	servers []*Instance
	azure   *arm.Server
	file    File
	hostNet *hostNetwork // sql01's simulated host network; nil where unavailable
	link    *linkSim     // the managed instance link between sql01 and mi01 (link.go)
	browser *browser     // sql01's SQL Server Browser, for a named instance
}

// File is lab.json: what a milink configuration (or a test) needs to reach
// the lab's servers.
type File struct {
	Servers []ServerInfo `json:"servers"`
	// Azure is the lab's Azure Resource Manager and Entra (lab/arm).
	Azure *arm.Info `json:"azure,omitempty"`
	// WindowsAuth is the -windows-auth file sql01 was started with.
	WindowsAuth string `json:"windows_auth,omitempty"`
}

// ServerInfo is one server in lab.json.
type ServerInfo struct {
	Name            string   `json:"name"`
	Kind            string   `json:"kind"`
	Address         string   `json:"address"`
	Port            int      `json:"port"`
	User            string   `json:"user"`
	Password        string   `json:"password"`
	MSSQLConf       string   `json:"mssql_conf"`    // absolute; "" for servers that have none
	RegistryFile    string   `json:"registry_file"` // Windows profiles: the simulated registry; else ""
	RestartCommand  []string `json:"restart_command"`
	BackupDirectory string   `json:"backup_directory"` // server-side path; "" on a managed instance
	Profile         string   `json:"profile"`
	// HostFirewall says whether the lab simulates this server's host
	// firewall: a network namespace of its own whose nftables milink
	// reaches through FirewallCommandPrefix. NoHostFirewall says why not.
	HostFirewall          bool     `json:"host_firewall"`
	FirewallCommandPrefix []string `json:"firewall_command_prefix"`
	NoHostFirewall        string   `json:"no_host_firewall,omitempty"`
	// Instance is a named instance's name ("" for the default instance).
	Instance string `json:"instance,omitempty"`
	// Certificate is the PEM file of the server's TLS certificate, which a
	// client trusts to verify the server ("" when it has none: it cannot
	// encrypt). CertificateKey is its key's file (0600), for the lab.
	Certificate     string `json:"certificate"`
	CertificateKey  string `json:"certificate_key"`
	ForceEncryption bool   `json:"force_encryption"`
	// TDS8 says the server accepts TDS 8.0 (encrypt=strict): 2022 and
	// later, and the managed instance.
	TDS8 bool `json:"tds8"`
}

// Server returns the named server's entry.
func (f File) Server(name string) (ServerInfo, bool) {
	for _, s := range f.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return ServerInfo{}, false
}

// FilePath is where lab.json lives in a lab directory.
func FilePath(dir string) string { return filepath.Join(dir, "lab.json") }

// ReadFile reads a lab directory's lab.json.
func ReadFile(dir string) (File, error) {
	var f File
	data, err := os.ReadFile(FilePath(dir))
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%s: %w", FilePath(dir), err)
	}
	return f, nil
}

// nextAddress is the IPv4 address after addr (127.0.0.2 → 127.0.0.3).
func nextAddress(addr string) (string, error) {
	ip := net.ParseIP(addr).To4()
	if ip == nil {
		return "", fmt.Errorf("address %q is not an IPv4 address", addr)
	}
	next := make(net.IP, 4)
	copy(next, ip)
	for i := 3; i >= 0; i-- {
		next[i]++
		if next[i] != 0 {
			break
		}
	}
	return next.String(), nil
}

// ValidateConfig checks the fields of cfg that are set, without touching
// the lab directory: zero values mean "as before, or the default" and pass.
// `milink lab up` calls it first, so that a wrong flag is an error even when
// the lab is already up and would not use it.
func ValidateConfig(cfg Config) error {
	if cfg.Profile != "" {
		p, ok := engine.LookupProfile(cfg.Profile)
		if !ok {
			return fmt.Errorf("unknown profile %q (see \"milink lab profiles\")", cfg.Profile)
		}
		if p.Kind == KindManagedInstance {
			return fmt.Errorf("profile %q is a managed instance; sql01 needs a SQL Server profile", cfg.Profile)
		}
	}
	if cfg.Address != "" {
		const loopback = "the lab runs on loopback addresses (127.x.y.z)"
		ip := net.ParseIP(cfg.Address)
		if ip.To4() == nil || !ip.IsLoopback() {
			return fmt.Errorf("address %q: %s", cfg.Address, loopback)
		}
		// mi01 takes the next address, which must be loopback too.
		next, err := nextAddress(cfg.Address)
		if err != nil {
			return err
		}
		if !net.ParseIP(next).IsLoopback() {
			return fmt.Errorf("address %q: mi01 needs the next address, %s, and %s", cfg.Address, next, loopback)
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return fmt.Errorf("port %d is out of range (1-65535)", cfg.Port)
	}
	if cfg.Instance != "" {
		if !validInstanceName(cfg.Instance) {
			return fmt.Errorf("instance %q: a SQL Server instance name is 1 to 16 letters, digits, _ or $, starting with a letter or _", cfg.Instance)
		}
		if p, ok := engine.LookupProfile(cfg.Profile); ok && p.OS != "windows" {
			return fmt.Errorf("instance %q: SQL Server on Linux has only the default instance; use a Windows profile (see \"milink lab profiles\")", cfg.Instance)
		}
	}
	if cfg.RestartDelay < 0 {
		return fmt.Errorf("restart delay %s is negative", cfg.RestartDelay)
	}
	return nil
}

// resolve fills the zero values of cfg from the previous lab.json, then from
// the defaults. It refuses to switch sql01's profile under existing data: a
// catalogue seeded for one version would silently pose as another.
func resolve(cfg Config, prev File, havePrev bool) (Config, string, error) {
	password := ""
	if s, ok := prev.Server(SQLServerName); havePrev && ok {
		if cfg.Profile == "" {
			cfg.Profile = s.Profile
		} else if s.Profile != "" && s.Profile != cfg.Profile {
			if _, err := os.Stat(filepath.Join(cfg.Dir, SQLServerName, "data")); err == nil {
				return cfg, "", fmt.Errorf("the lab in %s was created with profile %s; remove the directory to start over with %s", cfg.Dir, s.Profile, cfg.Profile)
			}
		}
		if cfg.Address == "" {
			cfg.Address = s.Address
		}
		if cfg.Port == 0 {
			cfg.Port = s.Port
		}
		password = s.Password
		if cfg.WindowsAuth == "" {
			cfg.WindowsAuth = prev.WindowsAuth
		}
		if cfg.Instance == "" {
			cfg.Instance = s.Instance
		}
	}
	if cfg.Profile == "" {
		cfg.Profile = engine.DefaultProfile
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if password == "" {
		password = newPassword()
	}
	return cfg, password, nil
}

// validInstanceName: SQL Server's rules for an instance name (1 to 16
// characters; letters, digits, _ and $; not starting with a digit or $).
func validInstanceName(n string) bool {
	if len(n) < 1 || len(n) > 16 || strings.EqualFold(n, "MSSQLSERVER") || strings.EqualFold(n, "DEFAULT") {
		return false
	}
	for i, r := range n {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r == '_':
		case (r >= '0' && r <= '9') || r == '$':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Open prepares the lab directory (instance directories, password, lab.json)
// and opens its servers without starting them.
func Open(cfg Config) (*Lab, error) {
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	prev, err := ReadFile(dir)
	havePrev := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cfg, password, err := resolve(cfg, prev, havePrev)
	if err != nil {
		return nil, err
	}
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	sqlProfile, _ := engine.LookupProfile(cfg.Profile)
	miProfile, ok := engine.LookupProfile(managedProfileName)
	if !ok {
		return nil, fmt.Errorf("the engine has no %q profile", managedProfileName)
	}
	miAddress, err := nextAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	exe := cfg.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the milink executable: %w", err)
		}
	}
	if cfg.Instance != "" && sqlProfile.OS != "windows" {
		return nil, fmt.Errorf("instance %q: SQL Server on Linux has only the default instance; use a Windows profile", cfg.Instance)
	}
	specs := []InstanceConfig{
		{Name: SQLServerName, Kind: KindSQLServer, Profile: sqlProfile, Address: cfg.Address, Seed: "sql01", InstanceName: cfg.Instance},
		{Name: ManagedInstanceName, Kind: KindManagedInstance, Profile: miProfile, Address: miAddress, Seed: "managed-instance"},
	}
	l := &Lab{dir: dir}
	hostNet, hostNetErr := startHostNetwork()
	l.hostNet = hostNet
	if cfg.WindowsAuth != "" {
		if cfg.WindowsAuth, err = filepath.Abs(cfg.WindowsAuth); err != nil {
			return nil, err
		}
		logf := cfg.Logf
		if logf == nil {
			logf = func(string, ...any) {}
		}
		acc, logins, err := loadWindowsAuth(cfg.WindowsAuth, func(f string, a ...any) { logf("sql01: "+f, a...) })
		if err != nil {
			return nil, err
		}
		specs[0].SSPI, specs[0].WindowsLogins = acc, logins
		l.file.WindowsAuth = cfg.WindowsAuth
	}
	// mi01 takes Microsoft Entra tokens from the lab's Entra (opened
	// below), for its admin, the lab's application.
	specs[1].FedAuth = fedAuthFunc(func(token string) (string, *tds.Message) {
		if l.azure == nil {
			return "", sqlTokenRefusal(arm.ErrSQLTokenInvalid)
		}
		user, err := l.azure.ValidateSQLToken(token)
		if err != nil {
			return "", sqlTokenRefusal(err)
		}
		return user, nil
	})
	specs[1].EntraLogins = []string{arm.SQLAdmin}
	for _, s := range specs {
		s.Port = cfg.Port
		s.Dir = filepath.Join(dir, s.Name)
		s.Login, s.Password = Login, password
		s.RestartDelay = cfg.RestartDelay
		s.Faults = cfg.Faults[s.Name]
		s.Logf = cfg.Logf
		t, ok := cfg.TLS[s.Name]
		if prevInfo, had := prev.Server(s.Name); !ok && havePrev && had {
			t = tlsFromInfo(prevInfo, dir)
		}
		if s.CertFile, s.KeyFile, err = certFiles(t, dir, s.Name, s.Address); err != nil {
			l.Close()
			return nil, err
		}
		s.ForceEncryption = t.Force
		in, err := OpenInstance(s)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.servers = append(l.servers, in)
		l.file.Servers = append(l.file.Servers, ServerInfo{
			Name: s.Name, Kind: s.Kind, Address: s.Address, Port: s.Port,
			User: Login, Password: password,
			MSSQLConf: in.MSSQLConf(), RegistryFile: in.RegistryFile(),
			RestartCommand:  []string{exe, "lab", "restart", "-dir", dir, s.Name},
			BackupDirectory: in.BackupDirectory(),
			Profile:         s.Profile.Name,
			Certificate:     s.CertFile, CertificateKey: s.KeyFile,
			ForceEncryption: s.ForceEncryption,
			TDS8:            s.CertFile != "" && offersTDS8(s.Kind, s.Profile.ProductVersion),
			Instance:        s.InstanceName,
		})
		if s.Kind == KindSQLServer {
			info := &l.file.Servers[len(l.file.Servers)-1]
			if hostNet != nil {
				info.HostFirewall, info.FirewallCommandPrefix = true, hostNet.prefix
			} else {
				info.FirewallCommandPrefix, info.NoHostFirewall = []string{}, hostNetErr.Error()
			}
		}
	}
	mi, _ := l.Server(ManagedInstanceName)
	sql, _ := l.Server(SQLServerName)
	if l.link, err = newLinkSim(dir, sql, mi, cfg.LinkSpeed); err != nil {
		l.Close()
		return nil, err
	}
	l.azure, err = arm.Open(arm.Config{
		Dir:                    arm.DefaultDir(dir),
		ManagedInstance:        ManagedInstanceName,
		ManagedInstanceAddress: miAddress,
		ImportCertificate: func(der []byte, key *rsa.PrivateKey) error {
			_, err := mi.Engine().ImportCertificate(der, key)
			return err
		},
		Logf: cfg.Logf,
		Link: l.link,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	info := l.azure.Info()
	l.file.Azure = &info
	data, err := json.MarshalIndent(l.file, "", "  ")
	if err != nil {
		l.Close()
		return nil, err
	}
	// 0600: lab.json holds the sa password.
	if err := writeFileAtomic(FilePath(dir), append(data, '\n'), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("write lab.json: %w", err)
	}
	return l, nil
}

// Dir is the lab directory (absolute).
func (l *Lab) Dir() string { return l.dir }

// File is the content of lab.json.
func (l *Lab) File() File { return l.file }

// Servers are the lab's servers, sql01 first.
func (l *Lab) Servers() []*Instance { return l.servers }

// Server returns the named server.
func (l *Lab) Server(name string) (*Instance, bool) {
	for _, s := range l.servers {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// Start starts every server; if one fails, those started are stopped again.
func (l *Lab) Start() error {
	if in := l.servers[0]; in.cfg.InstanceName != "" && l.browser == nil {
		b, err := startBrowser(in.cfg.Address, in.cfg.Name, in.cfg.InstanceName, in.cfg.Profile.ProductVersion, in.cfg.Port)
		if err != nil {
			return err
		}
		l.browser = b
	}
	for i, s := range l.servers {
		if err := s.Start(); err != nil {
			for _, started := range l.servers[:i] {
				started.Close()
			}
			return err
		}
	}
	if l.azure != nil {
		l.azure.Start()
	}
	l.link.start()
	return nil
}

// Close stops every server; their data stays in the lab directory.
func (l *Lab) Close() {
	if l.link != nil {
		l.link.close()
	}
	if l.azure != nil {
		l.azure.Close()
	}
	for _, s := range l.servers {
		s.Close()
	}
	l.hostNet.close()
	l.hostNet = nil
	l.browser.close()
	l.browser = nil
}

// Link is the managed instance link simulation's control surface.
func (l *Lab) Link() LinkControl { return l.link }

// Azure is the lab's Azure (Entra and Resource Manager).
func (l *Lab) Azure() *arm.Server { return l.azure }

// Status is `milink lab status -json`.
type Status struct {
	Servers []ServerStatus `json:"servers"`
	Azure   *arm.Status    `json:"azure,omitempty"`
	// Links are the managed instance links (link.go), as ARM reports them.
	Links []arm.LinkStatus `json:"links,omitempty"`
}

// Status reports every server.
func (l *Lab) Status() Status {
	var st Status
	for _, s := range l.servers {
		st.Servers = append(st.Servers, s.Status())
	}
	if l.azure != nil {
		a := l.azure.Status()
		st.Azure = &a
	}
	if l.link != nil {
		st.Links = l.link.Links()
	}
	return st
}

// fedAuthFunc is a tds.FedAuth.
type fedAuthFunc func(token string) (string, *tds.Message)

func (f fedAuthFunc) Validate(token string) (string, *tds.Message) { return f(token) }

// sqlTokenRefusal is SQL Server's refusal of a federated login: 18456 for
// the token-identified principal, with the reason.
func sqlTokenRefusal(err error) *tds.Message {
	text := "Login failed for user '<token-identified principal>'."
	if errors.Is(err, arm.ErrSQLTokenExpired) {
		text += " Token is expired."
	}
	return &tds.Message{Number: 18456, State: 1, Class: 14, Text: text}
}
