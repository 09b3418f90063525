package sqlserver

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources/host"
)

// Defaults of the sql_server block, in one place.
const (
	DefaultPort           = 1433
	DefaultConnectTimeout = 15 * time.Second
	DefaultRestartTimeout = 5 * time.Minute
	DefaultMssqlConf      = "/var/opt/mssql/mssql.conf"
	DefaultMssqlConfTool  = "/opt/mssql/bin/mssql-conf"
)

// DefaultTraceFlags are the startup trace flags the link needs.
var DefaultTraceFlags = []int{1800, 9567}

// DefaultRestartCommand is the command restarting SQL Server for an OS and
// instance name ("" for the default instance). On Windows it is empty: the
// host driver then runs its own script, which restarts the service and
// starts again the dependent services (SQL Server Agent) that were running;
// a bare Restart-Service -Force would leave them stopped.
func DefaultRestartCommand(os, instance string) []string {
	if os == "windows" {
		return nil
	}
	return []string{"systemctl", "restart", "mssql-server"}
}

// Server is a `sql_server "name"` block: the target every SQL Server kind
// acts through. The resource blocks on it are attached when the target is
// refreshed (the restart and its verification, and the scrubbing of
// secrets from errors, need to know them).
type Server struct {
	Name                   string
	Address                string
	Port                   int    // default 1433
	Instance               string // named instance, "" for the default instance
	Auth                   Auth
	Encrypt                string // go-mssqldb "encrypt": "disable", "false" (default), "true", "strict"
	TrustServerCertificate bool
	// Certificate is a PEM file of the certificate (or its CA) to verify
	// the server's against, instead of the system's roots.
	Certificate string
	// HostNameInCertificate is the name the server's certificate must
	// carry, when it is not the address milink connects to.
	HostNameInCertificate string
	ConnectTimeout        time.Duration // default 15s
	// StatementTimeout bounds one statement (a backup included); 0 is the
	// driver's default.
	StatementTimeout time.Duration

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
	// readTDE: a block on the instance needs the TDE protectors (TDEReader).
	readTDE bool

	DeclRange hcl.Range
}

// Addr of the block, "sql_server.NAME".
func (s *Server) Addr() string { return "sql_server." + s.Name }

// Auth is how milink logs in. Only "sql" (SQL Server authentication) is
// implemented; "windows" (Kerberos/NTLM) and "entra" (Microsoft Entra ID)
// are reserved names that validate reports as not yet supported.
type Auth struct {
	Method   string // "sql" (default), "windows", "entra"
	User     string
	Password string // sensitive
	// Windows authentication: Protocol is "kerberos" (default) or
	// "ntlm"; never one for the other.
	Protocol string
	// Domain is NTLM's domain (also given as DOMAIN\user).
	Domain string
	// Kerberos: Realm (default: user@REALM, else krb5.conf's
	// default_realm), Krb5Conf (default $KRB5_CONFIG, /etc/krb5.conf),
	// Keytab (a keytab for User: a pipeline's login), CredentialCache
	// (default $KRB5CCNAME: kinit's tickets), SPN (default
	// MSSQLSvc/ADDRESS:PORT, or MSSQLSvc/ADDRESS:INSTANCE).
	Realm, Krb5Conf, Keytab, CredentialCache, SPN string
	// Entra is Microsoft Entra authentication (method = "entra").
	Entra EntraAuth
}

// EntraAuth says how milink gets a Microsoft Entra access token for Azure
// SQL: a given token (AccessToken, sensitive), a service principal's
// secret (TenantID, ClientID, ClientSecret), or else azidentity's
// DefaultAzureCredential chain (environment, workload identity, managed
// identity, Azure CLI). Authority and CAFile point it at another Entra
// (a sovereign cloud, the lab's).
type EntraAuth struct {
	AccessToken, TenantID, ClientID, ClientSecret string
	Authority, CAFile                             string
}

// Host is how milink reaches the machine SQL Server runs on.
type Host struct {
	OS        string // "linux" (default) or "windows"
	Transport string // "local" (default) or "ssh"
	// MssqlConf is the path of mssql.conf (Linux), default /var/opt/mssql/mssql.conf.
	MssqlConf string
	// MssqlConfTool is the mssql-conf program, default /opt/mssql/bin/mssql-conf;
	// used when it exists, otherwise the file is edited in place.
	MssqlConfTool string
	// RestartCommand restarts SQL Server, default ["systemctl", "restart", "mssql-server"].
	RestartCommand []string
	// RestartCommandSet: the configuration names the restart command
	// (a failover cluster instance needs one of its own).
	RestartCommandSet bool
	// RestartTimeout bounds the wait for logins to succeed again, default 5m.
	RestartTimeout time.Duration
	// SSH is how the host is reached when Transport is "ssh".
	SSH *host.SSHConfig
	// FirewallCommandPrefix runs the firewall's commands (nft, iptables,
	// ...) through another command, for a SQL Server whose network is a
	// namespace of its own (ip netns exec NAME, nsenter): the lab's sql01.
	FirewallCommandPrefix []string
	DeclRange             hcl.Range
}

// MasterKey is a `master_key "name"` block: the database master key in master.
type MasterKey struct {
	Address  string
	Password string // sensitive
	// Regenerate, on a password change, regenerates the key (every key it
	// protects is decrypted and encrypted again) instead of adding the new
	// password beside the old one.
	Regenerate bool
	DeclRange  hcl.Range
}

// Addr is the block's address.
func (m *MasterKey) Addr() string { return m.Address }

// Hadr is a `hadr "name"` block: Always On availability groups.
type Hadr struct {
	Address   string
	Enabled   bool // default true
	DeclRange hcl.Range
}

// Addr is the block's address.
func (h *Hadr) Addr() string { return h.Address }

// StartupTraceFlags is a `startup_trace_flags "name"` block.
type StartupTraceFlags struct {
	Address string
	Flags   []int // default [1800, 9567]; sorted, unique
	// Exclusive, when true, removes startup trace flags not listed.
	Exclusive bool
	DeclRange hcl.Range
}

// Addr is the block's address.
func (t *StartupTraceFlags) Addr() string { return t.Address }

// Database is a `database "name"` block.
type Database struct {
	Address       string
	DatabaseName  string // the database on the server, default the block's label
	RecoveryModel string // "FULL" (the only value the link accepts)
	// ADR and ServiceBroker are optional settings; nil leaves them as
	// they are (dboptions.go).
	ADR           *bool
	ServiceBroker *bool
	Backup        *Backup
	DeclRange     hcl.Range
}

// Addr is the block's address.
func (d *Database) Addr() string { return d.Address }

// Backup is the full backup a database needs before it can be linked.
type Backup struct {
	Directory   string // on the SQL Server host
	Compression bool   // default true
	Checksum    bool   // default true
	DeclRange   hcl.Range
}
