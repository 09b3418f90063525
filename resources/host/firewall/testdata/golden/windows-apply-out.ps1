$ErrorActionPreference = 'Stop'
$name = 'milink-sql01-out'
$existing = @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)
foreach ($r in $existing) {
    if ([string]$r.Group -cne 'milink') { throw "Windows Firewall already has a rule named $name in the group '$($r.Group)', which milink did not create: rename it, or give milink's rule another name" }
}
$existing | Remove-NetFirewallRule
New-NetFirewallRule -Name $name -DisplayName $name -Group 'milink' -Direction Outbound -Action Allow -Enabled True -Profile Any -Protocol TCP -RemotePort @('5022', '11000-11999') -RemoteAddress @('10.0.0.0/24') | Out-Null
