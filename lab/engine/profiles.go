package engine

import "sort"

// Profile is the kind of SQL Server an instance pretends to be.
type Profile struct {
	Name             string // "2019-cu22-linux"
	Kind             string // "sqlserver" | "managed_instance"
	OS               string // "linux" | "windows"
	ProductVersion   string // "15.0.4322.2"
	ProductLevel     string // "RTM", "SP3"
	UpdateLevel      string // "CU22", or "" (SERVERPROPERTY returns NULL)
	Edition          string // "Developer Edition (64-bit)"
	EngineEdition    int    // 3 (Enterprise/Developer/Evaluation), 2 Standard, 8 managed instance
	Banner           string // @@VERSION, lines joined by "\n\t"
	AzureConnectPack bool   // OBJECT_ID(N'master.sys.sp_certificate_add_issuer') is not NULL
	Clustered        bool   // a failover cluster instance (SERVERPROPERTY('IsClustered') = 1)
}

// DefaultProfile is the profile of the lab's default SQL Server.
const DefaultProfile = "2019-cu22-linux"

// Build numbers and banners follow reference/sqlserver.md.
var profiles = []Profile{
	{
		Name: "2016-sp3-windows", Kind: "sqlserver", OS: "windows",
		ProductVersion: "13.0.6300.2", ProductLevel: "SP3", Edition: "Enterprise Edition: Core-based Licensing (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2016 (SP3) (KB5003279) - 13.0.6300.2 (X64)\n\tAug  7 2021 01:20:37\n\tCopyright (c) Microsoft Corporation\n\tEnterprise Edition: Core-based Licensing (64-bit) on Windows Server 2012 R2 Standard 6.3 <X64> (Build 9600: )\n",
	},
	{
		Name: "2016-azure-connect-windows", Kind: "sqlserver", OS: "windows",
		ProductVersion: "13.0.7000.253", ProductLevel: "SP3", Edition: "Enterprise Edition: Core-based Licensing (64-bit)", EngineEdition: 3,
		AzureConnectPack: true,
		Banner:           "Microsoft SQL Server 2016 (SP3-GDR) (KB5014242) - 13.0.7000.253 (X64)\n\tMay 17 2022 18:13:15\n\tCopyright (c) Microsoft Corporation\n\tEnterprise Edition: Core-based Licensing (64-bit) on Windows Server 2016 Datacenter 10.0 <X64> (Build 14393: ) (Hypervisor)\n",
	},
	{
		Name: "2019-cu15-linux", Kind: "sqlserver", OS: "linux",
		ProductVersion: "15.0.4198.2", ProductLevel: "RTM", UpdateLevel: "CU15", Edition: "Developer Edition (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2019 (RTM-CU15) (KB5008996) - 15.0.4198.2 (X64)\n\tJan 12 2022 22:30:08\n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (Ubuntu 20.04.3 LTS) <X64>",
	},
	{
		Name: "2019-cu20-windows", Kind: "sqlserver", OS: "windows",
		ProductVersion: "15.0.4312.2", ProductLevel: "RTM", UpdateLevel: "CU20", Edition: "Enterprise Edition: Core-based Licensing (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2019 (RTM-CU20) (KB5024276) - 15.0.4312.2 (X64)\n\tApr  1 2023 12:10:46\n\tCopyright (C) 2019 Microsoft Corporation\n\tEnterprise Edition: Core-based Licensing (64-bit) on Windows Server 2019 Datacenter 10.0 <X64> (Build 17763: ) (Hypervisor)\n",
	},
	{
		Name: "2019-cu22-linux", Kind: "sqlserver", OS: "linux",
		ProductVersion: "15.0.4322.2", ProductLevel: "RTM", UpdateLevel: "CU22", Edition: "Developer Edition (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n\tJul 27 2023 18:11:00\n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (Ubuntu 20.04.6 LTS) <X64>",
	},
	{
		Name: "2022-rtm-linux", Kind: "sqlserver", OS: "linux",
		ProductVersion: "16.0.1000.6", ProductLevel: "RTM", Edition: "Developer Edition (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)\n\tOct  8 2022 05:58:25\n\tCopyright (C) 2022 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (Ubuntu 22.04.1 LTS) <X64>",
	},
	{
		Name: "2022-cu13-windows", Kind: "sqlserver", OS: "windows",
		ProductVersion: "16.0.4125.3", ProductLevel: "RTM", UpdateLevel: "CU13", Edition: "Enterprise Edition: Core-based Licensing (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2022 (RTM-CU13) (KB5036432) - 16.0.4125.3 (X64)\n\tMay  1 2024 15:05:56\n\tCopyright (C) 2022 Microsoft Corporation\n\tEnterprise Edition: Core-based Licensing (64-bit) on Windows Server 2022 Datacenter 10.0 <X64> (Build 20348: ) (Hypervisor)\n",
	},
	{
		// A Windows client edition, which the link does not support as a host.
		Name: "2022-cu13-windows11", Kind: "sqlserver", OS: "windows",
		ProductVersion: "16.0.4125.3", ProductLevel: "RTM", UpdateLevel: "CU13", Edition: "Developer Edition (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2022 (RTM-CU13) (KB5036432) - 16.0.4125.3 (X64)\n\tMay  1 2024 15:05:56\n\tCopyright (C) 2022 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Windows 11 Pro 10.0 <X64> (Build 22631: ) (Hypervisor)\n",
	},
	{
		// A failover cluster instance: restarted through its cluster role.
		Name: "2019-cu22-linux-fci", Kind: "sqlserver", OS: "linux", Clustered: true,
		ProductVersion: "15.0.4322.2", ProductLevel: "RTM", UpdateLevel: "CU22", Edition: "Enterprise Edition: Core-based Licensing (64-bit)", EngineEdition: 3,
		Banner: "Microsoft SQL Server 2019 (RTM-CU22) (KB5027702) - 15.0.4322.2 (X64)\n\tJul 27 2023 18:11:00\n\tCopyright (C) 2019 Microsoft Corporation\n\tEnterprise Edition: Core-based Licensing (64-bit) on Linux (Red Hat Enterprise Linux 8.6 (Ootpa)) <X64>",
	},
	{
		Name: "managed-instance", Kind: "managed_instance", OS: "windows",
		ProductVersion: "12.0.2000.8", ProductLevel: "RTM", Edition: "SQL Azure", EngineEdition: 8,
		Banner: "Microsoft SQL Azure (RTM) - 12.0.2000.8 \n\tOct  2 2024 11:51:41 \n\tCopyright (C) 2022 Microsoft Corporation\n",
	},
}

// compatibilityLevel is the default database compatibility level of the
// profile's version (sys.databases.compatibility_level): 130 for 2016, 140
// for 2017, 150 for 2019, 160 for 2022. A managed instance is evergreen; new
// databases there get 160 today.
func (p Profile) compatibilityLevel() int64 {
	if p.EngineEdition == 8 {
		return 160
	}
	var major int64
	for _, r := range p.ProductVersion {
		if r < '0' || r > '9' {
			break
		}
		major = major*10 + int64(r-'0')
	}
	return major * 10
}

// Profiles lists the known profiles sorted by name.
func Profiles() []Profile {
	out := append([]Profile(nil), profiles...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupProfile finds a profile by name.
func LookupProfile(name string) (Profile, bool) {
	for _, p := range profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}
