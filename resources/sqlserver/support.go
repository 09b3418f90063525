package sqlserver

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The support matrices for the link, as data. Sources:
// ../../shared/reference/sqlserver.md ("Support matrix for the link"), which
// cites the Managed Instance link overview (2026-03) and the preparation
// procedure of 2022-06-05. Add a matrix rather than edit an old one.

// SupportRow is one SQL Server version the link accepts.
type SupportRow struct {
	Major     int      // 13 = 2016 ... 17 = 2025
	Editions  []string // "Enterprise", "Standard", "Developer", "Evaluation"
	Platforms []string // "windows", "linux"
	MinBuild  string   // the lowest ProductVersion accepted
	MinName   string   // how people call that build: "CU20"
	Install   string   // what to install when below: "CU20 or later"
	// NeedsPack: the Azure Connect pack must also be installed (probe:
	// sys.sp_certificate_add_issuer exists).
	NeedsPack bool
	PackName  string
}

// Matrix is a dated support matrix.
type Matrix struct {
	Name string // "current", "2022-06"
	Date string // when the requirements were read from the documentation
	Rows []SupportRow
}

var standardEditions = []string{"Enterprise", "Standard", "Developer"}
var bothPlatforms = []string{"windows", "linux"}

// Matrices are the selectable matrices; "current" is the default.
var Matrices = map[string]Matrix{
	"current": {Name: "current", Date: "2026-03", Rows: []SupportRow{
		{Major: 17, Editions: standardEditions, Platforms: bothPlatforms, MinBuild: "17.0.1000.7", MinName: "RTM", Install: "RTM or later"},
		{Major: 16, Editions: standardEditions, Platforms: bothPlatforms, MinBuild: "16.0.1000.6", MinName: "RTM", Install: "RTM or later"},
		{Major: 15, Editions: standardEditions, Platforms: bothPlatforms, MinBuild: "15.0.4312.2", MinName: "CU20", Install: "CU20 or later"},
		{Major: 14, Editions: standardEditions, Platforms: bothPlatforms, MinBuild: "14.0.3490.10", MinName: "CU31 with the Azure Connect pack", Install: "CU31 and then the Azure Connect pack (14.0.3490.10) or later", NeedsPack: true, PackName: "the Azure Connect pack for SQL Server 2017 (14.0.3490.10)"},
		{Major: 13, Editions: standardEditions, Platforms: []string{"windows"}, MinBuild: "13.0.7000.253", MinName: "SP3 Azure Connect pack", Install: "SP3 and then the Azure Connect pack (13.0.7000.253) or later", NeedsPack: true, PackName: "the SQL Server 2016 SP3 Azure Connect pack (KB5014242)"},
	}},
	"2022-06": {Name: "2022-06", Date: "2022-06-05", Rows: []SupportRow{
		{Major: 16, Editions: []string{"Evaluation"}, Platforms: []string{"windows"}, MinBuild: "16.0.0.0", MinName: "preview", Install: "SQL Server 2022 Evaluation (preview)"},
		{Major: 15, Editions: []string{"Enterprise", "Developer"}, Platforms: []string{"windows"}, MinBuild: "15.0.4198.2", MinName: "CU15", Install: "CU15 (KB5008996) or later"},
		{Major: 13, Editions: standardEditions, Platforms: []string{"windows"}, MinBuild: "13.0.6300.2", MinName: "SP3", Install: "SP3 (KB5003279) or later", NeedsPack: true, PackName: "the SQL Server 2016 SP3 Azure Connect pack (KB5014242)"},
	}},
}

// versionName maps a major version to the product name.
var versionName = map[int]string{11: "2012", 12: "2014", 13: "2016", 14: "2017", 15: "2019", 16: "2022", 17: "2025"}

func productName(major int) string {
	if n, ok := versionName[major]; ok {
		return "SQL Server " + n
	}
	return fmt.Sprintf("SQL Server (version %d)", major)
}

// ParseBuild reads a build number, "15.0.4312.2", into its four parts.
func ParseBuild(v string) ([4]int, bool) {
	var b [4]int
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) != 4 {
		return b, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return b, false
		}
		b[i] = n
	}
	return b, true
}

func compareBuild(a, b [4]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// editionClass reduces SERVERPROPERTY('Edition') to the matrix's words.
func editionClass(edition string) string {
	switch {
	case strings.Contains(edition, "Evaluation"):
		return "Evaluation"
	case strings.HasPrefix(edition, "Enterprise"):
		return "Enterprise"
	case strings.HasPrefix(edition, "Developer"):
		return "Developer"
	case strings.HasPrefix(edition, "Standard"):
		return "Standard"
	case strings.HasPrefix(edition, "Express"):
		return "Express"
	case strings.HasPrefix(edition, "Web"):
		return "Web"
	}
	return edition
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orList renders "Enterprise, Standard or Developer".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func platformName(p string) string {
	if p == "linux" {
		return "Linux"
	}
	return "Windows"
}

// matrixFor returns the configured matrix (default "current").
func matrixFor(s *Server) (Matrix, bool) {
	name := s.SupportMatrix
	if name == "" {
		name = "current"
	}
	m, ok := Matrices[name]
	return m, ok
}

// Support decides whether the instance can be linked. The summary is for
// the plan's server line ("supported: SQL Server 2019 CU20 or later
// (current matrix, 2026-03)"); the error is the sentence naming what to
// install.
func Support(s *Server, o *Observed) (summary string, problem error) {
	m, ok := matrixFor(s)
	if !ok {
		return "", fmt.Errorf("unknown support matrix %q (use \"current\" or \"2022-06\")", s.SupportMatrix)
	}
	where := fmt.Sprintf("(%s matrix, %s)", m.Name, m.Date)
	if o.EngineEdition == 8 {
		return "", fmt.Errorf("the server is an Azure SQL Managed Instance (EngineEdition 8), not a SQL Server the link starts from")
	}
	build, ok := ParseBuild(o.ProductVersion)
	if !ok {
		return "", fmt.Errorf("cannot read the product version %q", o.ProductVersion)
	}
	name := productName(build[0])
	var row *SupportRow
	var majors []string
	for i := range m.Rows {
		majors = append(majors, strings.TrimPrefix(productName(m.Rows[i].Major), "SQL Server "))
		if m.Rows[i].Major == build[0] {
			row = &m.Rows[i]
		}
	}
	if row == nil {
		return "", fmt.Errorf("%s %s is not supported for the link %s; supported versions: %s", name, o.ProductVersion, where, orList(reverse(majors)))
	}
	if ed := editionClass(o.Edition); !contains(row.Editions, ed) {
		return "", fmt.Errorf("%s %s is not supported for the link %s; it needs %s edition", name, o.Edition, where, orList(row.Editions))
	}
	if o.Platform != "" && !contains(row.Platforms, o.Platform) {
		var ps []string
		for _, p := range row.Platforms {
			ps = append(ps, platformName(p))
		}
		return "", fmt.Errorf("%s on %s is not supported for the link %s; it is supported on %s only", name, platformName(o.Platform), where, orList(ps))
	}
	minBuild, _ := ParseBuild(row.MinBuild)
	if compareBuild(build, minBuild) < 0 {
		level := o.UpdateLevel
		if level == "" {
			level = o.ProductLevel
		}
		have := o.ProductVersion
		if level != "" {
			have += " (" + level + ")"
		}
		return "", fmt.Errorf("%s %s is below the minimum %s (%s) for the link; install %s", name, have, row.MinBuild, row.MinName, row.Install)
	}
	if row.NeedsPack && !o.AzureConnectPack {
		return "", fmt.Errorf("%s %s does not have the Azure Connect pack (sys.sp_certificate_add_issuer is missing); install %s", name, o.ProductVersion, row.PackName)
	}
	return fmt.Sprintf("supported: %s %s or later %s", name, row.MinName, where), nil
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}

// CheckSupport is Support as a diagnostic on the sql_server block, plus a
// check that host.os matches the platform the instance reports.
func CheckSupport(s *Server, o *Observed) hcl.Diagnostics {
	var diags hcl.Diagnostics
	rng := s.DeclRange
	if _, err := Support(s, o); err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported SQL Server version",
			Detail:   fmt.Sprintf("%s: %s.\n\n%s", s.Addr(), err, firstLine(o.Banner)),
			Subject:  &rng,
		})
	}
	if o.Clustered && !s.Host.RestartCommandSet {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "A failover cluster instance needs its own restart command",
			Detail:   fmt.Sprintf("%s is a failover cluster instance (SERVERPROPERTY('IsClustered') = 1): restarting its service directly would fight the cluster. Set host.restart_command to take its clustered role offline and online, as Microsoft documents: on Linux with Pacemaker, for example [\"sh\", \"-c\", \"pcs resource disable ag_cluster && pcs resource enable ag_cluster\"]; on Windows, Stop-ClusterGroup and Start-ClusterGroup for the SQL Server role.", s.Addr()),
			Subject:  &rng,
		})
	}
	if o.NoSystemd && !o.Clustered { // a cluster instance has its own message
		subj := s.Host.DeclRange
		if subj.Filename == "" {
			subj = s.DeclRange
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "The host has no systemd: a restart command is required",
			Detail: fmt.Sprintf("%s: the host does not run systemd (no /run/systemd/system), as in a container, so the default restart (systemctl restart mssql-server) would fail after the settings were changed. Set host.restart_command to what restarts SQL Server there, for example [\"docker\", \"restart\", \"mssql\"] run where the container is managed, or set restart = \"never\" and restart it yourself.",
				s.Addr()),
			Subject: &subj,
		})
	}
	if client := windowsClient(o.Banner); client != "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "A Windows client edition is not a supported host",
			Detail: fmt.Sprintf("%s: SQL Server runs on %s, a client edition of Windows; the link needs SQL Server on Windows Server (or Linux), where Always On availability groups are supported.",
				s.Addr(), client),
			Subject: &rng,
		})
	}
	if o.NotSysadmin {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "The login is not a sysadmin",
			Detail: fmt.Sprintf("%s: milink logs in as %q, which is not a member of the sysadmin server role; preparing the link (master key, Always On, trace flags, backups) needs it, as Microsoft's preparation guide says. Use a sysadmin login, or add this one: ALTER SERVER ROLE [sysadmin] ADD MEMBER %s;",
				s.Addr(), o.Login, QuoteIdent(o.Login)),
			Subject: &rng,
		})
	}
	want := s.Host.OS
	if want == "" {
		want = "linux"
	}
	if o.Platform != "" && o.Platform != want {
		subj := s.Host.DeclRange
		if subj.Filename == "" {
			subj = s.DeclRange
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Wrong host operating system",
			Detail:   fmt.Sprintf("%s: host.os is %q but the instance runs on %s; set os = %q in the host block.", s.Addr(), want, platformName(o.Platform), o.Platform),
			Subject:  &subj,
		})
	}
	return diags
}

// windowsClient names the client edition of Windows the banner's last
// line reports ("Windows 10 Pro"), or "" for Windows Server and Linux.
func windowsClient(banner string) string {
	_, after, ok := strings.Cut(banner, " on Windows ")
	if !ok {
		return ""
	}
	os := "Windows " + strings.TrimSpace(strings.SplitN(after, "<", 2)[0])
	if strings.HasPrefix(os, "Windows Server") {
		return ""
	}
	for _, v := range []string{"Windows 10 ", "Windows 11 ", "Windows 8", "Windows 7 "} {
		if strings.HasPrefix(os, v) {
			// "Windows 10 Pro 10.0": the edition without the version number.
			if k := strings.LastIndex(os, " "); k > 0 && strings.Count(os[k:], ".") > 0 {
				os = os[:k]
			}
			return os
		}
	}
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}
