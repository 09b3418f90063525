package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a decoded, validated environment: every variable resolved, every
// reference checked. Secrets are plain strings here; whoever prints or stores
// a Config must redact the fields documented as sensitive.
type Config struct {
	Dir        string
	SQLServers []*SQLServer

	// files and variables feed Hash; set by the loader.
	files     map[string][]byte
	variables map[string]Value
	// read holds the files read by file(), by path as written; they enter
	// Hash only as salted fingerprints since they may hold secrets.
	read map[string][]byte
}

// Value is a resolved variable: its value as a string rendering and whether
// it is sensitive.
type Value struct {
	Text      string
	Sensitive bool
}

// Server returns the sql_server block with that name, or nil.
func (c *Config) Server(name string) *SQLServer {
	for _, s := range c.SQLServers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SQLServer is a `sql_server "name"` block together with every resource
// block that refers to it (master_key, hadr, startup_trace_flags, database).
type SQLServer struct {
	Name                   string
	Address                string
	Port                   int    // default 1433
	Instance               string // named instance, "" for the default instance
	Auth                   Auth
	Encrypt                string // go-mssqldb "encrypt": "disable", "false" (default), "true", "strict"
	TrustServerCertificate bool
	ConnectTimeout         time.Duration // default 15s

	Host Host
	// Restart is "auto" (default: restart once when a setting needs it) or
	// "never" (configure, then stop and report the restart as pending).
	Restart string
	// SupportMatrix names the support matrix to check the version against:
	// "current" (default, the newest requirements) or "2022-06" (the
	// procedure's original matrix).
	SupportMatrix string

	MasterKey         *MasterKey
	Hadr              *Hadr
	StartupTraceFlags *StartupTraceFlags
	Databases         []*Database

	DependsOn []string // addresses, e.g. "sql_server.other"
	DeclRange hcl.Range
}

// Address of the block, "sql_server.NAME".
func (s *SQLServer) Addr() string { return "sql_server." + s.Name }

// Auth is how milink logs in. Only "sql" (SQL Server authentication) is
// implemented; "windows" (Kerberos/NTLM) and "entra" (Microsoft Entra ID)
// are reserved names that validate but fail at connect with a clear message.
type Auth struct {
	Method   string // "sql" (default), "windows", "entra"
	User     string
	Password string // sensitive
}

// Host is how milink reaches the machine SQL Server runs on.
type Host struct {
	OS        string // "linux" (default) or "windows"
	Transport string // "local" (default); "ssh" and "winrm" come later
	// MssqlConf is the path of mssql.conf (Linux), default /var/opt/mssql/mssql.conf.
	MssqlConf string
	// MssqlConfTool is the mssql-conf program, default /opt/mssql/bin/mssql-conf;
	// used when it exists, otherwise the file is edited in place.
	MssqlConfTool string
	// RestartCommand restarts SQL Server, default ["systemctl", "restart", "mssql-server"].
	RestartCommand []string
	// RestartTimeout bounds the wait for logins to succeed again, default 5m.
	RestartTimeout time.Duration
	DeclRange      hcl.Range
}

// MasterKey is a `master_key "name"` block: the database master key in master.
type MasterKey struct {
	Name      string
	Password  string // sensitive
	DependsOn []string
	DeclRange hcl.Range
}

// Addr is "master_key.NAME".
func (m *MasterKey) Addr() string { return "master_key." + m.Name }

// Hadr is a `hadr "name"` block: Always On availability groups.
type Hadr struct {
	Name      string
	Enabled   bool // default true
	DependsOn []string
	DeclRange hcl.Range
}

// Addr is "hadr.NAME".
func (h *Hadr) Addr() string { return "hadr." + h.Name }

// StartupTraceFlags is a `startup_trace_flags "name"` block.
type StartupTraceFlags struct {
	Name  string
	Flags []int // default [1800, 9567]; sorted, unique
	// Exclusive, when true, removes startup trace flags not listed.
	Exclusive bool
	DependsOn []string
	DeclRange hcl.Range
}

// Addr is "startup_trace_flags.NAME".
func (t *StartupTraceFlags) Addr() string { return "startup_trace_flags." + t.Name }

// Database is a `database "name"` block.
type Database struct {
	Name          string // block label, the address
	DatabaseName  string // the database on the server, default the label
	RecoveryModel string // "FULL" (the only value the link accepts)
	Backup        *Backup
	DependsOn     []string
	DeclRange     hcl.Range
}

// Addr is "database.NAME".
func (d *Database) Addr() string { return "database." + d.Name }

// Backup is the full backup a database needs before it can be linked.
type Backup struct {
	Directory   string // on the SQL Server host
	Compression bool   // default true
	Checksum    bool   // default true
	DeclRange   hcl.Range
}

// Hash identifies the configuration for a saved plan: the files' contents
// and the variables' values, sensitive values entering only as salted
// fingerprints (the salt comes from the state), never as themselves.
// Implemented in hash.go.
