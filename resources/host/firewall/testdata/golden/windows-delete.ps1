$ErrorActionPreference = 'Stop'
$name = 'milink-sql01-in'
foreach ($r in @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)) {
    if ([string]$r.Group -ceq 'milink') { Remove-NetFirewallRule -InputObject $r }
}
