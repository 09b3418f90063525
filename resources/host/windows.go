package host

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/milink/milink/resources"
)

// Windows is SQL Server on Windows: startup parameters are registry values
// SQLArg0..N, HADR is HADR_Enabled (set with Enable-SqlAlwaysOn when the
// SqlServer module is installed). Everything runs as PowerShell scripts
// through Transport (powershell.exe on this machine; over ssh later),
// except a configured restart_command, which runs as given. The scripts are
// the contract and are kept as golden files, since no Windows machine
// exists where milink is built.
type Windows struct {
	Instance       string   // named instance, "" for the default instance
	RestartCommand []string // when empty, RestartScript is run
	Transport      Transport
	// Runner, when set, runs the programs instead of Transport.
	// Transitional, see Runner.
	Runner Runner
	On     string
}

// ServiceName is the Windows service of the instance.
func (w *Windows) ServiceName() string {
	if w.Instance == "" || strings.EqualFold(w.Instance, "MSSQLSERVER") {
		return "MSSQLSERVER"
	}
	return "MSSQL$" + w.Instance
}

func (w *Windows) instanceName() string {
	if w.Instance == "" {
		return "MSSQLSERVER"
	}
	return w.Instance
}

// PSQuote is a PowerShell single-quoted string literal: nothing inside is
// expanded, and a quote is doubled. The firewall backend quotes with it too.
func PSQuote(s string) string {
	// PowerShell also treats the typographic single quotes as quotes.
	r := strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")
	return "'" + r.Replace(s) + "'"
}

func psIntArray(flags []int) string {
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = strconv.Itoa(f)
	}
	return "@(" + strings.Join(parts, ", ") + ")"
}

// prelude finds the instance's registry root from its name.
func (w *Windows) prelude() string {
	return fmt.Sprintf(`$ErrorActionPreference = 'Stop'
$instanceName = %s
$instanceId = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL').$instanceName
if (-not $instanceId) { throw "SQL Server instance $instanceName is not installed on $env:COMPUTERNAME" }
$root = "HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\$instanceId\MSSQLServer"
`, PSQuote(w.instanceName()))
}

// HadrScript sets HADR for the next start, without restarting.
func (w *Windows) HadrScript(on bool) string {
	cmdlet := "Enable-SqlAlwaysOn"
	if !on {
		cmdlet = "Disable-SqlAlwaysOn"
	}
	server := "$env:COMPUTERNAME"
	if w.instanceName() != "MSSQLSERVER" {
		server = `"$env:COMPUTERNAME\` + w.Instance + `"`
	}
	// Without the SqlServer module, HADR_Enabled is written directly, but
	// never to enable Always On on SQL Server 2016 (MSSQL13): there only
	// Enable-SqlAlwaysOn checks that the computer is a failover cluster
	// node, and a value the server cannot honour would be found only
	// after the restart.
	refuse2016 := ""
	if on {
		refuse2016 = `} elseif ($instanceId -like 'MSSQL13.*') {
    throw "Enabling Always On on SQL Server 2016 needs Enable-SqlAlwaysOn (Install-Module SqlServer), which checks that $env:COMPUTERNAME is a failover cluster node"
`
	}
	return w.prelude() + fmt.Sprintf(`if (Get-Command -Name %[1]s -ErrorAction SilentlyContinue) {
    %[1]s -ServerInstance %[2]s -NoServiceRestart -Force
%[4]s} else {
    if (-not (Test-Path -LiteralPath "$root\HADR")) { New-Item -Path "$root\HADR" | Out-Null }
    Set-ItemProperty -LiteralPath "$root\HADR" -Name 'HADR_Enabled' -Value %[3]s -Type DWord
}
`, cmdlet, server, boolDigit(on), refuse2016)
}

// ClusterNodeScript prints True when this computer is a Windows Server
// Failover Cluster node (its cluster service, ClusSvc, is running), else
// False. SQL Server 2016 enables Always On only there.
func (w *Windows) ClusterNodeScript() string {
	return `$ErrorActionPreference = 'Stop'
$svc = Get-Service -Name 'ClusSvc' -ErrorAction SilentlyContinue
if ($svc -and $svc.Status -eq 'Running') { 'True' } else { 'False' }
`
}

// ClusterNode runs ClusterNodeScript on the host.
func (w *Windows) ClusterNode(ctx context.Context) (bool, error) {
	out, err := transportOf(w.Transport, w.Runner).Exec(ctx, Command{Argv: PowerShellArgv(w.ClusterNodeScript())})
	if err != nil {
		if msg := trimOutput(out.Stderr); msg != "" {
			return false, fmt.Errorf("powershell.exe (looking for the cluster service): %w: %s", err, msg)
		}
		return false, fmt.Errorf("powershell.exe (looking for the cluster service): %w", err)
	}
	return strings.TrimSpace(string(out.Stdout)) == "True", nil
}

// TraceFlagsScript adds startup flags on as new SQLArgN values (-T, upper
// case) and removes off. A flag already there as -T1800, -T 1800 or /T1800
// is the same flag: it is not added again, and off removes it in whatever
// form. -d, -e and -l are never renumbered; removing a flag closes the gap
// by moving only the trace flag values after it.
func (w *Windows) TraceFlagsScript(on, off []int) string {
	var b strings.Builder
	b.WriteString(w.prelude())
	b.WriteString(`$params = "$root\Parameters"
$key = Get-Item -LiteralPath $params
$existing = @{}
foreach ($n in $key.GetValueNames()) { if ($n -match '^SQLArg\d+$') { $existing[$n] = [string]$key.GetValue($n) } }
# -T1800, -T 1800 and /T1800 are trace flag 1800 (upper-case T: -t is another option).
function Get-TraceFlag([string]$value) { if ($value -cmatch '^\s*[-/]T\s*([0-9]+)\s*$') { [int64]$Matches[1] } }
`)
	if off = SortedFlags(off); len(off) > 0 {
		fmt.Fprintf(&b, `foreach ($flag in %s) {
    foreach ($n in @($existing.Keys)) {
        if ((Get-TraceFlag $existing[$n]) -eq $flag) { Remove-ItemProperty -LiteralPath $params -Name $n; $existing.Remove($n) }
    }
}
$i = 0
foreach ($n in @($existing.Keys | Sort-Object { [int]$_.Substring(6) })) {
    $want = "SQLArg$i"
    if ($n -ne $want) {
        if ($null -eq (Get-TraceFlag $existing[$n])) { throw "refusing to renumber $n ($($existing[$n]))" }
        New-ItemProperty -LiteralPath $params -Name $want -Value $existing[$n] -PropertyType String | Out-Null
        Remove-ItemProperty -LiteralPath $params -Name $n
        $existing[$want] = $existing[$n]; $existing.Remove($n)
    }
    $i++
}
`, psIntArray(off))
	}
	if on = SortedFlags(on); len(on) > 0 {
		fmt.Fprintf(&b, `$next = 0
foreach ($n in $existing.Keys) { $k = [int]$n.Substring(6); if ($k -ge $next) { $next = $k + 1 } }
foreach ($flag in %s) {
    if (@($existing.Values | ForEach-Object { Get-TraceFlag $_ }) -notcontains $flag) {
        New-ItemProperty -LiteralPath $params -Name "SQLArg$next" -Value "-T$flag" -PropertyType String | Out-Null
        $existing["SQLArg$next"] = "-T$flag"
        $next++
    }
}
`, psIntArray(on))
	}
	return b.String()
}

// RestartScript restarts the service and starts again the dependent
// services (SQL Server Agent) that were running before.
func (w *Windows) RestartScript() string {
	return fmt.Sprintf(`$ErrorActionPreference = 'Stop'
$svc = Get-Service -Name %s
$dependents = @($svc.DependentServices | Where-Object { $_.Status -eq 'Running' })
Restart-Service -InputObject $svc -Force
foreach ($d in $dependents) { Start-Service -InputObject $d }
`, PSQuote(w.ServiceName()))
}

// PowerShellArgv runs script with powershell.exe.
func PowerShellArgv(script string) []string {
	return []string{"powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", script}
}

// scriptStep shows the script itself: that is what runs (as -Command).
func (w *Windows) scriptStep(script string) resources.Step {
	return resources.Step{Kind: "command", On: w.On, Text: script}
}

// HadrStep describes SetHadr.
func (w *Windows) HadrStep(on bool) resources.Step { return w.scriptStep(w.HadrScript(on)) }

// TraceFlagsStep describes SetTraceFlags.
func (w *Windows) TraceFlagsStep(on, off []int) resources.Step {
	return w.scriptStep(w.TraceFlagsScript(on, off))
}

// RestartStep describes Restart.
func (w *Windows) RestartStep() resources.Step {
	if len(w.RestartCommand) > 0 {
		return commandStep(w.On, w.RestartCommand)
	}
	return w.scriptStep(w.RestartScript())
}

// SetHadr configures HADR for the next start.
func (w *Windows) SetHadr(ctx context.Context, on bool) (resources.Step, error) {
	return w.HadrStep(on), w.runScript(ctx, "setting HADR_Enabled", w.HadrScript(on))
}

// SetTraceFlags changes the startup trace flags for the next start.
func (w *Windows) SetTraceFlags(ctx context.Context, on, off []int) (resources.Step, error) {
	return w.TraceFlagsStep(on, off), w.runScript(ctx, "setting startup parameters SQLArgN", w.TraceFlagsScript(on, off))
}

// RestartSummary is one line saying what Restart runs (the script itself is
// in the plan).
func (w *Windows) RestartSummary() string {
	if len(w.RestartCommand) > 0 {
		return "running " + CommandText(w.RestartCommand)
	}
	return "restarting the Windows service " + w.ServiceName() + " and its running dependents (Restart-Service)"
}

// Restart restarts the instance's service.
func (w *Windows) Restart(ctx context.Context) error {
	if len(w.RestartCommand) > 0 {
		return w.run(ctx, w.RestartCommand, CommandText(w.RestartCommand))
	}
	return w.runScript(ctx, "restarting "+w.ServiceName(), w.RestartScript())
}

// runScript names the script by what it does; the script itself is in the plan.
func (w *Windows) runScript(ctx context.Context, what, script string) error {
	return w.run(ctx, PowerShellArgv(script), "powershell.exe ("+what+")")
}

func (w *Windows) run(ctx context.Context, argv []string, what string) error {
	return execArgv(ctx, transportOf(w.Transport, w.Runner), argv, what)
}

// RegistryValue is one row of sys.dm_server_registry.
type RegistryValue struct{ Key, Name, Data string }

var sqlArgName = regexp.MustCompile(`^SQLArg\d+$`)

// traceFlagArg reads a startup parameter: -T1800, -T 1800 and /T1800 are
// all trace flag 1800 (ok); -T or /T followed by anything but a trace flag
// number is an error; anything else, -t1800 included, is another startup
// option (isFlag false). The T is upper case: Microsoft documents that a
// lower-case -t is accepted but sets other internal trace flags. The lab
// reads the registry the same way (lab/registry.go); both pass the cases in
// testdata/startup-cases.json.
func traceFlagArg(arg string) (flag int, isFlag bool, err error) {
	a := strings.TrimSpace(arg)
	if len(a) < 2 || (a[0] != '-' && a[0] != '/') || a[1] != 'T' {
		return 0, false, nil
	}
	f, ok := parseTraceFlag(strings.TrimSpace(a[2:]))
	if !ok {
		return 0, true, fmt.Errorf("%q is not a trace flag (1-32767)", arg)
	}
	return f, true, nil
}

// StartupFromRegistry reads the configured startup settings of a Windows
// instance from its sys.dm_server_registry rows.
func StartupFromRegistry(rows []RegistryValue) (Startup, error) {
	var s Startup
	var errs []error
	for _, r := range rows {
		switch {
		case r.Name == "HADR_Enabled":
			s.Hadr = strings.TrimSpace(r.Data) == "1"
		case sqlArgName.MatchString(r.Name):
			f, isFlag, err := traceFlagArg(r.Data)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s = %w", r.Name, err))
			} else if isFlag {
				s.TraceFlags = append(s.TraceFlags, f)
			}
		}
	}
	s.TraceFlags = SortedFlags(s.TraceFlags)
	return s, errors.Join(errs...)
}
