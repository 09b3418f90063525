$ErrorActionPreference = 'Stop'
$instanceName = 'MSSQLSERVER'
$instanceId = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL').$instanceName
if (-not $instanceId) { throw "SQL Server instance $instanceName is not installed on $env:COMPUTERNAME" }
$root = "HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\$instanceId\MSSQLServer"
$params = "$root\Parameters"
$key = Get-Item -LiteralPath $params
$existing = @{}
foreach ($n in $key.GetValueNames()) { if ($n -match '^SQLArg\d+$') { $existing[$n] = [string]$key.GetValue($n) } }
$next = 0
foreach ($n in $existing.Keys) { $k = [int]$n.Substring(6); if ($k -ge $next) { $next = $k + 1 } }
foreach ($flag in @(1800, 9567)) {
    if (-not ($existing.Values -ccontains "-T$flag")) {
        New-ItemProperty -LiteralPath $params -Name "SQLArg$next" -Value "-T$flag" -PropertyType String | Out-Null
        $existing["SQLArg$next"] = "-T$flag"
        $next++
    }
}
