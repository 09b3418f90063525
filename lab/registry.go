package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// registryFile is the simulated Windows registry of a Windows-profile
// instance (registry.json in its directory). Only the values SQL Server reads
// at startup and that sys.dm_server_registry shows live here.
type registryFile struct {
	Values []registryEntry `json:"values"`
}

type registryEntry struct {
	Key  string `json:"key"`  // HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters
	Name string `json:"name"` // SQLArg0, HADR_Enabled
	Type string `json:"type"` // REG_SZ or REG_DWORD
	Data string `json:"data"` // the value as text; DWORDs in decimal
}

// instanceID is the registry name of an instance for a product version:
// MSSQL15.MSSQLSERVER for the default instance of 15.0.x (2019),
// MSSQL15.SALES for the named instance SALES.
func instanceID(productVersion string, instance ...string) string {
	major, _, _ := strings.Cut(productVersion, ".")
	if major == "" {
		major = "15"
	}
	name := "MSSQLSERVER"
	if len(instance) > 0 && instance[0] != "" {
		name = strings.ToUpper(instance[0])
	}
	return "MSSQL" + major + "." + name
}

func registryRoot(productVersion string, instance ...string) string {
	return `HKLM\Software\Microsoft\Microsoft SQL Server\` + instanceID(productVersion, instance...)
}

// windowsInstanceDir is the instance's directory below Program Files.
func windowsInstanceDir(productVersion string, instance ...string) string {
	return `C:\Program Files\Microsoft SQL Server\` + instanceID(productVersion, instance...) + `\MSSQL`
}

// defaultRegistry is a freshly installed instance: the three startup
// parameters setup writes (-d, -e, -l), HADR off, and the version.
func defaultRegistry(productVersion string, instance ...string) registryFile {
	root := registryRoot(productVersion, instance...)
	dir := windowsInstanceDir(productVersion, instance...)
	return registryFile{Values: []registryEntry{
		{Key: root + `\MSSQLServer\CurrentVersion`, Name: "CurrentVersion", Type: "REG_SZ", Data: productVersion},
		{Key: root + `\MSSQLServer\Parameters`, Name: "SQLArg0", Type: "REG_SZ", Data: `-d` + dir + `\DATA\master.mdf`},
		{Key: root + `\MSSQLServer\Parameters`, Name: "SQLArg1", Type: "REG_SZ", Data: `-e` + dir + `\Log\ERRORLOG`},
		{Key: root + `\MSSQLServer\Parameters`, Name: "SQLArg2", Type: "REG_SZ", Data: `-l` + dir + `\DATA\mastlog.ldf`},
		{Key: root + `\MSSQLServer\HADR`, Name: "HADR_Enabled", Type: "REG_DWORD", Data: "0"},
	}}
}

func loadRegistry(path string) (registryFile, error) {
	var r registryFile
	data, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read registry: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func writeRegistryIfMissing(path, productVersion string, instance ...string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	data, err := json.MarshalIndent(defaultRegistry(productVersion, instance...), "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o644)
}

var sqlArgName = regexp.MustCompile(`(?i)^SQLArg[0-9]+$`)

// startupFromRegistry is what SQL Server on Windows takes from the registry at
// start: a "-T<n>" startup parameter, also written "-T <n>" or "/T<n>"
// (upper-case T; "-t" is something else), enables trace flag n globally, and
// HADR_Enabled = 1 enables HADR. Registry key and value names are
// case-insensitive, as in Windows. milink reads SQLArgN the same way
// (resources/host); both pass the cases in
// resources/host/testdata/startup-cases.json.
func startupFromRegistry(r registryFile) (startupSettings, error) {
	var s startupSettings
	flags := map[int]bool{}
	for _, v := range r.Values {
		key := strings.ToLower(v.Key)
		switch {
		case strings.HasSuffix(key, `\mssqlserver\parameters`) && sqlArgName.MatchString(v.Name):
			arg := strings.TrimSpace(v.Data)
			if !strings.HasPrefix(arg, "-T") && !strings.HasPrefix(arg, "/T") {
				continue
			}
			f, ok := traceFlagNumber(strings.TrimSpace(arg[2:]))
			if !ok {
				return s, fmt.Errorf("registry %s %s = %q: not a trace flag (1-32767)", v.Key, v.Name, v.Data)
			}
			flags[f] = true
		case strings.HasSuffix(key, `\mssqlserver\hadr`) && strings.EqualFold(v.Name, "HADR_Enabled"):
			switch strings.TrimSpace(v.Data) {
			case "0", "":
				s.Hadr = false
			case "1":
				s.Hadr = true
			default:
				return s, fmt.Errorf("registry %s HADR_Enabled = %q: want 0 or 1", v.Key, v.Data)
			}
		}
	}
	s.TraceFlags = sortedFlags(flags)
	return s, nil
}
