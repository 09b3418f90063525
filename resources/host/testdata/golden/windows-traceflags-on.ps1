$ErrorActionPreference = 'Stop'
$instanceName = 'MSSQLSERVER'
$instanceId = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL').$instanceName
if (-not $instanceId) { throw "SQL Server instance $instanceName is not installed on $env:COMPUTERNAME" }
$root = "HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\$instanceId\MSSQLServer"
$params = "$root\Parameters"
$key = Get-Item -LiteralPath $params
$existing = @{}
foreach ($n in $key.GetValueNames()) { if ($n -match '^SQLArg\d+$') { $existing[$n] = [string]$key.GetValue($n) } }
# -T1800, -T 1800 and /T1800 are trace flag 1800 (upper-case T: -t is another option).
function Get-TraceFlag([string]$value) { if ($value -cmatch '^\s*[-/]T\s*([0-9]+)\s*$') { [int64]$Matches[1] } }
$next = 0
foreach ($n in $existing.Keys) { $k = [int]$n.Substring(6); if ($k -ge $next) { $next = $k + 1 } }
foreach ($flag in @(1800, 9567)) {
    if (@($existing.Values | ForEach-Object { Get-TraceFlag $_ }) -notcontains $flag) {
        New-ItemProperty -LiteralPath $params -Name "SQLArg$next" -Value "-T$flag" -PropertyType String | Out-Null
        $existing["SQLArg$next"] = "-T$flag"
        $next++
    }
}
