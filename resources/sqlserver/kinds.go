package sqlserver

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// The kinds of this package, as the registry knows them. Each kind's
// behaviour lives in its own file (masterkey.go, hadr.go, traceflags.go,
// database.go); the target, sql_server, in target.go.
const (
	KindServer     = "sql_server"
	KindMasterKey  = "master_key"
	KindHadr       = "hadr"
	KindTraceFlags = "startup_trace_flags"
	KindDatabase   = "database"
	KindRestart    = resources.KindRestart
	KindVerify     = resources.KindVerify
)

// Kinds returns the SQL Server kinds, target first.
func Kinds() []*resources.Kind {
	return []*resources.Kind{serverKind, masterKeyKind, hadrKind, traceFlagsKind, databaseKind, firewallRuleKind}
}

var serverKind = &resources.Kind{
	Type: KindServer,
	Role: resources.RoleTarget,
	Schema: &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "address", Required: true}, {Name: "port"}, {Name: "instance"}, {Name: "encrypt"},
			{Name: "trust_server_certificate"}, {Name: "certificate"}, {Name: "host_name_in_certificate"},
			{Name: "connect_timeout"}, {Name: "statement_timeout"},
			{Name: "restart"}, {Name: "support_matrix"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "authentication"}, {Type: "host"}},
	},
	Decode:    decodeServer,
	Sensitive: []string{"password", "passphrase"},
	Impl:      opener{},
}

var authSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "method"}, {Name: "user"}, {Name: "password"},
		{Name: "protocol"}, {Name: "domain"}, {Name: "realm"}, {Name: "krb5_conf"}, {Name: "keytab"},
		{Name: "credential_cache"}, {Name: "spn"},
		{Name: "access_token"}, {Name: "tenant_id"}, {Name: "client_id"}, {Name: "client_secret"}, {Name: "authority"}, {Name: "ca_file"}},
}

var hostSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "os"}, {Name: "transport"}, {Name: "mssql_conf"}, {Name: "mssql_conf_tool"},
		{Name: "restart_command"}, {Name: "restart_timeout"}, {Name: "firewall_command_prefix"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "ssh"}},
}

var sshAttributes = []hcl.AttributeSchema{
	{Name: "address"}, {Name: "port"}, {Name: "user", Required: true},
	{Name: "private_key_files"}, {Name: "passphrase"}, {Name: "agent"}, {Name: "password"},
	{Name: "known_hosts_files"}, {Name: "sudo"}, {Name: "connect_timeout"}, {Name: "keepalive_interval"},
}

var sshSchema = &hcl.BodySchema{Attributes: sshAttributes, Blocks: []hcl.BlockHeaderSchema{{Type: "jump"}}}

var jumpSchema = &hcl.BodySchema{Attributes: sshAttributes}

func decodeServer(b *lang.Body, blk resources.BlockInfo) any {
	s := &Server{Name: blk.Name, DeclRange: b.Range}
	if blk.Key != "" {
		s.Name = strings.TrimPrefix(blk.Address, KindServer+".")
	}
	s.Address = b.Required("address", false, "in a sql_server block")
	s.Port = b.Int("port", DefaultPort, 1, 65535)
	s.Instance = b.Str("instance", "", false)
	s.Encrypt = b.OneOf("encrypt", "false", "disable", "false", "true", "strict")
	s.TrustServerCertificate = b.Bool("trust_server_certificate", false)
	s.Certificate = b.Str("certificate", "", false)
	s.HostNameInCertificate = b.Str("host_name_in_certificate", "", false)
	checkTLSSettings(b, s)
	s.ConnectTimeout = b.Duration("connect_timeout", DefaultConnectTimeout)
	s.StatementTimeout = b.Duration("statement_timeout", 0)
	s.Restart = b.OneOf("restart", "auto", "auto", "never")
	s.SupportMatrix = b.OneOf("support_matrix", "current", "current", "2022-06")

	one := func(typ string) *hcl.Block {
		blocks := b.Blocks(typ)
		for _, extra := range blocks[min(1, len(blocks)):] {
			b.Sink().Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", typ),
				Detail:   fmt.Sprintf("A sql_server block has at most one %s block; the first is at %s.", typ, blocks[0].DefRange),
				Subject:  extra.DefRange.Ptr(),
			})
		}
		if len(blocks) == 0 {
			return nil
		}
		return blocks[0]
	}
	if auth := one("authentication"); auth == nil {
		b.Sink().Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing authentication block",
			Detail:   fmt.Sprintf("sql_server %q needs an authentication block saying how milink logs in (method, user, password).", s.Name),
			Subject:  b.Range.Ptr(),
		})
	} else {
		s.Auth = decodeAuth(b.Sub(auth, authSchema))
	}
	s.Host = decodeHost(b, one("host"), s.Instance, s.Address)
	return s
}

func decodeAuth(b *lang.Body) Auth {
	a := Auth{Method: b.OneOf("method", "sql", "sql", "windows", "entra")}
	if a.Method != "windows" {
		for _, name := range windowsOnly {
			if attr := b.Attr(name); attr != nil {
				b.Errorf(attr, "Argument only for Windows authentication", "%q applies to method = \"windows\".", name)
			}
		}
	}
	if a.Method != "entra" {
		for _, name := range entraOnly {
			if attr := b.Attr(name); attr != nil {
				b.Errorf(attr, "Argument only for Microsoft Entra authentication", "%q applies to method = \"entra\".", name)
			}
		}
	}
	switch a.Method {
	case "windows":
		return decodeWindowsAuth(b, a)
	case "entra":
		return decodeEntraAuth(b, a)
	}
	a.User = b.Required("user", false, "for SQL authentication")
	a.Password = b.Required("password", true, "for SQL authentication")
	return a
}

func decodeHost(server *lang.Body, blk *hcl.Block, instance, address string) Host {
	h := Host{OS: "linux", Transport: "local", RestartTimeout: DefaultRestartTimeout, DeclRange: server.Range}
	if blk == nil {
		h.MssqlConf, h.MssqlConfTool = DefaultMssqlConf, DefaultMssqlConfTool
		h.RestartCommand = DefaultRestartCommand(h.OS, instance)
		return h
	}
	h.DeclRange = blk.DefRange
	b := server.Sub(blk, hostSchema)
	h.OS = b.OneOf("os", "linux", "linux", "windows")
	h.Transport = b.OneOf("transport", "local", "local", "ssh")
	blocks := b.Blocks("ssh")
	switch {
	case h.Transport == "ssh" && len(blocks) == 0:
		b.Errorf(b.Attr("transport"), "Missing ssh block",
			"transport = \"ssh\" needs an ssh block in the host block, saying at least which user to log in as.")
	case h.Transport != "ssh" && len(blocks) > 0:
		b.Sink().Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected ssh block",
			Detail: "An ssh block is used only with transport = \"ssh\".", Subject: blocks[0].DefRange.Ptr()})
	case len(blocks) > 0:
		h.SSH = decodeSSH(b.Sub(blocks[0], sshSchema), address, h.OS, true)
	}
	if h.OS == "linux" {
		h.MssqlConf = absPath(b, "mssql_conf", DefaultMssqlConf)
		h.MssqlConfTool = absPath(b, "mssql_conf_tool", DefaultMssqlConfTool)
	} else {
		for _, name := range []string{"mssql_conf", "mssql_conf_tool"} {
			if a := b.Attr(name); a != nil {
				b.Errorf(a, "Argument not valid on Windows", "%q applies to SQL Server on Linux; on Windows the settings live in the registry.", name)
			}
		}
	}
	h.RestartCommand = b.StrList("restart_command", DefaultRestartCommand(h.OS, instance))
	h.RestartCommandSet = b.Attr("restart_command") != nil
	if a := b.Attr("restart_command"); a != nil && !b.Unknown("restart_command") && len(h.RestartCommand) == 0 {
		b.Errorf(a, "Invalid restart command", "The restart command must name a program.")
		h.RestartCommand = DefaultRestartCommand(h.OS, instance)
	}
	h.RestartTimeout = b.Duration("restart_timeout", DefaultRestartTimeout)
	h.FirewallCommandPrefix = b.StrList("firewall_command_prefix", nil)
	if a := b.Attr("firewall_command_prefix"); a != nil && h.OS == "windows" {
		b.Errorf(a, "Argument not valid on Windows", "firewall_command_prefix applies to Linux firewalls (nft, iptables, ufw, firewall-cmd).")
	}
	return h
}

// absPath reads a path on a Linux host, which must be absolute: a relative
// one would be resolved against wherever milink happens to run.
// entraOnly are the authentication attributes of method = "entra".
var entraOnly = []string{"access_token", "tenant_id", "client_id", "client_secret", "authority", "ca_file"}

// decodeEntraAuth reads Microsoft Entra authentication: an access token,
// a service principal's secret, or the DefaultAzureCredential chain.
func decodeEntraAuth(b *lang.Body, a Auth) Auth {
	e := &a.Entra
	e.AccessToken = b.Str("access_token", "", true)
	e.TenantID = b.Str("tenant_id", "", false)
	e.ClientID = b.Str("client_id", "", false)
	e.ClientSecret = b.Str("client_secret", "", true)
	e.Authority = b.Str("authority", "", false)
	e.CAFile = b.Str("ca_file", "", false)
	for _, name := range []string{"user", "password"} {
		if attr := b.Attr(name); attr != nil {
			b.Errorf(attr, "Argument not valid with Microsoft Entra", "%q applies to SQL authentication; Entra logs in with a token (access_token, client_secret, or the DefaultAzureCredential chain).", name)
		}
	}
	if b.Unknown("client_secret") || b.Unknown("client_id") || b.Unknown("tenant_id") || b.Unknown("access_token") {
		return a
	}
	if b.Attr("access_token") != nil && b.Attr("client_secret") != nil {
		b.Errorf(b.Attr("client_secret"), "Access token and client secret", "Give an access token or a client secret, not both.")
	}
	if e.ClientSecret != "" && (e.ClientID == "" || e.TenantID == "") {
		b.Errorf(b.Attr("client_secret"), "Incomplete client credentials", "A client secret needs client_id and tenant_id.")
	}
	return a
}

// windowsOnly are the authentication attributes of method = "windows".
var windowsOnly = []string{"protocol", "domain", "realm", "krb5_conf", "keytab", "credential_cache", "spn"}

// decodeWindowsAuth reads Windows authentication: Kerberos (a ticket cache,
// a keytab, or a password) or NTLM (domain, user, password).
func decodeWindowsAuth(b *lang.Body, a Auth) Auth {
	a.Protocol = b.OneOf("protocol", "kerberos", "kerberos", "ntlm")
	a.User = b.Str("user", "", false)
	a.Password = b.Str("password", "", true)
	a.Domain = b.Str("domain", "", false)
	a.Realm = b.Str("realm", "", false)
	a.Krb5Conf = b.Str("krb5_conf", "", false)
	a.Keytab = b.Str("keytab", "", false)
	a.CredentialCache = b.Str("credential_cache", "", false)
	a.SPN = b.Str("spn", "", false)
	if a.Protocol == "ntlm" {
		if dom, user, ok := strings.Cut(a.User, `\`); ok && a.Domain == "" {
			a.Domain, a.User = dom, user
		}
		for _, name := range []string{"realm", "krb5_conf", "keytab", "credential_cache", "spn"} {
			if attr := b.Attr(name); attr != nil {
				b.Errorf(attr, "Kerberos argument with NTLM", "%q applies to protocol = \"kerberos\".", name)
			}
		}
		if b.Unknown("user") || b.Unknown("domain") {
			return a
		}
		if a.User == "" || a.Domain == "" {
			b.Errorf(b.Attr("user"), "Missing NTLM account",
				"NTLM needs the domain and the user: user = \"DOMAIN\\\\user\", or user and domain.")
		}
		if b.Attr("password") == nil {
			b.Errorf(nil, "Missing NTLM password", "NTLM needs the account's password (a sensitive variable).")
		}
		return a
	}
	if attr := b.Attr("domain"); attr != nil {
		b.Errorf(attr, "NTLM argument with Kerberos", "\"domain\" applies to protocol = \"ntlm\"; Kerberos takes user@REALM or realm.")
	}
	if b.Attr("keytab") != nil && b.Attr("user") == nil {
		b.Errorf(b.Attr("keytab"), "Keytab without a user", "A keytab logs in as a principal: give user (the principal's name, user@REALM or with realm).")
	}
	if b.Attr("keytab") != nil && b.Attr("password") != nil {
		b.Errorf(b.Attr("password"), "Keytab and password", "Give a keytab or a password for Kerberos, not both.")
	}
	return a
}

func absPath(b *lang.Body, name, def string) string {
	p := b.Str(name, def, false)
	if a := b.Attr(name); a != nil && !b.Unknown(name) && !path.IsAbs(p) {
		b.Errorf(a, "Invalid path", "The argument %q must be an absolute path on the SQL Server host; %s is not.", name, b.Quote(name, p))
		return def
	}
	return p
}

// serverAttr is the target attribute every SQL Server resource has.
var serverAttr = hcl.AttributeSchema{Name: "server", Required: true}

var masterKeyKind = &resources.Kind{
	Type: KindMasterKey,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		serverAttr, {Name: "password", Required: true}, {Name: "regenerate_on_password_change"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &MasterKey{Address: blk.Address, DeclRange: b.Range, Password: b.Required("password", true, "in a master_key block"),
			Regenerate: b.Bool("regenerate_on_password_change", false)}
	},
	TargetAttr: "server", TargetType: KindServer,
	OnePerTarget: true,
	Removal:      resources.RemoveForget,
	Sensitive:    []string{"password"},
	Impl:         masterKeyImpl{},
}

var hadrKind = &resources.Kind{
	Type: KindHadr,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		serverAttr, {Name: "enabled"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &Hadr{Address: blk.Address, DeclRange: b.Range, Enabled: b.Bool("enabled", true)}
	},
	TargetAttr: "server", TargetType: KindServer,
	OnePerTarget: true,
	Removal:      resources.RemoveForget,
	Phase:        resources.PhaseStartup,
	Impl:         hadrImpl{},
}

var traceFlagsKind = &resources.Kind{
	Type: KindTraceFlags,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		serverAttr, {Name: "flags"}, {Name: "exclusive"},
	}},
	Decode: func(b *lang.Body, blk resources.BlockInfo) any {
		return &StartupTraceFlags{Address: blk.Address, DeclRange: b.Range, Exclusive: b.Bool("exclusive", false), Flags: decodeFlags(b)}
	},
	TargetAttr: "server", TargetType: KindServer,
	OnePerTarget: true,
	Removal:      resources.RemoveForget,
	Phase:        resources.PhaseStartup,
	Impl:         traceFlagsImpl{},
}

// decodeFlags reads flags: each 1..32767, sorted and deduplicated.
func decodeFlags(b *lang.Body) []int {
	v, a, st := b.Value("flags", cty.List(cty.Number), false)
	if st != lang.Good {
		return append([]int(nil), DefaultTraceFlags...)
	}
	seen := map[int]bool{}
	var out []int
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		n, ok := 0, false
		if !e.IsNull() {
			n, ok = lang.WholeNumber(e.AsBigFloat(), 1, 32767)
		}
		if !ok {
			b.Errorf(a, "Invalid trace flag", "Each trace flag is a whole number from 1 to 32767.")
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// systemDatabases cannot be linked.
var systemDatabases = map[string]bool{"master": true, "model": true, "msdb": true, "tempdb": true}

var databaseKind = &resources.Kind{
	Type: KindDatabase,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{serverAttr, {Name: "name"}, {Name: "recovery_model"},
			{Name: "accelerated_database_recovery"}, {Name: "service_broker"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "backup"}},
	},
	Decode:     decodeDatabase,
	TargetAttr: "server", TargetType: KindServer,
	Identity: func(cfg any) string {
		if d, ok := cfg.(*Database); ok {
			return d.DatabaseName
		}
		return ""
	},
	Removal: resources.RemoveForget,
	Phase:   resources.PhaseAfterRestart,
	Impl:    databaseImpl{},
}

var backupSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "directory", Required: true}, {Name: "compression"}, {Name: "checksum"}},
}

func decodeDatabase(b *lang.Body, blk resources.BlockInfo) any {
	d := &Database{Address: blk.Address, DeclRange: b.Range}
	// An expanded block names its databases after its keys unless told
	// otherwise: database "app" { for_each = toset(["sales", "hr"]) }.
	def := blk.Name
	if blk.Key != "" {
		def = blk.Key
	}
	d.DatabaseName = b.Str("name", def, false)
	if a := b.Attr("name"); a != nil && !b.Unknown("name") {
		switch {
		case d.DatabaseName == "" || len([]rune(d.DatabaseName)) > 128:
			b.Errorf(a, "Invalid database name", "A database name has 1 to 128 characters.")
		case strings.IndexFunc(d.DatabaseName, unicode.IsControl) >= 0:
			b.Errorf(a, "Invalid database name", "A database name cannot hold control characters (such as NUL, a tab or a line break).")
		}
	}
	if b.Unknown("name") {
		d.DatabaseName = ""
	}
	d.RecoveryModel = b.Str("recovery_model", "FULL", false)
	if !strings.EqualFold(d.RecoveryModel, "FULL") {
		b.Errorf(b.Attr("recovery_model"), "Invalid recovery model",
			"The managed instance link needs databases in the FULL recovery model; %s is not accepted.", b.Quote("recovery_model", d.RecoveryModel))
	}
	d.RecoveryModel = "FULL"
	for name, dst := range map[string]**bool{"accelerated_database_recovery": &d.ADR, "service_broker": &d.ServiceBroker} {
		if b.Attr(name) != nil && !b.Unknown(name) {
			v := b.Bool(name, false)
			*dst = &v
		}
	}
	backups := b.Blocks("backup")
	for i, blk := range backups {
		if i > 0 {
			b.Sink().Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate backup block",
				Detail:   fmt.Sprintf("A database has at most one backup block; the first is at %s.", backups[0].DefRange),
				Subject:  blk.DefRange.Ptr(),
			})
			continue
		}
		bb := b.Sub(blk, backupSchema)
		d.Backup = &Backup{DeclRange: blk.DefRange}
		d.Backup.Directory = bb.Required("directory", false, "in a backup block")
		d.Backup.Compression = bb.Bool("compression", true)
		d.Backup.Checksum = bb.Bool("checksum", true)
	}
	if len(backups) == 0 && !b.Final {
		// Not an error: the backup may be taken outside milink. But
		// validate would otherwise say "Success!" for a configuration
		// whose link cannot be created as written.
		b.Sink().Append(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "No backup block",
			Detail:   fmt.Sprintf("%s has no backup block: the link needs a full, non-copy-only backup; milink will not take one. Add a backup block with a directory, or take that backup yourself before creating the link.", d.Address),
			Subject:  b.Range.Ptr(),
		})
	}
	if systemDatabases[strings.ToLower(d.DatabaseName)] {
		b.Sink().Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "System database",
			Detail:   fmt.Sprintf("The database %q is a system database; system databases (master, model, msdb, tempdb) cannot be replicated with the link.", d.DatabaseName),
			Subject:  b.Range.Ptr(),
		})
	}
	return d
}

// decodeSSH reads an ssh block (or a jump block inside it). The address
// defaults to the SQL Server's; the keys, the agent and a password are
// tried in that order; host keys are always checked, against
// known_hosts_files (default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).
func decodeSSH(b *lang.Body, serverAddress, os string, withJump bool) *host.SSHConfig {
	c := &host.SSHConfig{OS: os}
	c.Address = b.Str("address", serverAddress, false)
	c.Port = b.Int("port", 22, 1, 65535)
	c.User = b.Required("user", false, "in an ssh block")
	c.IdentityFiles = b.StrList("private_key_files", nil)
	c.Passphrase = b.Str("passphrase", "", true)
	c.Agent = b.Bool("agent", false)
	c.Password = b.Str("password", "", true)
	c.KnownHostsFiles = b.StrList("known_hosts_files", nil)
	c.Sudo = b.Bool("sudo", false)
	c.ConnectTimeout = b.Duration("connect_timeout", 15*time.Second)
	c.KeepaliveInterval = b.Duration("keepalive_interval", 5*time.Second)
	if !b.Unknown("private_key_files") && !b.Unknown("password") && !b.Unknown("agent") &&
		len(c.IdentityFiles) == 0 && c.Password == "" && !c.Agent && b.Attr("password") == nil {
		b.Errorf(nil, "No way to log in over SSH",
			"The ssh block needs private_key_files, agent = true, or a password (tried last).")
	}
	if withJump {
		if jumps := b.Blocks("jump"); len(jumps) > 0 {
			c.Jump = decodeSSH(b.Sub(jumps[0], jumpSchema), "", os, false)
			if c.Jump.Address == "" {
				b.Errorf(nil, "Missing jump host address", "A jump block needs the address of the jump host.")
			}
		}
	}
	return c
}

// checkTLSSettings rejects TLS settings that contradict each other: a
// certificate to verify against, or a name to check, mean nothing when
// encryption is disabled or the certificate is trusted blindly.
func checkTLSSettings(b *lang.Body, s *Server) {
	for _, name := range []string{"certificate", "host_name_in_certificate"} {
		a := b.Attr(name)
		if a == nil || b.Unknown(name) {
			continue
		}
		switch {
		case s.Encrypt == "disable":
			b.Errorf(a, "Certificate setting without encryption",
				"%s is set, but encrypt = \"disable\" means no TLS at all: set encrypt = \"true\" (or \"strict\"), or remove %s.", name, name)
		case s.TrustServerCertificate && s.Encrypt != "strict":
			b.Errorf(a, "Certificate setting with trust_server_certificate",
				"%s is set, but trust_server_certificate = true accepts any certificate without checking it: remove one of them (verifying is what %s is for).", name, name)
		}
	}
}
