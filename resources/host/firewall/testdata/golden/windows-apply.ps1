$ErrorActionPreference = 'Stop'
$name = 'milink-sql01-in'
$existing = @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)
foreach ($r in $existing) {
    if ([string]$r.Group -cne 'milink') { throw "Windows Firewall already has a rule named $name in the group '$($r.Group)', which milink did not create: rename it, or give milink's rule another name" }
}
$existing | Remove-NetFirewallRule
New-NetFirewallRule -Name $name -DisplayName $name -Group 'milink' -Description 'Managed Instance link: from the managed instance' -Direction Inbound -Action Allow -Enabled True -Profile Any -Protocol TCP -LocalPort @('5022') -RemoteAddress @('10.0.0.0/24', 'fd00:1::/64') | Out-Null
