$ErrorActionPreference = 'Stop'
$name = 'milink-sql01-in'
$out = @()
foreach ($r in @(Get-NetFirewallRule -Name $name -ErrorAction SilentlyContinue)) {
    $p = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $r
    $a = Get-NetFirewallAddressFilter -AssociatedNetFirewallRule $r
    $app = Get-NetFirewallApplicationFilter -AssociatedNetFirewallRule $r
    $svc = Get-NetFirewallServiceFilter -AssociatedNetFirewallRule $r
    $itf = Get-NetFirewallInterfaceTypeFilter -AssociatedNetFirewallRule $r
    $out += [pscustomobject]@{
        Name          = [string]$r.Name
        DisplayName   = [string]$r.DisplayName
        Group         = [string]$r.Group
        Description   = [string]$r.Description
        Enabled       = [string]$r.Enabled
        Direction     = [string]$r.Direction
        Action        = [string]$r.Action
        Profile       = [string]$r.Profile
        Protocol      = [string]$p.Protocol
        LocalPort     = @($p.LocalPort | ForEach-Object { [string]$_ })
        RemotePort    = @($p.RemotePort | ForEach-Object { [string]$_ })
        LocalAddress  = @($a.LocalAddress | ForEach-Object { [string]$_ })
        RemoteAddress = @($a.RemoteAddress | ForEach-Object { [string]$_ })
        Program       = [string]$app.Program
        Service       = [string]$svc.Service
        InterfaceType = [string]$itf.InterfaceType
    }
}
ConvertTo-Json -InputObject @($out) -Depth 3 -Compress
