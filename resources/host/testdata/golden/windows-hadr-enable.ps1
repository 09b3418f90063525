$ErrorActionPreference = 'Stop'
$instanceName = 'MSSQLSERVER'
$instanceId = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL').$instanceName
if (-not $instanceId) { throw "SQL Server instance $instanceName is not installed on $env:COMPUTERNAME" }
$root = "HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\$instanceId\MSSQLServer"
if (Get-Command -Name Enable-SqlAlwaysOn -ErrorAction SilentlyContinue) {
    Enable-SqlAlwaysOn -ServerInstance $env:COMPUTERNAME -NoServiceRestart -Force
} elseif ($instanceId -like 'MSSQL13.*') {
    throw "Enabling Always On on SQL Server 2016 needs Enable-SqlAlwaysOn (Install-Module SqlServer), which checks that $env:COMPUTERNAME is a failover cluster node"
} else {
    if (-not (Test-Path -LiteralPath "$root\HADR")) { New-Item -Path "$root\HADR" | Out-Null }
    Set-ItemProperty -LiteralPath "$root\HADR" -Name 'HADR_Enabled' -Value 1 -Type DWord
}
